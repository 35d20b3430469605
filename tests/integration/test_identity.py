"""Named users and their tokens on real server processes sharing one real Redis.

Two replicas of the API on one Redis: a token made on one works on the other, and a
revoked or expired token is refused by both at once (no cache). ``runyard-server
admin`` adds users against a stopped and a running server's embedded Redis. Tasks
record their owner; no secret ever reaches a server log or a Redis value.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from fastapi.testclient import TestClient

from runyard.cli.tokens import expiry
from tests.servers import ServerProcess

BOOT = "boot-identity-secret-1"
RUNYARD = Path(sys.executable).parent / "runyard"
CODE = {"script": {"entry_point": "train.py"}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def replicas(redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    args = ["--redis-url", redis_url, "--no-jobs", "--token", f"user:{BOOT}"]
    args += ["--log-level", "debug"]
    a = ServerProcess(tmp_path / "a", args, tmp_path / "a.log").start()
    try:
        b = ServerProcess(tmp_path / "b", args, tmp_path / "b.log").start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def admin(*args: str, rc: int = 0) -> subprocess.CompletedProcess[str]:
    """``runyard-server admin ARGS``, asserting its exit code."""
    done = subprocess.run(
        [sys.executable, "-m", "runyard_server", "admin", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == rc, done.stderr
    return done


def add_user(where: list[str], name: str, role: str) -> str:
    """A new user, through the admin CLI; its first token (what it prints on stdout)."""
    return admin(*where, "user", "add", name, "--role", role).stdout.strip()


def cli(server: ServerProcess, token: str, *args: str) -> str:
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": token}
    done = subprocess.run(
        [str(RUNYARD), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def me(server: ServerProcess, token: str) -> requests.Response:
    return requests.get(f"{server.api}/me", headers=bearer(token), timeout=10)


def redis_text(url: str) -> str:
    """Every key and value in the Redis, as one text (to search for secrets)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    read = {
        "string": r.get,
        "hash": r.hgetall,
        "set": r.smembers,
        "zset": lambda k: r.zrange(k, 0, -1),
        "list": lambda k: r.lrange(k, 0, -1),
        "stream": lambda k: r.xrange(k),
    }
    parts: list[Any] = []
    for key in r.scan_iter(count=1000):
        parts += [key, read[r.type(key)](key)]
    r.close()
    return repr(parts)


def test_a_token_made_on_one_replica_works_on_the_other_and_a_revoke_counts_at_once(
    replicas: tuple[ServerProcess, ServerProcess], redis_url: str, tmp_path: Path
) -> None:
    a, b = replicas
    alice = add_user(["--redis-url", redis_url], "alice", "member")
    bob = add_user(["--redis-url", redis_url], "bob", "member")
    made = requests.post(
        f"{a.api}/tokens", json={"name": "laptop"}, headers=bearer(alice), timeout=10
    )
    assert made.status_code == 201
    laptop = made.json()
    assert laptop["user"] == "alice" and laptop["token"].startswith("ry_")
    assert me(b, laptop["token"]).json() == {"kind": "user", "user": "alice", "role": "member"}
    listed = requests.get(f"{b.api}/tokens", headers=bearer(alice), timeout=10)
    assert [t["name"] for t in listed.json()] == ["first", "laptop"]
    assert "token" not in listed.json()[1] and laptop["token"] not in listed.text
    # Bob cannot see or revoke Alice's tokens; the bootstrap admin sees every token.
    assert (
        requests.get(f"{b.api}/tokens", headers=bearer(bob), timeout=10).json()[0]["user"] == "bob"
    )
    theirs = requests.delete(f"{a.api}/tokens/{laptop['id']}", headers=bearer(bob), timeout=10)
    assert theirs.status_code == 404
    every = requests.get(f"{a.api}/tokens", headers=bearer(BOOT), timeout=10).json()
    assert {t["user"] for t in every} == {"alice", "bob"}

    gone = requests.delete(f"{a.api}/tokens/{laptop['id']}", headers=bearer(alice), timeout=10)
    assert gone.status_code == 204
    for server in (b, a):
        refused = me(server, laptop["token"])
        assert refused.status_code == 401 and "revoked" in refused.text
    assert me(b, alice).json()["user"] == "alice"  # her other token still works

    short = requests.post(
        f"{b.api}/tokens",
        json={"name": "brief", "expires_in_s": 1},
        headers=bearer(alice),
        timeout=10,
    ).json()
    assert me(a, short["token"]).status_code == 200
    time.sleep(1.1)
    assert [me(server, short["token"]).status_code for server in (a, b)] == [401, 401]

    # No secret in either replica's debug log nor anywhere in Redis.
    secrets = [alice, bob, laptop["token"], short["token"], BOOT]
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "/tokens" in logs  # the log does record the requests
    stored = redis_text(redis_url)
    assert [s for s in secrets if s in logs or s in stored] == []


