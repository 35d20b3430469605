"""The shared log path: lines encoded as the server measures them, the spool (memory, disk,
quota, drop count) and the in-order sender with its seq numbers and retries."""

import json
import threading
import time
from pathlib import Path

import pytest

from runyard.errors import ServerUnreachable, StaleLeaseError, TooLargeError
from runyard.logship import Chunk, Sender, Spool, SpoolSettings, encode_line
from runyard.logship.sender import NotReady
from runyard.models import LogBatch, LogLine
from runyard.models.limits import MAX_LOG_BATCH_BYTES, MAX_LOG_LINES_PER_BATCH

NASTY = [
    "",
    "plain",
    'quote " and backslash \\ and slash /',
    "tab\tnew\nline\rcr\x00nul\x1besc\x7fdel",
    "naïve café ☃ 𝄞 emoji 🙂",
    "\u2028\u2029 separators",
    "lone surrogate \udc80 from surrogateescape",
    "\x01" * 500,
]


@pytest.mark.parametrize("text", NASTY)
def test_an_encoded_line_is_a_log_line_never_smaller_than_the_server_measures(text: str) -> None:
    encoded = encode_line("stderr", text, 1764421234.123456)
    line = LogLine.model_validate_json(encoded)
    assert line.stream == "stderr" and line.ts == 1764421234.123456
    if "\udc80" not in text:
        assert line.text == text
    # The server measures each line as len(LogLine.model_dump_json()).
    assert len(encoded) >= len(line.model_dump_json())


def test_a_chunk_body_is_a_log_batch_with_its_seq_token_and_drop_count() -> None:
    lines = [encode_line("stdout", f"l{i}", 1.5) for i in range(3)]
    plain = LogBatch.model_validate_json(Chunk(b",".join(lines), 3).body(7, None))
    assert (plain.seq, plain.lease_token, plain.dropped) == (7, None, 0)
    assert [line.text for line in plain.lines] == ["l0", "l1", "l2"]
    body = Chunk(b",".join(lines), 3, dropped=12).body(8, 'tok"en')
    assert b'"dropped"' in body
    batch = LogBatch.model_validate_json(body)
    assert (batch.seq, batch.lease_token, batch.dropped) == (8, 'tok"en', 12)
    first, second = Chunk(b",".join(lines), 3, dropped=12).halves()
    assert (first.count, first.dropped, second.count, second.dropped) == (1, 12, 2, 0)


def drain(spool: Spool) -> list[Chunk]:
    """Every chunk the spool holds, oldest first, released as a sender would."""
    spool.finish()
    chunks = []
    while (chunk := spool.next_chunk(0)) is not None:
        chunks.append(chunk)
        spool.release()
    return chunks


def texts(chunks: list[Chunk]) -> list[str]:
    return [item["text"] for c in chunks for item in json.loads(b"[" + c.lines + b"]")]


def test_chunks_hold_at_most_the_server_limits_in_line_count_and_measured_bytes() -> None:
    spool = Spool()
    spool.put_many("stdout", [f"{i:06d}" for i in range(25_000)])
    spool.put_many("stdout", ["\x01" * 16_000 for _ in range(100)])  # escapes: 6 bytes a char
    chunks = drain(spool)
    for chunk in chunks:
        batch = LogBatch.model_validate_json(chunk.body(0, None))
        assert len(batch.lines) == chunk.count <= MAX_LOG_LINES_PER_BATCH
        assert sum(len(line.model_dump_json()) for line in batch.lines) <= MAX_LOG_BATCH_BYTES
    assert texts(chunks)[:25_000] == [f"{i:06d}" for i in range(25_000)]
    assert len(texts(chunks)) == 25_100 and spool.pending() == 0


def test_lines_read_together_share_one_timestamp_and_one_wake_up() -> None:
    spool = Spool()
    woken: list[int] = []

    def waiter() -> None:
        with spool.changed:
            spool.changed.wait(5)
            woken.append(spool.pending())

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)
    spool.put_many("stdout", [str(i) for i in range(5000)])
    thread.join(5)
    assert woken == [5000]
    batch = LogBatch.model_validate_json(drain(spool)[0].body(0, None))
    assert len({line.ts for line in batch.lines}) == 1 and len(batch.lines) == 5000


