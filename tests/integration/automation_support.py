"""Helpers of the schedule, trigger and webhook tests: a webhook receiver on loopback,
a server process with its jobs process on the test's Redis, and a task made to end."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.servers import ServerProcess


@dataclass
class Received:
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: records every POST; answers 500 to the first ``fail_first``
    attempts of each event id, then 200."""

    fail_first: int = 0
    got: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, received: Received) -> int:
        with self.lock:
            self.got.append(received)
            event = received.headers.get("x-runyard-event-id")
            tries = sum(1 for g in self.got if g.headers.get("x-runyard-event-id") == event)
        return 500 if tries <= self.fail_first else 200


@contextmanager
def receiver(fail_first: int = 0) -> Iterator[Receiver]:
    """A :class:`Receiver` listening on 127.0.0.1 until the block ends."""
    found = Receiver(fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            code = found.answer(Received(headers, body))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def server_on(redis_url: str, tmp_path: Path, *args: str) -> ServerProcess:
    """A started server (and its jobs process) on ``redis_url``: webhooks may reach
    loopback, schedules are checked every 0.1 s."""
    extra = ["--redis-url", redis_url, "--webhook-allow-private", "--schedule-tick", "0.1", *args]
    return ServerProcess(tmp_path / "data", extra, tmp_path / "server.log").start()


def make_task(api: str, project: str, queue: str = "q") -> str:
    """A queued task with code in ``project``; its id."""
    body = {
        "project": project,
        "name": "train",
        "queue": queue,
        "create_queue": True,
        "script": {"entry_point": "train.py"},
    }
    got = requests.post(f"{api}/tasks", json=body, timeout=10)
    got.raise_for_status()
    return str(got.json()["id"])


def end_task(api: str, task_id: str, status: str, queue: str = "q") -> None:
    """Claim the queued task ``task_id`` as a worker and report it ``status``."""
    worker = {"name": f"w-{task_id[:8]}", "queues": [queue], "resources": {}}
    worker_id = requests.post(f"{api}/workers", json=worker, timeout=10).json()["id"]
    claim = {"queues": [queue], "free": {}}
    got = requests.post(f"{api}/workers/{worker_id}/claim", json=claim, timeout=10).json()
    assert got["task"]["id"] == task_id, got
    report: dict[str, Any] = {"lease_token": got["lease_token"]}
    if status == "failed":
        report |= {"reason": "loss went to nan", "exit_code": 1}
    ended = requests.post(f"{api}/tasks/{task_id}/{status}", json=report, timeout=10)
    ended.raise_for_status()
