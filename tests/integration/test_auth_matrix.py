"""Every route of the OpenAPI against every kind of caller, on a real Redis.

No token or a wrong one: 401 everywhere but the probes (``healthz``, ``livez``). An agent token:
only the worker routes and the reports. A metrics token: only ``/metrics``. A task
token (``Claim.task_token``): only reading its own task and writing its logs,
metrics and artifacts. Tokens never come back in a body and never reach a real
server's log. A route added later without a body sample here fails
``test_every_body_route_has_a_sample``.
"""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from runyard.models import API_PREFIX as API
from runyard.models import UserRole
from runyard_server.auth import READS_BY_POST
from runyard_server.cli import main as server_main
from runyard_server.config import Settings
from runyard_server.main import create_app
from runyard_server.redis_client import connect_url
from runyard_server.store import identity
from runyard_server.web import STATIC_DIR
from tests.servers import ServerProcess

USER, AGENT, WRONG = "user-matrix-secret-1", "agent-matrix-secret-2", "wrong-matrix-secret-3"
METRICS = "metrics-matrix-secret-4"
HEALTHZ = ("GET", "/api/v1/healthz")
LIVEZ = ("GET", "/api/v1/livez")
PROBES = {HEALTHZ, LIVEZ}
STREAM = "/api/v1/tasks/{task_id}/logs/stream"

STEP_SCRIPT = {"entry_point": "step.py"}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/tasks"): {},
    ("POST", "/api/v1/tasks:batch"): {"tasks": [{}]},
    ("PATCH", "/api/v1/tasks/{task_id}"): {},
    ("POST", "/api/v1/tasks/{task_id}/clone"): {},
    ("POST", "/api/v1/tasks/purge"): {"older_than_days": 30, "dry_run": True},
    ("POST", "/api/v1/tasks/{task_id}/enqueue"): {"queue": "q", "create_queue": True},
    ("POST", "/api/v1/tasks/{task_id}/move"): {"queue": "q2", "create_queue": True},
    ("POST", "/api/v1/local-runs"): {},
    ("POST", "/api/v1/tasks/{task_id}/started"): {"lease_token": "0" * 32},
    ("POST", "/api/v1/tasks/{task_id}/completed"): {"lease_token": "0" * 32},
    ("POST", "/api/v1/tasks/{task_id}/failed"): {"lease_token": "0" * 32, "reason": "r"},
    ("POST", "/api/v1/tasks/{task_id}/aborted"): {"lease_token": "0" * 32},
    ("POST", "/api/v1/tasks/{task_id}/requeue"): {"lease_token": "0" * 32},
    ("POST", "/api/v1/tasks/{task_id}/ping"): {"lease_token": "0" * 32},
    ("POST", "/api/v1/tasks/{task_id}/installed"): {"lease_token": "0" * 32, "packages": []},
    ("POST", "/api/v1/tasks/{task_id}/logs"): {"seq": 7, "lines": [{"text": "x", "ts": 1.0}]},
    ("POST", "/api/v1/tasks/{task_id}/metrics"): {"points": [{"series": "s", "value": 1, "ts": 1}]},
    ("POST", "/api/v1/tasks/{task_id}/artifacts/{name}"): b"artifact bytes",
    ("POST", "/api/v1/bundles"): b"bundle bytes",
    ("POST", "/api/v1/queues"): {"name": "made"},
    ("POST", "/api/v1/queues/{name}/move"): {"task_id": "0" * 32, "to": "top"},
    ("PATCH", "/api/v1/queues/{name}"): {"max_running": 2},
    ("PUT", "/api/v1/quotas/users/{name}"): {"max_running": 2},
    ("PUT", "/api/v1/quotas/projects/{name}"): {"max_gpus": 4},
    ("POST", "/api/v1/workers"): {"name": "w2", "queues": ["q"], "resources": {}},
    ("POST", "/api/v1/workers/{worker_id}/heartbeat"): {"running": []},
    ("POST", "/api/v1/workers/{worker_id}/claim"): {"queues": ["q"], "free": {}},
    ("POST", "/api/v1/workers/{worker_id}/stops"): {
        "running": [{"task_id": "0" * 32, "lease_token": "0" * 32}]
    },
    ("POST", "/api/v1/tokens"): {"name": "matrix"},
    ("PATCH", "/api/v1/users/{name}"): {"role": "member"},
    ("PUT", "/api/v1/projects/{name}/members/{user}"): {"role": "member"},
    ("POST", "/api/v1/pipelines"): {"name": "p", "steps": [{"name": "s", "script": STEP_SCRIPT}]},
    ("POST", "/api/v1/pipelines/{pipeline_id}/runs"): {},
    ("POST", "/api/v1/pipelines/runs/{run_id}/clone"): {},
    ("POST", "/api/v1/schedules"): {"task": "0" * 32, "cron": "0 3 * * *"},
    ("POST", "/api/v1/triggers"): {"task": "0" * 32},
    ("POST", "/api/v1/webhooks"): {"url": "http://127.0.0.1:9/", "events": ["task.failed"]},
    ("POST", "/api/v1/sweeps"): {
        "base": "0" * 32,
        "params": {"A/x": "uniform(0,1)"},
        "objective": "loss",
        "queue": "q",
    },
    ("POST", "/api/v1/sweeps/{sweep_id}/stop"): {},
    ("POST", "/api/v1/sweeps/{sweep_id}/clone-best"): {},
}
"""A valid body per route that takes one: a role is checked after the body validates."""

