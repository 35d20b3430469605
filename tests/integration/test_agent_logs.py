"""Shipping a real process's output to a real (tiny) HTTP log server through the real client."""

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.logship import SpoolSettings
from runyard.models import LogBatch, LogLine
from runyard_agent.process import TaskProcess
from runyard_agent.task_log import TaskLog

TASK = "0" * 32
_PATH = re.compile(r"^/api/v1/tasks/([0-9a-f]{32})/logs$")


class LogServer(ThreadingHTTPServer):
    """Stores batches once per seq, like the real server; can fail requests on demand."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), LogHandler)
        self.lock = threading.Lock()
        self.batches: dict[int, LogBatch] = {}
        self.posts: list[int] = []
        self.fail_next = 0
        self.fail_after_storing = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def lines(self) -> list[LogLine]:
        with self.lock:
            return [line for seq in sorted(self.batches) for line in self.batches[seq].lines]


class LogHandler(BaseHTTPRequestHandler):
    server: LogServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not _PATH.match(self.path):
            return self._reply(404, {"error": "not_found", "detail": self.path})
        batch = LogBatch.model_validate_json(body)
        with self.server.lock:
            self.server.posts.append(batch.seq)
            if self.server.fail_next > 0:
                self.server.fail_next -= 1
                return self._reply(503, {"error": "unavailable", "detail": "down"})
            accepted = batch.seq not in self.server.batches
            self.server.batches.setdefault(batch.seq, batch)
            if self.server.fail_after_storing > 0:
                self.server.fail_after_storing -= 1
                return self._reply(500, {"error": "bug", "detail": "stored, then failed"})
        self._reply(200, {"accepted": accepted})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def log_server() -> Iterator[LogServer]:
    server = LogServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_task(
    log_server: LogServer, tmp_path: Path, code: str, spool: SpoolSettings | None = None
) -> tuple[TaskLog, int]:
    client = Client(log_server.url, None, retries=2, backoff=0.05)
    lost = threading.Event()
    task_log = TaskLog(
        lambda body: client.logs.append_encoded(TASK, body),
        "lease",
        on_lost=lost.set,
        on_auth=lambda exc: None,
        spool=spool,
        max_backoff_s=0.2,
    )
    script = tmp_path / "task.py"
    script.write_text(code)
    env = {"PATH": "/usr/bin", "PYTHONUNBUFFERED": "1"}
    process = TaskProcess.start([sys.executable, str(script)], tmp_path, env)
    task_log.attach(process)
    exit_code = process.wait()
    assert exit_code is not None
    assert task_log.finish(60)
    assert not lost.is_set()
    client.close()
    return task_log, exit_code


def test_100k_lines_arrive_complete_and_in_order(log_server: LogServer, tmp_path: Path) -> None:
    started = time.monotonic()
    code = "import sys\nfor i in range(100_000):\n    sys.stdout.write(f'line {i}\\n')\n"
    _, exit_code = run_task(log_server, tmp_path, code)
    elapsed = time.monotonic() - started
    lines = log_server.lines()
    assert exit_code == 0
    assert [line.text for line in lines] == [f"line {i}" for i in range(100_000)]
    assert sorted(log_server.batches) == list(range(len(log_server.batches)))
    assert elapsed < 30, f"100k lines took {elapsed:.1f}s"


def test_stdout_and_stderr_are_both_shipped(log_server: LogServer, tmp_path: Path) -> None:
    code = "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(4)\n"
    task_log, exit_code = run_task(log_server, tmp_path, code)
    assert exit_code == 4
    shipped = {(line.stream, line.text) for line in log_server.lines()}
    assert shipped == {("stdout", "to out"), ("stderr", "to err")}
    assert sorted(task_log.tail()) == ["to err", "to out"]


def test_progress_bar_is_shipped_about_once_per_flush(
    log_server: LogServer, tmp_path: Path
) -> None:
    code = (
        "import sys, time\n"
        "for i in range(101):\n"
        "    sys.stdout.write(f'\\r{i:3d}%|' + '#' * (i // 10)); sys.stdout.flush()\n"
        "    time.sleep(0.02)\n"
        "print()\nprint('done')\n"
    )
    run_task(log_server, tmp_path, code)
    texts = [line.text for line in log_server.lines()]
    assert texts[-2:] == ["100%|##########", "done"]
    assert 2 <= len(texts) <= 10, texts
    assert all("\r" not in text for text in texts)


def test_server_down_for_a_while_loses_nothing(log_server: LogServer, tmp_path: Path) -> None:
    log_server.fail_next = 6
    code = "import time\nfor i in range(50):\n    print(i)\n    time.sleep(0.01)\n"
    run_task(log_server, tmp_path, code)
    assert [line.text for line in log_server.lines()] == [str(i) for i in range(50)]
    assert log_server.posts[0] == 0 and log_server.posts.count(0) > 1


def test_retried_batch_is_stored_once(log_server: LogServer, tmp_path: Path) -> None:
    log_server.fail_after_storing = 1
    run_task(log_server, tmp_path, "print('once')\n")
    assert [line.text for line in log_server.lines()] == ["once"]
    assert log_server.posts.count(0) >= 2


def test_server_down_while_a_task_prints_spools_to_disk_and_loses_nothing(
    log_server: LogServer, tmp_path: Path
) -> None:
    log_server.fail_next = 10
    spool = SpoolSettings(directory=tmp_path / "spool", memory_bytes=64 * 1024)
    code = "for i in range(100_000):\n    print(i)\n"
    run_task(log_server, tmp_path, code, spool)
    assert [line.text for line in log_server.lines()] == [str(i) for i in range(100_000)]
    assert list((tmp_path / "spool").iterdir()) == []  # its files went with the task


def test_past_the_spool_quota_the_drop_count_goes_with_the_next_batch(
    log_server: LogServer, tmp_path: Path
) -> None:
    log_server.fail_next = 10
    spool = SpoolSettings(directory=tmp_path, quota_bytes=0, memory_bytes=64 * 1024)
    code = "for i in range(100_000):\n    print(i)\n"
    run_task(log_server, tmp_path, code, spool)
    texts = [line.text for line in log_server.lines()]
    dropped = sum(batch.dropped for batch in log_server.batches.values())
    notes = [text for text in texts if text.startswith("[runyard]")]
    assert dropped > 0 and len(texts) - len(notes) + dropped == 100_000
    assert sum(int(note.split()[1]) for note in notes) == dropped
    numbers = [int(text) for text in texts if not text.startswith("[")]
    assert numbers == sorted(numbers)
