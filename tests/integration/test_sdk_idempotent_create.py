"""The SDK retries a create whose answer was lost after the server made the task, and the
real server, seeing the same Idempotency-Key, answers that task instead of a second one.

A loopback proxy in front of a real ``runyard-server`` passes the first create through
and then, instead of the server's 201, answers 503 ``unavailable`` (a ``WAIT`` that timed
out) or closes the connection (an answer cut off by a failover).
"""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from runyard.client import Client
from runyard.models import CloneRequest, Script, TaskCreate
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


class LosingProxy:
    """Forwards every request to ``target``; the first answer to each POST route in
    ``lose`` is replaced by ``how`` ("503" or "drop") after the server made its change."""

    def __init__(self, target: str, how: str) -> None:
        self.target, self.how = target, how
        self.lost: set[str] = set()
        self.lose: set[str] = set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _first_time(self, route: str) -> bool:
        with self._lock:
            if route in self.lose and route not in self.lost:
                self.lost.add(route)
                return True
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, proxy.target + self.path, data=body, headers=headers, timeout=10
                )
                if proxy._first_time(f"{self.command} {self.path}"):
                    if proxy.how == "drop":
                        self.close_connection = True
                        return
                    self._reply(503, b'{"error": "unavailable", "detail": "not replicated"}')
                    return
                self._reply(answer.status_code, answer.content)

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> "LosingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(params=["503", "drop"])
def proxy(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[LosingProxy]:
    with LosingProxy(server.url, request.param) as losing:
        yield losing


def test_a_create_and_a_clone_whose_answers_were_lost_make_one_task_each(
    proxy: LosingProxy, server: ServerProcess
) -> None:
    body = TaskCreate(name="once", script=Script(entry_point="train.py"))
    with Client(proxy.url, retries=3, backoff=0.01) as client:
        proxy.lose.add("POST /api/v1/tasks")
        task = client.tasks.create(body)
        proxy.lose.add(f"POST /api/v1/tasks/{task.id}/clone")
        clone = client.tasks.clone(task.id, CloneRequest(name="twin"))

    assert proxy.lost == proxy.lose  # each first answer was lost, and retried
    with Client(server.url) as direct:
        listed = direct.tasks.list().items
    assert sorted((t.name, t.id) for t in listed) == sorted([("once", task.id), ("twin", clone.id)])