AGENT_MAY = {
    ("POST", "/api/v1/workers"),
    ("GET", "/api/v1/workers"),
    ("DELETE", "/api/v1/workers/{worker_id}"),
    ("GET", "/api/v1/bundles/{sha256}"),
    ("POST", "/api/v1/workers/{worker_id}/heartbeat"),
    ("POST", "/api/v1/workers/{worker_id}/claim"),
    ("POST", "/api/v1/workers/{worker_id}/stops"),
    *(("POST", f"/api/v1/tasks/{{task_id}}/{r}") for r in ("started", "completed", "failed")),
    *(
        ("POST", f"/api/v1/tasks/{{task_id}}/{r}")
        for r in ("aborted", "requeue", "ping", "installed")
    ),
}
"""Logs too, but only with a lease token (``test_hostile_input``); these bodies have none."""

TASK_MAY_ON_ITS_OWN = {
    ("GET", "/api/v1/tasks/{task_id}"),
    ("POST", "/api/v1/tasks/{task_id}/logs"),
    ("GET", "/api/v1/tasks/{task_id}/logs"),
    ("GET", "/api/v1/tasks/{task_id}/logs/text"),
    ("GET", STREAM),
    ("POST", "/api/v1/tasks/{task_id}/logs/stream-ticket"),
    ("POST", "/api/v1/tasks/{task_id}/metrics"),
    ("GET", "/api/v1/tasks/{task_id}/metrics"),
    ("GET", "/api/v1/tasks/{task_id}/artifacts"),
    ("POST", "/api/v1/tasks/{task_id}/artifacts/{name}"),
    ("GET", "/api/v1/tasks/{task_id}/artifacts/{name}"),
}

ADMIN_ONLY = {
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{name}"),
    ("DELETE", "/api/v1/users/{name}"),
}
"""User administration and the audit trail: a member or viewer is refused even the reads."""


@dataclass
class World:
    """A running task (with its tokens), another task, a worker."""

    api: TestClient
    own: str
    other: str
    worker: str
    lease_token: str
    task_token: str
    viewer: str
    member: str
    bodies_seen: list[str]


@pytest.fixture
def world(redis_url: str, tmp_path: Path) -> Iterator[World]:
    settings = Settings(
        redis_url=redis_url,
        data_dir=tmp_path,
        tokens=[f"user:{USER}", f"agent:{AGENT}", f"metrics:{METRICS}"],
    )
    with TestClient(create_app(settings), base_url="http://localhost") as api:
        user = bearer(USER)
        own = api.post(
            "/api/v1/tasks",
            json={"queue": "q", "create_queue": True, "script": {"entry_point": "train.py"}},
            headers=user,
        ).json()["id"]
        other = api.post(
            "/api/v1/tasks", json={"script": {"entry_point": "train.py"}}, headers=user
        ).json()["id"]
        register = {"name": "w1", "queues": ["q"], "resources": {}}
        worker = api.post("/api/v1/workers", json=register, headers=bearer(AGENT)).json()["id"]
        claim = {"queues": ["q"], "free": {}}
        got = api.post(f"/api/v1/workers/{worker}/claim", json=claim, headers=bearer(AGENT))
        claimed = got.json()
        assert claimed["task"]["id"] == own
        for task in (own, other):
            api.post(f"/api/v1/tasks/{task}/artifacts/a.txt", content=b"a", headers=user)
        viewer = asyncio.run(_stored_user(redis_url, "vera", "viewer"))
        member = asyncio.run(_stored_user(redis_url, "mia", "member"))
        lease, task_token = claimed["lease_token"], claimed["task_token"]
        yield World(api, own, other, worker, lease, task_token, viewer, member, [])


