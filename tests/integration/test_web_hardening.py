"""The web surface: security headers on every kind of response, a Host allow-list and
an Origin check that keep pages elsewhere from driving a tokenless server, the API docs
served from the server itself, tokens given by file, Redis on loopback only."""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from fastapi.testclient import TestClient

from runyard_server.api.security_headers import CONTENT_SECURITY_POLICY
from runyard_server.api_docs import STATIC_DIR
from runyard_server.cli import main as server_main
from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.main import create_app
from tests.servers import ServerProcess

FOREIGN = "http://attacker.example"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One tokenless server on loopback for the module."""
    root = tmp_path_factory.mktemp("hardening")
    server = ServerProcess(root / "data", ["--no-jobs"], root / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


def draft(api: str) -> str:
    response = requests.post(f"{api}/tasks", json={"name": "hardening"}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def queued(api: str) -> str:
    body = {
        "name": "hardening",
        "queue": "hq",
        "create_queue": True,
        "script": {"entry_point": "train.py"},
    }
    response = requests.post(f"{api}/tasks", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_hardened(response: requests.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.url} ({response.status_code})"
    assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where


def test_the_policy_allows_this_origin_only_and_no_inline_script() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY


def test_every_kind_of_response_carries_the_security_headers(open_server: ServerProcess) -> None:
    url, api = open_server.url, open_server.api
    task_id = draft(api)
    gets = {
        "api json": f"{api}/tasks/{task_id}",
        "api list": f"{api}/tasks",
        "probe": f"{api}/healthz",
        "not found": f"{api}/tasks/{'0' * 32}",
        "no such route": f"{url}/nothing-here",
        "validation error": f"{api}/tasks?limit=-1",
        "ui page": f"{url}/",
        "ui script": f"{url}/static/js/main.js",
        "ui style": f"{url}/static/css/app.css",
        "ui missing file": f"{url}/static/nothing.js",
        "docs page": f"{api}/docs",
        "docs script": f"{api}/docs/static/init.js",
        "swagger bundle": f"{api}/docs/static/swagger-ui/swagger-ui-bundle.js",
        "openapi": f"{api}/openapi.json",
        "metrics": f"{url}/metrics",
    }
    statuses = {}
    for kind, target in gets.items():
        response = requests.get(target, timeout=10)
        statuses[kind] = response.status_code
        assert_hardened(response)
    assert statuses["not found"] == statuses["no such route"] == statuses["ui missing file"] == 404
    assert statuses["validation error"] == 422
    assert all(s == 200 for k, s in statuses.items() if k not in {
        "not found", "no such route", "validation error", "ui missing file"
    })  # fmt: skip
    wrong_method = requests.delete(f"{api}/healthz", timeout=10)
    assert wrong_method.status_code == 405
    assert_hardened(wrong_method)
    # A draft never ends: read the stream's headers and hang up.
    with requests.get(f"{api}/tasks/{task_id}/logs/stream", stream=True, timeout=10) as sse:
        assert sse.headers["content-type"].startswith("text/event-stream")
        assert_hardened(sse)
    assert_hardened(requests.get(url, headers={"Host": "attacker.example"}, timeout=10))
    foreign = {"Origin": FOREIGN}
    assert_hardened(requests.post(f"{api}/tasks/{task_id}/abort", headers=foreign, timeout=10))


def test_the_api_docs_load_nothing_from_elsewhere(open_server: ServerProcess) -> None:
    page = requests.get(f"{open_server.api}/docs", timeout=10)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 4 and all(a.startswith("/") for a in assets), assets
    assert "<script>" not in page.text  # no inline script: the start-up code is a file
    for asset in assets:
        response = requests.get(open_server.url + asset, timeout=10)
        assert response.status_code == 200, asset
    bundle = requests.get(f"{open_server.api}/docs/static/swagger-ui/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 1_000_000


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "a:b:c", ""])
def test_a_tokenless_server_refuses_another_host_name(
    open_server: ServerProcess, host: str
) -> None:
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header keeps it."""
    host = host.format(port=open_server.port)
    for target in (f"{open_server.api}/tasks", f"{open_server.url}/"):
        response = requests.get(target, headers={"Host": host}, timeout=10)
        assert response.status_code == 400, (target, host)
        assert response.json()["error"] == "bad_request"
        assert "--allowed-hosts" in response.json()["detail"]


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST", "127.0.0.1", "[::1]"])
def test_a_tokenless_server_answers_to_loopback_names(
    open_server: ServerProcess, name: str
) -> None:
    headers = {"Host": f"{name}:{open_server.port}"}
    assert requests.get(f"{open_server.api}/tasks", headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": FOREIGN},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Referer": f"{FOREIGN}/page"},
    ],
)
def test_a_foreign_page_cannot_abort_or_dequeue(
    open_server: ServerProcess, headers: dict[str, str]
) -> None:
    api = open_server.api
    task_id = queued(api)
    for move in ("abort", "dequeue"):
        response = requests.post(f"{api}/tasks/{task_id}/{move}", headers=headers, timeout=10)
        assert response.status_code == 403, response.text
        assert "may not change anything" in response.json()["detail"]
    assert requests.get(f"{api}/tasks/{task_id}", timeout=10).json()["status"] == "queued"