def test_past_the_memory_budget_chunks_wait_on_disk_in_order_and_the_files_go(
    tmp_path: Path,
) -> None:
    spool = Spool(SpoolSettings(directory=tmp_path, memory_bytes=100_000), max_lines=1000)
    spool.put_many("stdout", [f"{i:07d} " + "x" * 50 for i in range(50_000)])
    assert spool.dropped == 0
    files = list(tmp_path.glob("runyard-spool-*/*"))
    assert files and sum(f.stat().st_size for f in files) > 2_000_000
    assert [t[:7] for t in texts(drain(spool))] == [f"{i:07d}" for i in range(50_000)]
    assert list(tmp_path.glob("runyard-spool-*/*")) == []
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_past_the_quota_lines_are_dropped_counted_and_noted_where(tmp_path: Path) -> None:
    settings = SpoolSettings(directory=tmp_path, quota_bytes=50_000, memory_bytes=50_000)
    spool = Spool(settings, max_lines=100)
    spool.put_many("stdout", [f"{i:05d} " + "x" * 40 for i in range(10_000)])
    assert 0 < spool.dropped < 10_000
    spool.put_many("stdout", ["after"])
    chunks = drain(spool)
    kept = texts(chunks)
    note = next(t for t in kept if t.startswith("[runyard]"))
    assert note.startswith(f"[runyard] {spool.dropped} lines dropped here")
    assert str(tmp_path) in note and "50000 bytes" in note
    assert sum(c.dropped for c in chunks) == spool.dropped
    numbered = [int(t[:5]) for t in kept if t[:5].isdigit()]
    assert numbered == sorted(numbered) and len(numbered) + spool.dropped == 10_000
    assert kept[-1] == "after"


def test_lines_dropped_at_the_very_end_are_still_noted() -> None:
    spool = Spool(SpoolSettings(quota_bytes=0, memory_bytes=0), max_lines=10)
    spool.put_many("stdout", [f"line {i}" for i in range(100)])
    chunks = drain(spool)
    assert spool.dropped == 100
    assert len(chunks) == 1 and chunks[0].dropped == 100
    assert texts(chunks)[0].startswith("[runyard] 100 lines dropped here")


