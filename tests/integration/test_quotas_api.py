"""Quotas over HTTP and the CLI on a real server process with named users: only an admin
sets them, anyone reads them, and a task created over its owner's quota is queued with a
warning that says which quota holds it."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.test_identity import BOOT, CODE, add_user, bearer, cli
from tests.servers import ServerProcess


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["--redis-url", redis_url, "--no-jobs", "--token", f"user:{BOOT}"]
    s = ServerProcess(tmp_path / "s", args, tmp_path / "s.log").start()
    try:
        yield s
    finally:
        s.stop()


def test_an_admin_sets_quotas_and_a_task_over_one_waits_with_a_warning(
    server: ServerProcess, redis_url: str
) -> None:
    alice = add_user(["--redis-url", redis_url], "alice", "member")
    bob = add_user(["--redis-url", redis_url], "bob", "admin")
    url = f"{server.api}/quotas/users/alice"
    refused = requests.put(url, json={"max_running": 0}, headers=bearer(alice), timeout=10)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    bad = requests.put(
        f"{server.api}/quotas/projects/vision", json={"weight": 2}, headers=bearer(bob), timeout=10
    )
    assert bad.status_code == 422 and "weight" in bad.json()["detail"]
    negative = requests.put(url, json={"max_gpus": -1}, headers=bearer(bob), timeout=10)
    assert negative.status_code == 422
    set_ = requests.put(url, json={"max_running": 0}, headers=bearer(bob), timeout=10)
    assert set_.status_code == 200 and set_.json()["max_running"] == 0

    # Not refused: queued, and the answer says what holds it.
    task = requests.post(
        f"{server.api}/tasks",
        json={**CODE, "queue": "q", "create_queue": True},
        headers=bearer(alice),
        timeout=10,
    ).json()
    assert task["status"] == "queued"
    assert "held by the user quota of alice: 0 of 0 running" in " ".join(task["warnings"])
    batch = requests.post(
        f"{server.api}/tasks:batch",
        json={"tasks": [{**CODE, "queue": "q"}] * 2},
        headers=bearer(alice),
        timeout=10,
    ).json()
    assert len(batch["ids"]) == 2
    assert "held by the user quota of alice: 0 of 0 running" in " ".join(batch["warnings"])

    out = cli(server, bob, "quota", "set", "user", "alice", "--max-running", "2", "--weight", "2")
    assert "alice" in out and "0/2" in out
    listed = json.loads(cli(server, alice, "quota", "list", "--json"))
    assert [(q["kind"], q["name"], q["max_running"], q["weight"]) for q in listed] == [
        ("user", "alice", 2, 2.0)
    ]
