"""The SDK client against a real HTTP server on a free port that plays scripted responses."""

import json
import socket
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import runyard
import runyard.models
from runyard import config
from runyard.client import Client
from runyard.errors import (
    AuthError,
    ConflictError,
    InvalidError,
    NotFoundError,
    ServerError,
    ServerUnreachable,
    StaleLeaseError,
)
from runyard.models import ClaimRequest, Heartbeat, Resources, TaskCreate, TaskStatus

TASK_ID = "0123456789abcdef0123456789abcdef"


def task_json(status: str = "draft", **extra: Any) -> dict[str, Any]:
    return {"id": TASK_ID, "status": status, "created": "2024-05-01T12:00:00Z", **extra}


@dataclass
class Reply:
    """One scripted answer; ``drop`` closes the connection without answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float


class ScriptedServer:
    """Answers each request with the next scripted reply, keyed by ``"METHOD /path"``."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def script(self, route: str, *replies: Reply) -> None:
        self.replies.setdefault(route, []).extend(replies)

    def hits(self, route: str) -> list[Seen]:
        method, path = route.split(" ", 1)
        return [s for s in self.seen if s.method == method and s.path.split("?")[0] == path]

    def _next(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.seen.append(Seen(method, path, body, headers, time.monotonic()))
            route = f"{method} {path.split('?')[0].removeprefix('/api/v1')}"
            queue = self.replies.get(route, [])
            if len(queue) > 1:
                return queue.pop(0)
            return queue[0] if queue else Reply(500, {"error": "unscripted", "detail": route})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                reply = server._next(self.command, self.path, body, dict(self.headers))
                time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
                payload = data if isinstance(data, bytes) else data.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    with Client(server.url, token="s3cret", timeout=2.0, retries=3, backoff=0.01) as c:
        yield c


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- transport: retries and classification -------------------------------------------


def test_503_then_200_is_retried_and_succeeds(server: ScriptedServer, client: Client) -> None:
    server.script(f"GET /tasks/{TASK_ID}", Reply(503, {}), Reply(200, task_json()))
    assert client.tasks.get(TASK_ID).id == TASK_ID
    assert len(server.hits(f"GET /api/v1/tasks/{TASK_ID}")) == 2


def test_429_waits_for_retry_after(server: ScriptedServer, client: Client) -> None:
    server.script(
        f"GET /tasks/{TASK_ID}",
        Reply(429, {"error": "rate_limited", "detail": "slow down"}, {"Retry-After": "1"}),
        Reply(200, task_json()),
    )
    client.tasks.get(TASK_ID)
    first, second = server.hits(f"GET /api/v1/tasks/{TASK_ID}")
    assert second.at - first.at >= 0.9


def test_404_is_never_retried(server: ScriptedServer, client: Client) -> None:
    server.script(
        f"GET /tasks/{TASK_ID}", Reply(404, {"error": "not_found", "detail": "no task abc"})
    )
    with pytest.raises(NotFoundError) as caught:
        client.tasks.get(TASK_ID)
    assert (caught.value.status, caught.value.code, caught.value.detail) == (
        404,
        "not_found",
        "no task abc",
    )
    assert len(server.seen) == 1


def test_connection_refused_gives_server_unreachable_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ServerUnreachable) as caught:
        Client(url, retries=3, backoff=0.01).tasks.get(TASK_ID)
    assert time.monotonic() - started < 2
    assert url in str(caught.value)
    assert "RUNYARD_SERVER" in str(caught.value)
    assert caught.value.attempts == 4
    assert "connection refused" in str(caught.value)


def test_an_unknown_host_is_named_and_not_retried_as_ambiguous() -> None:
    with pytest.raises(ServerUnreachable) as caught:
        Client("http://runyard-test.invalid:8008", retries=1, backoff=0.01).tasks.get(TASK_ID)
    assert "host name not found" in str(caught.value)
    assert "may have been processed" not in str(caught.value)