async def _stored_user(redis_url: str, name: str, role: UserRole) -> str:
    """A new user of ``role`` in the store; its first token."""
    r = connect_url(redis_url)
    try:
        await identity.add_user(r, name, role, time.time())
        secret, _ = await identity.create_token(
            r, name="first", user=name, pool=None, expires_in_s=None, now=time.time()
        )
        return secret
    finally:
        await r.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operations(api: TestClient) -> list[tuple[str, str]]:
    spec = api.get("/api/v1/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def call(world: World, op: tuple[str, str], headers: dict[str, str], task_id: str) -> int:
    method, template = op
    name = "a.txt" if "/artifacts/" in template else "q"
    path = template.format(
        task_id=task_id,
        worker_id=world.worker,
        name=name,
        sha256="0" * 64,
        token_id="0" * 12,
        user="vera",
        pipeline_id="0" * 32,
        run_id="0" * 32,
        step="s",
        schedule_id="0" * 32,
        trigger_id="0" * 32,
        webhook_id="0" * 32,
        sweep_id="0" * 32,
    )
    body = BODIES.get(op)
    if isinstance(body, bytes):
        response = world.api.request(method, path, content=body, headers=headers)
    else:
        response = world.api.request(method, path, json=body, headers=headers)
    world.bodies_seen.append(response.text)
    return response.status_code


def test_every_body_route_has_a_sample(world: World) -> None:
    spec = world.api.get("/api/v1/openapi.json").json()
    with_body = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    }
    assert with_body - set(BODIES) == set()


@pytest.mark.parametrize("headers", [{}, bearer(WRONG), {"Authorization": USER}, bearer("")])
def test_every_route_but_the_probes_refuses_a_missing_or_wrong_token(
    world: World, headers: dict[str, str]
) -> None:
    ops = operations(world.api)
    assert len(ops) >= 35
    got = {op: call(world, op, headers, world.own) for op in ops}
    assert [got.pop(probe) for probe in PROBES] == [200, 200]
    assert {op: status for op, status in got.items() if status != 401} == {}


def test_an_agent_token_may_only_do_agent_things(world: World) -> None:
    got = {op: call(world, op, bearer(AGENT), world.other) for op in operations(world.api)}
    refused = {op for op, status in got.items() if status == 403}
    assert refused == set(got) - AGENT_MAY - PROBES
    assert all(got[op] not in (401, 403) for op in AGENT_MAY)


def test_a_metrics_token_may_only_scrape_metrics(world: World) -> None:
    ops = [*operations(world.api), ("GET", "/metrics")]
    got = {op: call(world, op, bearer(METRICS), world.own) for op in set(ops)}
    assert got.pop(("GET", "/metrics")) == 200
    assert [got.pop(probe) for probe in PROBES] == [200, 200]
    assert {op: status for op, status in got.items() if status != 403} == {}


def test_a_viewer_reads_everything_and_changes_nothing(world: World) -> None:
    token = bearer(world.viewer)
    ops = [op for op in operations(world.api) if op not in PROBES and op[1] != STREAM]
    got: dict[tuple[str, str], int] = {}
    for op in ops:
        got[op] = call(world, op, token, world.own)
        if got[op] == 403 and op not in ADMIN_ONLY:
            assert "has the role viewer" in world.bodies_seen[-1], op
    reads = {op for op in ops if op[0] == "GET" or op[1].removeprefix(API) in READS_BY_POST}
    reads -= ADMIN_ONLY
    assert {op for op, status in got.items() if status == 403} == set(ops) - reads
    # The worker reads are an agent's as well as a user's: a viewer reads them too.
    assert {op: s for op, s in got.items() if op in reads and s in (401, 403)} == {}


def test_only_an_admin_manages_users(world: World) -> None:
    # What else a member may not change (others' tasks, admin-only queue settings) is
    # project roles' matrix, tests/integration/test_project_roles.py.
    ops = [op for op in operations(world.api) if op not in PROBES and op[1] != STREAM]
    got = {op: call(world, op, bearer(world.member), world.own) for op in ops}
    assert {op for op in ADMIN_ONLY if got[op] != 403} == set()
    reads = {op for op in got if op[0] == "GET"} - ADMIN_ONLY
    assert {op for op in reads if got[op] == 403} == set()
    # The bootstrap admin reaches them: the user named in the path does not exist.
    assert {call(world, op, bearer(USER), world.own) for op in ADMIN_ONLY} == {200, 404}


