"""Log lines and batches: splitting, \\r progress bars, bounded buffering, seq numbers, retries."""

import fcntl
import os
import sys
import threading
import time

import pytest

from runyard.errors import ServerUnreachable, StaleLeaseError, TooLargeError
from runyard.models import LogBatch
from runyard_agent.log_shipper import LogShipper
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


def test_full_buffer_drops_lines_and_says_so() -> None:
    buffer = LogBuffer(max_bytes=200)
    for i in range(10):
        buffer.put("stdout", f"line {i}")
    lines = buffer.take(100, 10_000)
    assert "lines dropped" in lines[0].text and lines[0].stream == "agent"
    assert [line.text for line in lines[1:]] == ["line 0", "line 1"]
    assert buffer.tail()[-1] == "line 9"


def test_lines_read_together_share_one_timestamp_and_one_wake_up() -> None:
    buffer = LogBuffer(wake_lines=10_000)
    woken: list[int] = []

    def waiter() -> None:
        with buffer.changed:
            buffer.changed.wait(5)
            woken.append(buffer.pending()[0])

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)
    buffer.put_many("stdout", [str(i) for i in range(5000)])
    thread.join(5)
    assert woken == [5000]
    lines = buffer.take(10_000, 10**9)
    assert [line.text for line in lines] == [str(i) for i in range(5000)]
    assert len({line.ts for line in lines}) == 1 and lines[0].stream == "stdout"
    assert buffer.pending() == (0, 0)
    assert buffer.tail() == [str(i) for i in range(4980, 5000)]


def test_lines_read_together_that_do_not_all_fit_are_dropped_and_counted() -> None:
    buffer = LogBuffer(max_bytes=3 * (64 + 6))
    buffer.put_many("stdout", [f"line {i}" for i in range(10)])
    lines = buffer.take(100, 10_000)
    assert lines[0].text.startswith("[runyard-agent] 7 lines dropped")
    assert [line.text for line in lines[1:]] == ["line 0", "line 1", "line 2"]
    assert buffer.pending() == (0, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_GETPIPE_SZ is Linux")
def test_many_lines_through_a_pipe_arrive_in_order_and_the_pipe_is_grown() -> None:
    buffer = LogBuffer(max_bytes=10**9)  # nothing ships here: room for all of them
    readers = PipeReaders(buffer)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        readers.attach("stdout", pipe)
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) >= 1024 * 1024
        with os.fdopen(write_end, "w") as out:
            for i in range(200_000):
                print(i, file=out)
        assert readers.join(30)
    texts = [line.text for line in buffer.take(2_000_000, 10**12)]
    assert texts == [str(i) for i in range(200_000)]


class Recorder:
    """A fake ``send`` that stores batches and can fail on demand."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.attempts: list[int] = []
        self.failures: list[Exception] = []
        self.times: list[float] = []

    def __call__(self, batch: LogBatch) -> object:
        self.attempts.append(batch.seq)
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(batch)
        self.times.append(time.monotonic())
        return None

    def texts(self) -> list[str]:
        return [line.text for batch in self.batches for line in batch.lines]


def make_shipper(send: Recorder, **kwargs: object) -> tuple[LogBuffer, LogShipper]:
    buffer = LogBuffer()
    shipper = LogShipper(buffer, send, "lease-1", **kwargs)  # type: ignore[arg-type]
    shipper.start()
    return buffer, shipper


def test_lines_ship_within_a_second_of_arriving() -> None:
    send = Recorder()
    buffer, shipper = make_shipper(send, flush_s=0.5)
    time.sleep(0.3)
    put_at = time.monotonic()
    buffer.put("stdout", "hello")
    deadline = time.monotonic() + 2
    while not send.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert send.texts() == ["hello"]
    assert send.times[0] - put_at <= 1.0
    assert send.batches[0].lease_token == "lease-1"
    assert shipper.finish(5)


def test_batches_are_cut_by_line_count_and_bytes_with_consecutive_seqs() -> None:
    send = Recorder()
    buffer, shipper = make_shipper(send, flush_s=5, max_lines=100, max_bytes=10_000)
    for i in range(1000):
        buffer.put("stdout", f"{i:05d}" + "x" * 200)
    assert shipper.finish(10)
    assert [b.seq for b in send.batches] == list(range(len(send.batches)))
    assert all(len(b.lines) <= 100 for b in send.batches)
    assert all(sum(len(line.text) + 64 for line in b.lines) <= 10_000 for b in send.batches)
    assert [t[:5] for t in send.texts()] == [f"{i:05d}" for i in range(1000)]


def test_unreachable_server_retries_the_same_seq() -> None:
    send = Recorder()
    send.failures = [ServerUnreachable("http://x", "refused", 3)] * 2
    buffer, shipper = make_shipper(send, flush_s=0.05, max_backoff_s=0.1)
    buffer.put("stdout", "a")
    assert shipper.finish(10)
    assert send.attempts == [0, 0, 0]
    assert [b.seq for b in send.batches] == [0]
    assert buffer.pending()[0] == 0 and shipper.next_seq == 1


def test_stale_lease_stops_shipping_and_reports_lost() -> None:
    send = Recorder()
    send.failures = [StaleLeaseError(409, "stale_lease", "gone")]
    lost = threading.Event()
    buffer, shipper = make_shipper(send, flush_s=0.05, on_lost=lost.set)
    buffer.put("stdout", "a")
    assert lost.wait(5)
    buffer.put("stdout", "b")
    shipper.finish(2)
    assert send.batches == []


def test_too_large_batch_is_split_in_halves() -> None:
    send = Recorder()
    send.failures = [TooLargeError(413, "too_large", "batch over limit")]
    buffer, shipper = make_shipper(send, flush_s=5)
    for i in range(10):
        buffer.put("stdout", str(i))
    assert shipper.finish(5)
    assert send.texts() == [str(i) for i in range(10)]
    assert [b.seq for b in send.batches] == [0, 1]


def test_finish_ships_what_is_left_at_once() -> None:
    send = Recorder()
    buffer, shipper = make_shipper(send, flush_s=30)
    buffer.put("stdout", "last words")
    started = time.monotonic()
    assert shipper.finish(5)
    assert time.monotonic() - started < 1
    assert send.texts() == ["last words"]