def test_5xx_every_time_raises_server_error_after_all_retries(
    server: ScriptedServer, client: Client
) -> None:
    server.script("GET /queues", Reply(500, {"error": "internal", "detail": "boom"}))
    with pytest.raises(ServerError, match="boom"):
        client.queues.list()
    assert len(server.seen) == 4


def test_stale_lease_conflict_is_its_own_class(server: ScriptedServer, client: Client) -> None:
    server.script(
        f"POST /tasks/{TASK_ID}/completed",
        Reply(409, {"error": "stale_lease", "detail": "lease token is stale"}),
    )
    with pytest.raises(StaleLeaseError):
        client.tasks.report_completed(TASK_ID, "old-token")
    assert len(server.seen) == 1


def test_401_says_to_set_runyard_token(server: ScriptedServer, client: Client) -> None:
    server.script("GET /workers", Reply(401, {"error": "unauthorized", "detail": "bad token"}))
    with pytest.raises(AuthError, match="RUNYARD_TOKEN"):
        client.workers.list()


def test_bearer_token_and_user_agent_are_sent(server: ScriptedServer, client: Client) -> None:
    server.script("GET /queues", Reply(200, []))
    client.queues.list()
    headers = server.seen[0].headers
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["User-Agent"] == f"runyard/{runyard.__version__}"


def test_fastapi_validation_detail_is_readable(server: ScriptedServer, client: Client) -> None:
    detail = [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]
    server.script("POST /queues", Reply(422, {"error": "invalid", "detail": detail}))
    with pytest.raises(InvalidError, match=r"body\.name: field required"):
        client.queues.create("gpu")


def test_html_error_page_from_a_proxy_becomes_server_error(
    server: ScriptedServer, client: Client
) -> None:
    server.script("GET /queues", Reply(502, b"<html>Bad Gateway</html>"))
    with pytest.raises(ServerError, match="Bad Gateway") as caught:
        client.queues.list()
    assert caught.value.code == "http_502"


# --- non-idempotent requests ----------------------------------------------------------


def _idempotency_keys(seen: list[Seen]) -> list[str | None]:
    return [
        next((v for k, v in s.headers.items() if k.lower() == "idempotency-key"), None)
        for s in seen
    ]


def test_a_local_run_is_not_retried_when_the_request_may_have_landed(
    server: ScriptedServer, client: Client
) -> None:
    server.script("POST /local-runs", Reply(drop=True), Reply(500, {}))
    with pytest.raises(ServerUnreachable, match="may have been processed"):
        client.tasks.start_local(TaskCreate(name="t"))
    assert len(server.hits("POST /api/v1/local-runs")) == 1


def test_a_batch_create_is_not_retried_when_it_may_have_landed(
    server: ScriptedServer, client: Client
) -> None:
    server.script("POST /tasks:batch", Reply(drop=True), Reply(201, {"ids": [TASK_ID]}))
    with pytest.raises(ServerUnreachable, match="may have been processed"):
        client.tasks.create_batch([TaskCreate(name="t")])
    assert len(server.hits("POST /api/v1/tasks:batch")) == 1
    assert client.tasks.create_batch([TaskCreate(name="t")]).ids == [TASK_ID]


def test_a_create_is_retried_after_a_lost_answer_and_a_503_with_one_idempotency_key(
    server: ScriptedServer, client: Client
) -> None:
    server.script("POST /tasks", Reply(drop=True), Reply(503, {}), Reply(201, task_json()))
    assert client.tasks.create(TaskCreate(name="t")).id == TASK_ID
    server.script("POST /tasks", Reply(201, task_json()))
    client.tasks.create(TaskCreate(name="t"))

    first, second, third, next_call = _idempotency_keys(server.hits("POST /api/v1/tasks"))
    assert first is not None and len(first) == 32
    assert first == second == third != next_call


