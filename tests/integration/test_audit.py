"""The audit trail on a real ``runyard-server`` process and Redis: one entry per
state-changing request and none for reads, no secret in any entry, the archive past the
live window, and ``runyard audit``."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from runyard_server.store import keys
from tests.servers import ServerProcess

USER = "audit-user-secret-0123456789abcdef"
AGENT = "audit-agent-secret-0123456789abcdef"
TICKET = "rystream.not-a-real-ticket-but-secret"
RUNYARD = Path(sys.executable).with_name("runyard")


class Session:
    """Requests to one server, each with its own request id, remembering the writes'."""

    def __init__(self, server: ServerProcess) -> None:
        self.api = server.api
        self.writes: list[str] = []
        self.reads: list[str] = []
        self.unaudited: list[str] = []

    def call(
        self, method: str, path: str, token: str | None, audited: bool = True, **kw: Any
    ) -> requests.Response:
        rid = uuid.uuid4().hex
        headers = {"X-Request-ID": rid}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = requests.request(method, self.api + path, headers=headers, timeout=10, **kw)
        if method == "GET":
            self.reads.append(rid)
        elif audited:
            self.writes.append(rid)
        else:
            self.unaudited.append(rid)
        return response


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess], redis_url: str) -> ServerProcess:
    return server_factory(
        "--redis-url", redis_url, "--token", f"user:{USER}", "--token", f"agent:{AGENT}"
    )


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def audit(server: ServerProcess, **params: Any) -> list[dict[str, Any]]:
    response = requests.get(
        f"{server.api}/audit",
        params={"since": 0, **params},
        headers={"Authorization": f"Bearer {USER}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def test_a_session_leaves_one_entry_per_write_and_none_per_read(
    server: ServerProcess, r: redis.Redis
) -> None:
    s = Session(server)
    assert s.call("POST", "/queues", USER, json={"name": "aq"}).status_code == 201
    created = s.call("POST", "/tasks", USER, json={"script": {"entry_point": "train.py"}})
    task = created.json()["id"]
    assert s.call("GET", f"/tasks/{task}", USER).status_code == 200
    assert s.call("POST", f"/tasks/{task}/enqueue", USER, json={"queue": "aq"}).status_code == 200
    assert s.call("GET", "/queues", USER).status_code == 200
    assert s.call("PATCH", "/queues/aq", USER, json={"max_running": 2}).status_code == 200
    assert s.call("POST", f"/tasks/{task}/dequeue", USER).status_code == 200
    assert s.call("POST", f"/tasks/{task}/enqueue", USER, json={"queue": "aq"}).status_code == 200
    worker = s.call(
        "POST", "/workers", AGENT, json={"name": "w", "queues": ["aq"], "resources": {}}
    )
    worker_id = worker.json()["id"]
    # Machine traffic: a claim and a heartbeat are not audited.
    claim = s.call(
        "POST", f"/workers/{worker_id}/claim", AGENT, audited=False,
        json={"queues": ["aq"], "free": {}, "wait_s": 0},
    )  # fmt: skip
    task_token = claim.json()["task_token"]
    assert task_token
    beat = s.call("POST", f"/workers/{worker_id}/heartbeat", AGENT, audited=False, json={})
    assert beat.status_code == 200
    # A task token may not create tasks: refused, and recorded as that task.
    assert s.call("POST", "/tasks", task_token, json={}).status_code == 403
    assert s.call("POST", f"/tasks/{task}/abort", USER).status_code == 200
    # A ticket in a query string, and a wrong token: recorded without either.
    assert s.call("POST", f"/tasks?ticket={TICKET}", USER, json={}).status_code == 201
    assert s.call("POST", "/tasks", "wrong-" + USER, json={}).status_code == 401
    assert s.call("GET", "/tasks", USER).status_code == 200
    # Still running (the agent has not stopped it): refused, and recorded as refused.
    assert s.call("DELETE", f"/tasks/{task}", USER).status_code == 409

    entries = audit(server)
    by_rid = {e["request_id"]: e for e in entries}
    assert len(entries) == len(by_rid) == len(s.writes)
    assert set(by_rid) == set(s.writes)
    assert not set(by_rid) & set(s.reads + s.unaudited)
    enqueue = by_rid[s.writes[2]]
    # The bootstrap token's user is named admin.
    assert enqueue["who"] == "admin" and enqueue["method"] == "POST"
    assert enqueue["route"] == "/api/v1/tasks/{task_id}/enqueue"
    assert enqueue["object"] == f"task_id={task}" and enqueue["status"] == 200
    assert enqueue["client"] == "127.0.0.1"
    assert by_rid[s.writes[6]]["who"] == "agent"
    assert by_rid[s.writes[7]]["who"] == f"task:{task}"
    assert by_rid[s.writes[7]]["status"] == 403
    assert by_rid[s.writes[-2]]["who"] == "anonymous"
    assert by_rid[s.writes[-1]]["status"] == 409
    assert [e["request_id"] for e in audit(server, user="agent")] == [s.writes[6]]

    stored = json.dumps(r.xrange(keys.AUDIT)) + json.dumps(entries)
    for secret in (USER, AGENT, TICKET, task_token, "ticket", "Bearer"):
        assert secret not in stored


def test_only_a_user_token_reads_the_audit_trail(server: ServerProcess) -> None:
    response = requests.get(
        f"{server.api}/audit", headers={"Authorization": f"Bearer {AGENT}"}, timeout=10
    )
    assert response.status_code == 403


@pytest.fixture
def archiving_server(
    server_factory: Callable[..., ServerProcess], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> ServerProcess:
    """A server whose audit entries stay live for 2 s, swept every 0.2 s."""
    monkeypatch.setenv("RUNYARD_HISTORY_SWEEP_S", "0.2")
    return server_factory("--redis-url", redis_url, "--audit-live-days", str(2 / 86400))


def test_entries_past_the_live_window_are_archived_and_still_found(
    archiving_server: ServerProcess, r: redis.Redis
) -> None:
    s = Session(archiving_server)
    for n in range(5):
        assert s.call("POST", "/queues", None, json={"name": f"q{n}"}).status_code == 201
    deadline = time.monotonic() + 20
    while r.xlen(keys.AUDIT) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.xlen(keys.AUDIT) == 0, "the jobs process did not archive the entries"
    assert list((archiving_server.data_dir / "audit").glob("*.jsonl.zst"))
    # One more, live: the listing joins the stream and the archive, newest first.
    assert s.call("DELETE", "/queues/q0", None).status_code == 204
    found = [e["request_id"] for e in audit(archiving_server)]
    assert found == list(reversed(s.writes))

    env = {**os.environ, "RUNYARD_SERVER": archiving_server.url, "RUNYARD_TOKEN": ""}
    done = subprocess.run(
        [str(RUNYARD), "audit", "--since", "1d", "--user", "open", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert [e["request_id"] for e in json.loads(done.stdout)] == found
    table = subprocess.run(
        [str(RUNYARD), "audit", "--since", "1h"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "/api/v1/queues/{name}" in table and "name=q0" in table
    assert len(table.strip().splitlines()) == 1 + len(s.writes)
