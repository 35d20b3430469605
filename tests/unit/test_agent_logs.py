"""Reading a task's pipes into lines: splitting, \\r progress bars, the tail, big volumes.

The spool and sender under them are tested in test_logship.py."""

import fcntl
import os
import sys

import pytest

from runyard.models import LogBatch
from runyard_agent.logs import LineSplitter, LogBuffer, PipeReaders


def feed_all(splitter: LineSplitter, *chunks: bytes) -> list[str]:
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(splitter.feed(chunk))
    return lines


def test_lines_split_on_newline_across_chunks() -> None:
    splitter = LineSplitter()
    assert feed_all(splitter, b"one\ntw", b"o\n\nthr") == ["one", "two", ""]
    assert splitter.close() == ["thr"]


def test_utf8_split_across_chunks_and_bad_bytes_are_replaced() -> None:
    splitter = LineSplitter()
    assert feed_all(splitter, b"caf\xc3", b"\xa9\n", b"\xff\n") == ["café", "\ufffd"]


def test_carriage_return_rewrites_keep_the_last_state() -> None:
    splitter = LineSplitter()
    assert feed_all(splitter, b"\r 10%", b"\r 50%", b"\r100%\n") == ["100%"]


def test_progress_state_is_offered_once_per_change() -> None:
    splitter = LineSplitter()
    feed_all(splitter, b"\r 10%|#", b"\r 20%|##")
    assert splitter.progress() == " 20%|##"
    assert splitter.progress() is None
    feed_all(splitter, b"\r 30%|###")
    assert splitter.progress() == " 30%|###"


def test_progress_already_shipped_is_not_repeated_when_the_line_ends() -> None:
    splitter = LineSplitter()
    feed_all(splitter, b"epoch 1 50%\r")
    assert splitter.progress() == "epoch 1 50%"
    assert feed_all(splitter, b"\n", b"next\n") == ["next"]


def test_crlf_line_endings_are_plain_lines() -> None:
    assert feed_all(LineSplitter(), b"a\r\nb\r\n") == ["a", "b"]


def test_overlong_lines_are_cut() -> None:
    splitter = LineSplitter(max_chars=4)
    assert feed_all(splitter, b"abcdefghij\n") == ["abcd", "efgh", "ij"]
    assert feed_all(splitter, b"0123456789") == ["0123", "4567"]


def test_the_buffer_keeps_the_tail_of_task_output_but_not_agent_notes() -> None:
    buffer = LogBuffer(tail_lines=3)
    buffer.put_many("stdout", [f"line {i}" for i in range(10)])
    buffer.put("agent", "process ended")
    assert buffer.tail() == ["line 7", "line 8", "line 9"]


def test_a_ranks_lines_carry_its_prefix_but_its_tail_does_not() -> None:
    buffer = LogBuffer(tail_lines=2, prefix="[rank 2] ")
    buffer.put_many("stdout", ["loss 0.5", "loss 0.4"])
    buffer.put("agent", "process ended")
    buffer.finish()
    chunk = buffer.next_chunk(0)
    assert chunk is not None
    texts = [line.text for line in LogBatch.model_validate_json(chunk.body(0, None)).lines]
    assert texts == ["[rank 2] loss 0.5", "[rank 2] loss 0.4", "[rank 2] process ended"]
    assert buffer.tail() == ["loss 0.5", "loss 0.4"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_GETPIPE_SZ is Linux")
def test_many_lines_through_a_pipe_arrive_in_order_and_the_pipe_is_grown() -> None:
    buffer = LogBuffer()
    readers = PipeReaders(buffer)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        readers.attach("stdout", pipe)
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) >= 1024 * 1024
        with os.fdopen(write_end, "w") as out:
            for i in range(200_000):
                print(i, file=out)
        assert readers.join(30)
    buffer.finish()
    texts: list[str] = []
    while (chunk := buffer.next_chunk(0)) is not None:
        texts += [line.text for line in LogBatch.model_validate_json(chunk.body(0, None)).lines]
        buffer.release()
    assert texts == [str(i) for i in range(200_000)]