def test_a_task_token_reads_and_writes_only_its_own_task(world: World) -> None:
    token = bearer(world.task_token)
    ops = [op for op in operations(world.api) if op not in PROBES]
    on_other = {op: call(world, op, token, world.other) for op in ops}
    assert {op: s for op, s in on_other.items() if s != 403} == {}
    own_ops = [op for op in ops if op[1] != STREAM]  # a live stream is tested in its own file
    on_own = {op: call(world, op, token, world.own) for op in own_ops}
    refused = {op for op, status in on_own.items() if status == 403}
    assert refused == set(own_ops) - TASK_MAY_ON_ITS_OWN
    assert all(200 <= on_own[op] < 300 for op in TASK_MAY_ON_ITS_OWN if op[1] != STREAM)


def test_a_user_token_reaches_every_route(world: World) -> None:
    ops = [op for op in operations(world.api) if op[1] != STREAM]
    got = {op: call(world, op, bearer(USER), world.other) for op in ops}
    assert {op: s for op, s in got.items() if s in (401, 403)} == {}


def test_no_token_comes_back_in_a_body_or_a_task_record(world: World) -> None:
    for headers in ({}, bearer(WRONG), bearer(AGENT), bearer(METRICS), bearer(world.task_token)):
        for op in operations(world.api):
            if not (op[1] == STREAM and headers == bearer(world.task_token)):  # 15 s live
                call(world, op, headers, world.own)
    record = world.api.get(f"/api/v1/tasks/{world.own}", headers=bearer(USER)).text
    world.bodies_seen.append(record)
    secrets = (USER, AGENT, WRONG, METRICS, world.task_token, world.lease_token)
    leaked = [s for s in secrets for body in world.bodies_seen if s in body]
    assert leaked == []


def test_the_web_ui_and_api_docs_are_open_and_carry_no_data(world: World) -> None:
    world.api.patch(
        f"/api/v1/tasks/{world.other}", json={"name": "secret-run-xyz"}, headers=bearer(USER)
    )
    pages = ["/", "/api/v1/openapi.json", "/api/v1/docs"]
    pages += [f"/static/{p.relative_to(STATIC_DIR)}" for p in STATIC_DIR.rglob("*") if p.is_file()]
    for page in pages:
        response = world.api.get(page)
        assert response.status_code == 200, page
        assert "secret-run-xyz" not in response.text and world.other not in response.text
    for escape in ("/static/../__init__.py", "/static/%2e%2e/__init__.py", "/static/..%2f..%2fx"):
        assert world.api.get(escape).status_code == 404


def test_tokens_never_reach_a_real_servers_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    args = ["--token", f"user:{USER}", "--token", f"agent:{AGENT}", "--log-level", "debug"]
    server = ServerProcess(tmp_path / "data", [*args, "--no-jobs"], log).start()
    try:
        api = server.api
        requests.post(
            f"{api}/tasks",
            json={"queue": "q", "create_queue": True, "script": {"entry_point": "train.py"}},
            headers=bearer(USER),
            timeout=10,
        )
        register = {"name": "w", "queues": ["q"], "resources": {}}
        worker = requests.post(f"{api}/workers", json=register, headers=bearer(AGENT), timeout=10)
        claim = {"queues": ["q"], "free": {}}
        url = f"{api}/workers/{worker.json()['id']}/claim"
        got = requests.post(url, json=claim, headers=bearer(AGENT), timeout=10).json()
        task_token, task_id = got["task_token"], got["task"]["id"]
        requests.get(f"{api}/tasks", headers=bearer(WRONG), timeout=10)
        requests.get(f"{api}/tasks/{task_id}", headers=bearer(task_token), timeout=10)
        url = f"{api}/tasks/{task_id}/logs/stream-ticket"
        ticket = requests.post(url, headers=bearer(USER), timeout=10).json()["ticket"]
        for value in (WRONG, ticket):
            stream = f"{api}/tasks/{task_id}/logs/stream?ticket={value}"
            requests.get(stream, timeout=10, stream=True).close()
    finally:
        server.stop()
    text = log.read_text()
    assert '"request_id"' in text  # the request lines were written
    secrets = (USER, AGENT, WRONG, task_token, got["lease_token"], ticket)
    assert [s for s in secrets if s in text] == []


def test_a_bad_setting_does_not_print_the_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        server_main(["--token", f"user:{USER}", "--token", "agent:short", "--port", "0"])
    err = capsys.readouterr().err
    assert "8 characters" in err and USER not in err
