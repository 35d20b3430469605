"""Fair share with real agents: a user whose 2 tasks were enqueued behind another
user's 12 gets them started within the first claims of 2 agent processes."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import TaskStatus
from tests.e2e.agent_support import DONE, AgentFactory, make_repo, submit, wait_status
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

BOOT, AGENT = "boot-fair-share-secret", "agent-fair-share-secret"


def _user(data_dir: Path, name: str) -> str:
    """A member added by the admin CLI against the running server's store; its token."""
    add = ["user", "add", name, "--role", "member"]
    done = subprocess.run(
        [sys.executable, "-m", "runyard_server", "admin", "--data-dir", str(data_dir), *add],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_a_second_users_tasks_start_within_the_first_claims_of_two_agents(
    server_factory: Callable[..., ServerProcess],
    agent_factory: AgentFactory,
    tmp_path: Path,
) -> None:
    data = tmp_path / "fair-server"
    server = server_factory("--token", f"user:{BOOT}", "--token", f"agent:{AGENT}", data_dir=data)
    repo = make_repo(tmp_path)
    with Client(server.url, token=_user(data, "alice")) as alice:
        sweep = [submit(alice, repo, name=f"a{i}") for i in range(12)]
    with Client(server.url, token=_user(data, "bob")) as bob:
        runs = [submit(bob, repo, name=f"b{i}") for i in range(2)]
        for n in range(2):
            agent_factory(server.url, name=f"fair{n}", token=AGENT)
        for task in runs:
            assert wait_status(bob, task.id, *DONE, timeout=120).status is TaskStatus.COMPLETED
        started = {t.id: bob.tasks.get(t.id).started for t in [*sweep, *runs]}
    last = max(started[t.id] for t in runs if started[t.id] is not None)
    before = [i for i, at in started.items() if at is not None and at <= last]
    # Plain first-come order would start bob's tasks 13th and 14th.
    assert len(before) <= 10, f"bob's last task was start number {len(before)}"