def test_a_form_or_text_body_is_refused_whatever_its_origin(open_server: ServerProcess) -> None:
    """The body types a page may send elsewhere without the browser asking first."""
    api = open_server.api
    task_id = queued(api)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = requests.post(
            f"{api}/tasks/{task_id}/abort",
            data="{}",
            headers={"Content-Type": f"{content_type}; charset=utf-8"},
            timeout=10,
        )
        assert response.status_code == 415, (content_type, response.text)
        assert "application/json" in response.json()["detail"]
    assert requests.get(f"{api}/tasks/{task_id}", timeout=10).json()["status"] == "queued"


def test_the_servers_own_page_and_the_cli_still_change_things(open_server: ServerProcess) -> None:
    api = open_server.api
    own = {"Origin": open_server.url, "Content-Type": "application/json"}
    first, second = queued(api), queued(api)
    assert requests.post(f"{api}/tasks/{first}/dequeue", headers=own, timeout=10).ok
    assert requests.post(f"{api}/tasks/{second}/abort", timeout=10).ok  # no Origin: a CLI
    assert requests.get(f"{api}/tasks/{second}", timeout=10).json()["status"] == "aborted"


def test_allowed_hosts_are_answered_and_a_token_server_answers_any_name(redis_url: str) -> None:
    listed = Settings(redis_url=redis_url, allowed_hosts="runyard.internal, ci.lan")
    with TestClient(create_app(listed), base_url="http://runyard.internal") as api:
        assert api.get("/api/v1/tasks").status_code == 200
        assert api.get("/api/v1/tasks", headers={"Host": "other.lan"}).status_code == 400
        # A page on a listed name (behind a proxy, Host may differ) may change things.
        listed_page = api.post("/api/v1/tasks", json={}, headers={"Origin": "https://ci.lan"})
        assert listed_page.status_code == 201
        other = api.post("/api/v1/tasks", json={}, headers={"Origin": "https://evil.lan"})
        assert other.status_code == 403
    # Behind a proxy that rewrites Host; the bearer token is what a page cannot forge.
    tokens = Settings(redis_url=redis_url, tokens="user:user-secret-7")
    with TestClient(create_app(tokens), base_url="http://pod-10-0-0-7") as api:
        auth = {"Authorization": "Bearer user-secret-7"}
        assert api.get("/api/v1/tasks", headers=auth).status_code == 200


def test_tokens_from_a_file_and_not_on_the_command_line(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("# the team's tokens\nuser:file-user-secret\n\nagent:file-agent-secret\n")
    token_file.chmod(0o600)
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "data", ["--token-file", str(token_file)], log).start()
    try:
        assert server.process is not None
        argv = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert b"file-user-secret" not in argv
        tasks = f"{server.api}/tasks"
        assert requests.get(tasks, timeout=10).status_code == 401
        user = {"Authorization": "Bearer file-user-secret"}
        assert requests.get(tasks, headers=user, timeout=10).status_code == 200
        agent = {"Authorization": "Bearer file-agent-secret"}
        assert requests.get(f"{server.api}/workers", headers=agent, timeout=10).status_code == 200
    finally:
        server.stop()


def test_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_TOKENS", "user:env-user-secret,agent:env-agent-secret")
    assert [t.role for t in Settings().tokens] == ["user", "agent"]


def test_an_unreadable_or_bad_token_file_stops_the_server_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as missing:
        server_main(["--token-file", str(tmp_path / "absent")])
    assert missing.value.code == 2
    assert "cannot read token_file" in capsys.readouterr().err
    short = tmp_path / "short"
    short.write_text("user:short-secret-in-file\nagent:tiny\n")
    with pytest.raises(SystemExit):
        server_main(["--token-file", str(short)])
    err = capsys.readouterr().err
    assert "8 characters" in err and "short-secret-in-file" not in err


def test_the_embedded_redis_listens_on_loopback_only(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as embedded, redis.Redis.from_url(embedded.url) as r:
        assert r.config_get("bind")["bind"] == "127.0.0.1"
        assert r.config_get("protected-mode")["protected-mode"] == "yes"


def test_a_bug_answered_outside_the_middleware_carries_the_headers_too(redis_url: str) -> None:
    app = create_app(Settings(redis_url=redis_url))

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    base = "http://localhost"
    with TestClient(app, base_url=base, raise_server_exceptions=False) as api:
        response = api.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_vendored_swagger_ui_is_as_published() -> None:
    folder = STATIC_DIR / "swagger-ui"
    sums = dict(
        reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    assert sorted(sums) == ["swagger-ui-bundle.js", "swagger-ui.css"]
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