class Recorder:
    """A fake ``post`` that stores batches and can fail on demand."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.attempts: list[int] = []
        self.failures: list[Exception] = []
        self.times: list[float] = []

    def __call__(self, chunk: Chunk, seq: int) -> object:
        self.attempts.append(seq)
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(LogBatch.model_validate_json(chunk.body(seq, "lease-1")))
        self.times.append(time.monotonic())
        return None

    def texts(self) -> list[str]:
        return [line.text for batch in self.batches for line in batch.lines]


def make_sender(post: Recorder, spool: Spool | None = None, **kwargs: object) -> Sender:
    sender = Sender(spool or Spool(), post, **kwargs)  # type: ignore[arg-type]
    sender.start()
    return sender


def test_lines_ship_within_a_second_of_arriving() -> None:
    post = Recorder()
    sender = make_sender(post, flush_s=0.5)
    time.sleep(0.3)
    put_at = time.monotonic()
    sender.spool.put("stdout", "hello")
    deadline = time.monotonic() + 2
    while not post.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert post.texts() == ["hello"]
    assert post.times[0] - put_at <= 1.0
    assert post.batches[0].lease_token == "lease-1"
    assert sender.finish(5)


def test_an_idle_sender_ticks_rarely_and_still_ships_a_new_line_at_once() -> None:
    post, ticks = Recorder(), []
    spool = Spool()
    sender = make_sender(
        post, spool, flush_s=0.1, idle_s=30.0, before_flush=lambda: ticks.append(1)
    )
    time.sleep(1.0)
    # One tick found nothing; since then it sleeps until a line comes, not every 0.1 s.
    assert len(ticks) <= 2
    put_at = time.monotonic()
    spool.put("stdout", "late line")
    deadline = time.monotonic() + 2
    while not post.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert post.texts() == ["late line"]
    assert post.times[0] - put_at <= 0.5
    assert sender.finish(5)


def test_batches_have_consecutive_seqs_and_keep_the_order() -> None:
    post = Recorder()
    sender = make_sender(post, Spool(max_lines=100, max_bytes=10_000), flush_s=5)
    for i in range(1000):
        sender.spool.put("stdout", f"{i:05d}" + "x" * 200)
    assert sender.finish(10)
    assert [b.seq for b in post.batches] == list(range(len(post.batches)))
    assert all(len(b.lines) <= 100 for b in post.batches)
    assert [t[:5] for t in post.texts()] == [f"{i:05d}" for i in range(1000)]


def test_unreachable_server_retries_the_same_seq_and_says_when_it_is_back() -> None:
    post = Recorder()
    post.failures = [ServerUnreachable("http://x", "refused", 3)] * 2
    downs: list[Exception] = []
    up = threading.Event()
    sender = make_sender(post, flush_s=0.05, max_backoff_s=0.1, on_down=downs.append, on_up=up.set)
    sender.spool.put("stdout", "a")
    assert sender.finish(10)
    assert post.attempts == [0, 0, 0]
    assert [b.seq for b in post.batches] == [0]
    assert len(downs) == 2 and up.is_set()
    assert sender.spool.pending() == 0 and sender.next_seq == 1


def test_not_ready_waits_quietly_for_the_record() -> None:
    post = Recorder()
    post.failures = [NotReady("not yet")] * 3
    downs: list[Exception] = []
    sender = make_sender(post, flush_s=0.05, on_down=downs.append)
    sender.spool.put("stdout", "a")
    assert sender.finish(5)
    assert post.texts() == ["a"] and downs == []


def test_stale_lease_stops_shipping_and_is_reported() -> None:
    post = Recorder()
    post.failures = [StaleLeaseError(409, "stale_lease", "gone")]
    fatal = threading.Event()
    sender = make_sender(post, flush_s=0.05, on_fatal=lambda exc: fatal.set())
    sender.spool.put("stdout", "a")
    assert fatal.wait(5)
    sender.spool.put("stdout", "b")
    assert not sender.finish(2)
    assert post.batches == []


def test_too_large_batch_is_split_in_halves() -> None:
    post = Recorder()
    post.failures = [TooLargeError(413, "too_large", "batch over limit")]
    sender = make_sender(post, flush_s=5)
    sender.spool.put_many("stdout", [str(i) for i in range(10)])
    assert sender.finish(5)
    assert post.texts() == [str(i) for i in range(10)]
    assert [b.seq for b in post.batches] == [0, 1]


def test_finish_ships_what_is_left_at_once() -> None:
    post = Recorder()
    sender = make_sender(post, flush_s=30)
    sender.spool.put("stdout", "last words")
    started = time.monotonic()
    assert sender.finish(5)
    assert time.monotonic() - started < 1
    assert post.texts() == ["last words"]


def test_finish_gives_up_after_a_stall_not_while_batches_keep_landing() -> None:
    post = Recorder()
    post.failures = [ServerUnreachable("http://x", "refused", 3)] * 1000
    sender = make_sender(post, flush_s=0.05, max_backoff_s=0.05)
    sender.spool.put("stdout", "never")
    started = time.monotonic()
    assert not sender.finish(0.5)
    assert 0.4 < time.monotonic() - started < 2


def test_a_spool_file_that_went_missing_is_noted_and_counted(tmp_path: Path) -> None:
    spool = Spool(SpoolSettings(directory=tmp_path, memory_bytes=0), max_lines=10)
    spool.put_many("stdout", [f"line {i}" for i in range(25)])
    for file in tmp_path.glob("runyard-spool-*/*"):
        file.unlink()
    chunks = drain(spool)
    assert texts(chunks)[0].startswith("[runyard] 10 lines lost here: the spool file")
    assert spool.dropped == 20 and sum(c.dropped for c in chunks) == 20
    assert texts(chunks)[-5:] == [f"line {i}" for i in range(20, 25)]
