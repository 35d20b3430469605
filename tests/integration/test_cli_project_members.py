"""``runyard project member add|list|remove`` and ``runyard queue set --allowed-*``
against a real server process, as an admin, a maintainer and a plain member."""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_identity import BOOT, RUNYARD, add_user, cli
from tests.servers import ServerProcess


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["--redis-url", redis_url, "--no-jobs", "--token", f"user:{BOOT}"]
    started = ServerProcess(tmp_path / "data", args, tmp_path / "server.log").start()
    try:
        yield started
    finally:
        started.stop()


def refused(server: ServerProcess, token: str, *args: str) -> str:
    """Run the CLI expecting a refusal; its stderr."""
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": token}
    done = subprocess.run(
        [str(RUNYARD), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_members_are_added_listed_and_removed_from_the_cli(
    server: ServerProcess, redis_url: str
) -> None:
    where = ["--redis-url", redis_url]
    mia, mo = add_user(where, "mia", "member"), add_user(where, "mo", "member")
    assert "lists no members" in cli(server, mia, "project", "member", "list", "vision")
    # Nobody maintains a project without members yet: an admin adds the first.
    first = refused(server, mia, "project", "member", "add", "vision", "mia")
    assert "needs its maintainer role or admin" in first
    added = cli(server, BOOT, "project", "member", "add", "vision", "mia", "--role", "maintainer")
    assert "mia" in added and "maintainer" in added
    cli(server, mia, "project", "member", "add", "vision", "mo")
    listed = json.loads(cli(server, mo, "project", "member", "list", "vision", "--json"))
    assert listed == [{"user": "mia", "role": "maintainer"}, {"user": "mo", "role": "member"}]
    assert "maintainer role" in refused(server, mo, "project", "member", "remove", "vision", "mia")
    assert "removed" in cli(server, mia, "project", "member", "remove", "vision", "mo")
    assert "not a member" in refused(server, mia, "project", "member", "remove", "vision", "mo")


def test_queue_set_restricts_who_may_use_a_queue(server: ServerProcess, redis_url: str) -> None:
    mo = add_user(["--redis-url", redis_url], "mo", "member")
    cli(server, BOOT, "queue", "create", "prod")
    assert "admin role" in refused(server, mo, "queue", "set", "prod", "--allowed-users", "mo")
    cli(server, BOOT, "queue", "set", "prod", "--allowed-projects", "vision,nlp")
    queue = json.loads(cli(server, BOOT, "queue", "list", "--json"))[0]
    assert queue["allowed_projects"] == ["nlp", "vision"] and queue["allowed_users"] == []
    assert "only projects nlp, vision" in cli(server, mo, "queue", "show", "prod")
    cli(server, BOOT, "queue", "set", "prod", "--allowed-projects", "")
    assert json.loads(cli(server, BOOT, "queue", "list", "--json"))[0]["allowed_projects"] == []
