"""A task whose process ends while the server is down keeps its result.

The agent fences itself (kills its tasks) once 3/4 of a lease went without a
delivered heartbeat, so a rerun elsewhere never overlaps a live copy. A process that
already exited is no live copy: its result is kept and reported once the server is
back, and the server takes it while that lease is still the task's. (0.1 dropped it
with "killed now, reporting nothing", and the task ran again.) The jobs process is
off here so that the lease, expired during the outage, is not reaped before the
agent reconnects: that race, which the rerun wins, is the token check's, tested in
``test_queue_engine_leases``.
"""

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import Environment, Script, TaskCreate, TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    agent_factory,
    log_texts,
    wait_for,
    wait_status,
)
from tests.faults.support import children_of, git_repo, wait_gone
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

# Ends (exit 0) the moment the server stops answering, well before the agent's fence.
UNTIL_SERVER_GONE = """\
import os, time, urllib.request
health = os.environ["RUNYARD_SERVER"] + "/api/v1/healthz"
print("watching", health, flush=True)
while True:
    try:
        urllib.request.urlopen(health, timeout=1).close()
    except OSError:
        break
    time.sleep(0.05)
print("done", flush=True)
"""


def _printed(client: Client, task_id: str, prefix: str) -> bool:
    return any(text.startswith(prefix) for text in log_texts(client, task_id))


def test_task_that_ends_during_a_server_outage_is_reported_when_the_server_is_back(
    server_factory: Callable[..., ServerProcess], agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory(
        "--redis-fsync", "always", "--no-jobs", "--lease", "3", "--first-lease", "3"
    )
    repo = tmp_path / "repo"
    commit = git_repo(repo, {"watch.py": UNTIL_SERVER_GONE})
    script = Script(repository=str(repo), commit=commit, entry_point="watch.py")
    with Client(server.url) as client:
        agent = agent_factory(server.url, name="keeper")
        body = TaskCreate(
            name="watch",
            queue="default",
            create_queue=True,
            script=script,
            environment=Environment(),
        )
        task = client.tasks.create(body)
        wait_for(lambda: _printed(client, task.id, "watching"), 90, "the task's first line")
        children = children_of(server)
        server.kill()
        wait_gone(children)  # meanwhile the task ends
        agent.wait_log("heartbeat failed", 15)
        time.sleep(4)  # past 3/4 of the lease (2.25 s) and the whole lease without a beat
        server.start()
        done = wait_status(client, task.id, *DONE, timeout=60)
        texts = log_texts(client, task.id)
    assert done.status is TaskStatus.COMPLETED and done.attempt == 1
    assert "done" in texts
    assert "reporting nothing" not in agent.log