def test_a_clone_sends_the_key_given_on_every_attempt(
    server: ScriptedServer, client: Client
) -> None:
    server.script(f"POST /tasks/{TASK_ID}/clone", Reply(drop=True), Reply(201, task_json()))
    client.tasks.clone(TASK_ID, idempotency_key="mine-1")

    hits = server.hits(f"POST /api/v1/tasks/{TASK_ID}/clone")
    assert _idempotency_keys(hits) == ["mine-1", "mine-1"]


def test_get_is_retried_after_a_dropped_connection(server: ScriptedServer, client: Client) -> None:
    server.script(f"GET /tasks/{TASK_ID}", Reply(drop=True), Reply(200, task_json()))
    assert client.tasks.get(TASK_ID).id == TASK_ID


def test_enqueue_409_after_a_lost_answer_is_the_first_attempts_success(
    server: ScriptedServer, client: Client
) -> None:
    server.script(
        f"POST /tasks/{TASK_ID}/enqueue",
        Reply(drop=True),
        Reply(409, {"error": "conflict", "detail": "task is queued"}),
    )
    server.script(f"GET /tasks/{TASK_ID}", Reply(200, task_json("queued", queue="gpu")))
    assert client.tasks.enqueue(TASK_ID, "gpu").status is TaskStatus.QUEUED


def test_enqueue_409_on_first_attempt_is_raised(server: ScriptedServer, client: Client) -> None:
    server.script(
        f"POST /tasks/{TASK_ID}/enqueue",
        Reply(409, {"error": "conflict", "detail": "task is running"}),
    )
    with pytest.raises(ConflictError, match="task is running"):
        client.tasks.enqueue(TASK_ID, "gpu")
    assert not server.hits(f"GET /api/v1/tasks/{TASK_ID}")


# --- resources ------------------------------------------------------------------------


def test_iter_follows_cursors_and_passes_filters(server: ScriptedServer, client: Client) -> None:
    server.script(
        "GET /tasks",
        Reply(200, {"items": [task_json()], "next_cursor": "c1"}),
        Reply(200, {"items": [task_json("queued")], "next_cursor": None}),
    )
    statuses = [t.status for t in client.tasks.iter(project="vision", status=TaskStatus.QUEUED)]
    assert statuses == [TaskStatus.DRAFT, TaskStatus.QUEUED]
    first, second = (s.path for s in server.seen)
    assert "project=vision" in first and "status=queued" in first and "cursor" not in first
    assert "cursor=c1" in second


def test_follow_drains_the_log_after_the_task_ends(server: ScriptedServer, client: Client) -> None:
    def page(cursor: str, *texts: str) -> Reply:
        lines = [{"stream": "stdout", "text": t, "ts": 1.0} for t in texts]
        return Reply(200, {"lines": lines, "cursor": cursor})

    path = f"/tasks/{TASK_ID}/logs"
    server.script(f"GET {path}", page("1", "a"), page("1"), page("2", "b"), page("2"))
    server.script(
        f"GET /tasks/{TASK_ID}", Reply(200, task_json("running")), Reply(200, task_json("failed"))
    )
    lines = [line.text for line in client.logs.follow(TASK_ID, poll_s=0.01)]
    assert lines == ["a", "b"]
    assert "after=2" in server.hits(f"GET /api/v1{path}")[-1].path


def test_claim_read_timeout_outlasts_the_long_poll(server: ScriptedServer) -> None:
    server.script("POST /workers/w1/claim", Reply(200, {"task": None}, delay_s=1.5))
    with Client(server.url, timeout=1.0, retries=0) as c:
        claim = c.workers.claim("w1", ClaimRequest(queues=["gpu"], free=Resources(), wait_s=1.0))
    assert claim.task is None


def test_update_sends_only_the_fields_given(server: ScriptedServer, client: Client) -> None:
    server.script(f"PATCH /tasks/{TASK_ID}", Reply(200, task_json(name="new")))
    client.tasks.update(TASK_ID, runyard.models.TaskUpdate(name="new"))
    assert server.seen[0].body == {"name": "new"}