def test_agent_pool_tokens_are_an_admins_and_revocable(
    replicas: tuple[ServerProcess, ServerProcess], redis_url: str
) -> None:
    a, b = replicas
    alice = add_user(["--redis-url", redis_url], "alice", "member")
    refused = requests.post(
        f"{a.api}/tokens", json={"pool": "gpu"}, headers=bearer(alice), timeout=10
    )
    assert refused.status_code == 403
    pool = requests.post(
        f"{a.api}/tokens", json={"name": "rack1", "pool": "gpu"}, headers=bearer(BOOT), timeout=10
    ).json()
    assert pool["pool"] == "gpu" and pool["user"] is None
    register = {"name": "w1", "queues": ["q"], "resources": {}}
    worker = requests.post(
        f"{b.api}/workers", json=register, headers=bearer(pool["token"]), timeout=10
    )
    assert worker.status_code in (200, 201)
    # An agent token is not a user's: it cannot create tasks.
    task = requests.post(f"{b.api}/tasks", json=CODE, headers=bearer(pool["token"]), timeout=10)
    assert task.status_code == 403
    requests.delete(f"{a.api}/tokens/{pool['id']}", headers=bearer(BOOT), timeout=10)
    again = requests.post(
        f"{b.api}/workers", json=register, headers=bearer(pool["token"]), timeout=10
    )
    assert again.status_code == 401


def test_the_admin_cli_adds_users_to_a_stopped_and_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    carol = add_user(["--data-dir", str(data)], "carol", "member")
    server = ServerProcess(data, ["--token", f"user:{BOOT}", "--no-jobs"], tmp_path / "s.log")
    server.start()
    try:
        assert me(server, carol).json() == {"kind": "user", "user": "carol", "role": "member"}
        dave = add_user(["--data-dir", str(data)], "dave", "viewer")
        assert me(server, dave).json()["role"] == "viewer"
        refused = requests.post(f"{server.api}/tasks", json=CODE, headers=bearer(dave), timeout=10)
        assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
        assert requests.get(f"{server.api}/tasks", headers=bearer(dave), timeout=10).ok
        done = admin("--data-dir", str(data), "user", "add", "dave", "--role", "admin", rc=1)
        assert "dave exists already" in done.stderr
    finally:
        server.stop()


def test_tasks_record_their_owner_and_list_by_it(
    replicas: tuple[ServerProcess, ServerProcess], redis_url: str
) -> None:
    a, b = replicas
    alice = add_user(["--redis-url", redis_url], "alice", "member")
    bob = add_user(["--redis-url", redis_url], "bob", "admin")
    hers = requests.post(
        f"{a.api}/tasks", json={**CODE, "name": "hers"}, headers=bearer(alice), timeout=10
    ).json()
    assert hers["owner"] == "alice"
    clone = requests.post(
        f"{b.api}/tasks/{hers['id']}/clone", json={}, headers=bearer(bob), timeout=10
    ).json()
    assert clone["owner"] == "bob" and clone["parent"] == hers["id"]
    local = requests.post(
        f"{a.api}/local-runs", json=CODE, headers=bearer(alice), timeout=10
    ).json()
    assert local["task"]["owner"] == "alice"
    boot = requests.post(f"{a.api}/tasks", json=CODE, headers=bearer(BOOT), timeout=10).json()
    assert boot["owner"] == "admin"
    batch = requests.post(
        f"{b.api}/tasks:batch", json={"tasks": [CODE]}, headers=bearer(bob), timeout=10
    )

    def owned(name: str) -> set[str]:
        page = requests.get(
            f"{b.api}/tasks", params={"owner": name}, headers=bearer(bob), timeout=10
        )
        return {t["id"] for t in page.json()["items"]}

    assert owned("alice") == {hers["id"], local["task"]["id"]}
    assert owned("bob") == {clone["id"], *batch.json()["ids"]}
    assert owned("nobody") == set()

    mine = cli(a, alice, "task", "list", "--mine", "--json")
    assert {t["owner"] for t in json.loads(mine)} == {"alice"}
    shown = cli(a, alice, "task", "show", clone["id"])
    assert "owner" in shown and "bob" in shown
    # Deleting a task takes it out of its owner's index.
    requests.delete(f"{a.api}/tasks/{clone['id']}", headers=bearer(bob), timeout=10)
    assert clone["id"] not in owned("bob")


def test_the_token_cli_creates_lists_and_revokes(
    replicas: tuple[ServerProcess, ServerProcess], redis_url: str
) -> None:
    a, b = replicas
    erin = add_user(["--redis-url", redis_url], "erin", "member")
    secret = cli(a, erin, "token", "create", "--name", "ci", "--expires", "30d").strip()
    assert me(b, secret).json()["user"] == "erin"
    listed = cli(b, erin, "token", "list")
    assert "ci" in listed and "first" in listed and secret not in listed
    token_id = next(line.split()[0] for line in listed.splitlines() if " ci " in line)
    cli(a, erin, "token", "revoke", token_id)
    assert me(b, secret).status_code == 401


def test_an_open_server_stays_open_and_a_stored_token_there_still_names_its_user(
    api: TestClient, redis_url: str
) -> None:
    assert api.get("/me").json() == {"kind": "open", "user": None, "role": None}
    assert api.post("/tasks", json=CODE).json()["owner"] is None
    fay = add_user(["--redis-url", redis_url], "fay", "viewer")
    assert api.get("/me", headers=bearer(fay)).json()["user"] == "fay"
    assert api.post("/tasks", json=CODE, headers=bearer(fay)).status_code == 403
    # A stored-token lookalike that is not stored is refused, not taken as open.
    assert api.get("/tasks", headers=bearer("ry_" + "x" * 43)).status_code == 401


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("15", 15)]
)
def test_token_expiry_durations(text: str, seconds: int) -> None:
    assert expiry(text) == seconds


@pytest.mark.parametrize("text", ["0d", "3w", "-1h", "d", ""])
def test_token_expiry_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        expiry(text)
