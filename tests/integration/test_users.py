"""User administration on a real server and Redis: ``/users`` for admins, ``runyard
user ...`` and ``runyard-server admin user list|role|remove``. A removed user's
tokens are refused from the next request; a new role counts from the next request."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.test_identity import BOOT, CODE, add_user, admin, bearer, cli, me
from tests.servers import ServerProcess


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["--redis-url", redis_url, "--no-jobs", "--token", f"user:{BOOT}"]
    started = ServerProcess(tmp_path / "data", args, tmp_path / "s.log").start()
    try:
        yield started
    finally:
        started.stop()


def users(server: ServerProcess, token: str) -> requests.Response:
    return requests.get(f"{server.api}/users", headers=bearer(token), timeout=10)


def test_an_admin_lists_users_changes_a_role_and_removes_a_user(
    server: ServerProcess, redis_url: str
) -> None:
    alice = add_user(["--redis-url", redis_url], "alice", "member")
    bob = add_user(["--redis-url", redis_url], "bob", "viewer")
    boss = add_user(["--redis-url", redis_url], "boss", "admin")
    listed = users(server, boss)
    assert [(u["name"], u["role"]) for u in listed.json()] == [
        ("alice", "member"),
        ("bob", "viewer"),
        ("boss", "admin"),
    ]
    # Members and viewers may not manage users.
    assert users(server, alice).status_code == 403
    url = f"{server.api}/users/bob"
    for who in (alice, bob):
        refused = requests.patch(url, json={"role": "admin"}, headers=bearer(who), timeout=10)
        assert refused.status_code == 403

    # A viewer made a member may create tasks from the next request.
    assert (
        requests.post(f"{server.api}/tasks", json=CODE, headers=bearer(bob), timeout=10).status_code
        == 403
    )
    promoted = requests.patch(url, json={"role": "member"}, headers=bearer(boss), timeout=10)
    assert promoted.json()["role"] == "member" and promoted.json()["name"] == "bob"
    assert (
        requests.post(f"{server.api}/tasks", json=CODE, headers=bearer(bob), timeout=10).status_code
        == 201
    )

    bad = requests.patch(url, json={"role": "owner"}, headers=bearer(boss), timeout=10)
    assert bad.status_code == 422 and "role" in bad.text
    nobody = requests.patch(
        f"{server.api}/users/nobody", json={"role": "member"}, headers=bearer(BOOT), timeout=10
    )
    assert nobody.status_code == 404 and "nobody" in nobody.json()["detail"]

    # Removing Alice revokes every token of hers at once.
    second = requests.post(
        f"{server.api}/tokens", json={"name": "laptop"}, headers=bearer(alice), timeout=10
    )
    laptop = second.json()["token"]
    gone = requests.delete(f"{server.api}/users/alice", headers=bearer(boss), timeout=10)
    assert gone.status_code == 204
    for token in (alice, laptop):
        assert me(server, token).status_code == 401
    every = requests.get(f"{server.api}/tokens", headers=bearer(BOOT), timeout=10).json()
    assert "alice" not in {t["user"] for t in every}
    assert [u["name"] for u in users(server, BOOT).json()] == ["bob", "boss"]
    again = requests.delete(f"{server.api}/users/alice", headers=bearer(boss), timeout=10)
    assert again.status_code == 404


def test_the_user_cli_and_the_admin_cli_list_change_and_remove_users(
    server: ServerProcess, redis_url: str
) -> None:
    where = ["--redis-url", redis_url]
    carl = add_user(where, "carl", "member")
    dina = add_user(where, "dina", "member")
    assert "carl" in cli(server, BOOT, "user", "list") and "dina" in cli(
        server, BOOT, "user", "list"
    )
    assert cli(server, BOOT, "user", "role", "dina", "viewer").strip() == "user dina is now viewer"
    assert me(server, dina).json()["role"] == "viewer"
    cli(server, BOOT, "user", "remove", "dina")
    assert me(server, dina).status_code == 401

    # The same straight in the store.
    assert admin(*where, "user", "list").stdout.split()[:2] == ["carl", "member"]
    admin(*where, "user", "role", "carl", "admin")
    assert me(server, carl).json()["role"] == "admin"
    removed = admin(*where, "user", "remove", "carl")
    assert "1 token(s) revoked" in removed.stdout
    assert me(server, carl).status_code == 401
    assert admin(*where, "user", "list").stdout.strip() == ""
    missing = admin(*where, "user", "role", "carl", "member", rc=1)
    assert "carl does not exist" in missing.stderr