def test_delete_of_unknown_task_raises_not_found(server: ScriptedServer, client: Client) -> None:
    server.script(f"DELETE /tasks/{TASK_ID}", Reply(404, {"error": "not_found", "detail": "no"}))
    with pytest.raises(NotFoundError):
        client.tasks.delete(TASK_ID)


def test_health_is_false_without_a_server_and_true_with_one(server: ScriptedServer) -> None:
    server.script("GET /healthz", Reply(200, {"status": "ok"}))
    assert Client(server.url).health()
    assert not Client(f"http://127.0.0.1:{free_port()}", backoff=0.01).health()


# --- several replicas ------------------------------------------------------------------


def test_a_replica_that_refuses_is_passed_over_and_the_next_one_kept(
    server: ScriptedServer,
) -> None:
    server.script("GET /tasks/" + TASK_ID, Reply(200, task_json()))
    dead = f"http://127.0.0.1:{free_port()}"
    with Client(f"{dead}, {server.url}/", retries=2, backoff=0.01) as c:
        assert c.tasks.get(TASK_ID).id == TASK_ID
        assert c.tasks.get(TASK_ID).id == TASK_ID
    # The first call was refused by the dead replica, then answered; the second went
    # straight to the replica that answered.
    assert len(server.hits("GET /api/v1/tasks/" + TASK_ID)) == 2


def test_a_loop_sending_each_attempt_once_moves_to_the_next_replica_for_its_next_call(
    server: ScriptedServer,
) -> None:
    server.script("POST /workers/w1/heartbeat", Reply(200, {"lease_s": 30}))
    with Client(f"http://127.0.0.1:{free_port()},{server.url}", backoff=0.01) as c:
        with pytest.raises(ServerUnreachable):
            c.workers.heartbeat("w1", Heartbeat(), retries=0)
        assert c.workers.heartbeat("w1", Heartbeat(), retries=0).lease_s == 30


def test_a_5xx_answer_is_retried_on_the_same_replica(server: ScriptedServer) -> None:
    server.script(
        "GET /tasks/" + TASK_ID, Reply(503, {"error": "unavailable"}), Reply(200, task_json())
    )
    other = ScriptedServer()
    with other, Client(f"{server.url},{other.url}", retries=2, backoff=0.01) as c:
        assert c.tasks.get(TASK_ID).id == TASK_ID
    assert len(server.hits("GET /api/v1/tasks/" + TASK_ID)) == 2
    assert other.seen == []


def test_every_replica_down_names_them_all() -> None:
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    with pytest.raises(ServerUnreachable) as caught:
        Client(",".join(urls), retries=3, backoff=0.01).tasks.get(TASK_ID)
    assert ",".join(urls) in str(caught.value)
    assert caught.value.attempts == 4


# --- configuration and public surface --------------------------------------------------


def test_arguments_win_over_environment_then_defaults() -> None:
    env = {"RUNYARD_SERVER": "example.org:9000/", "RUNYARD_TOKEN": "t"}
    assert config.load(env=env) == config.Config("http://example.org:9000", "t")
    assert config.load("https://a.b/api/v1", "u", env=env).server == "https://a.b"
    assert config.load(env={}) == config.Config(config.DEFAULT_SERVER, None)
    replicas = {"RUNYARD_SERVER": "a:1/api/v1, https://b:2/,"}
    assert config.load(env=replicas).server == "http://a:1,https://b:2"


def test_public_names_are_importable() -> None:
    for module in (runyard, runyard.models):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert {"Client", "RunyardError", "ApiError", "ServerUnreachable"} <= set(runyard.__all__)


@pytest.mark.parametrize("module", [runyard, runyard.models], ids=lambda m: m.__name__)
def test_every_public_name_is_listed_in_all(module: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    lazy = set(getattr(module, "_LAZY", ()))  # imported on first use (runyard/__init__)
    assert public | lazy == set(module.__all__) - {"__version__"}
