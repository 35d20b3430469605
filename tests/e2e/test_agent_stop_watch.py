"""Stops reach the task within a second or so, not at the next heartbeat: a real server
with the default 30 s lease (heartbeats every 10 s) and a real agent, whose stop watch
hears of an abort or a preemption at once (``store/stops.py``, ``stop_watch.py``).

The bound asserted is generous (3 s, against up to 10 s by heartbeat alone); the
latency itself is measured by ``bench/abort_latency.py``.
"""

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import (
    Environment,
    QueueUpdate,
    Resources,
    Script,
    Task,
    TaskCreate,
    TaskStatus,
)
from tests.e2e.agent_support import DONE, AgentFactory, wait_for, wait_status
from tests.gitrepo import Repo, commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

BOUND_S = 3.0
"""Abort to SIGTERM, at most: a third of the 10 s heartbeat interval."""

# Writes "ready" to argv[1] once running; on SIGTERM, the unix time it got the signal.
TERMED = """\
import pathlib, signal, sys, time
mark = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    mark.write_text(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
mark.write_text("ready")
while True:
    time.sleep(0.05)
"""


def _repo(root: Path) -> Repo:
    path = root / "repo"
    path.mkdir()
    return commit_then_change(path, {"termed.py": TERMED}, "termed.py", "\n")


def _submit(
    client: Client,
    repo: Repo,
    mark: Path,
    *,
    queue: str = "default",
    priority: int = 0,
    gpus: float = 0,
) -> Task:
    return client.tasks.create(
        TaskCreate(
            name="termed",
            queue=queue,
            create_queue=True,
            priority=priority,
            max_retries=0,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="termed.py",
                args=[str(mark)],
            ),
            environment=Environment(requirements=[]),
            resources=Resources(gpus=gpus),
        )
    )


def _sigterm_at(mark: Path) -> float:
    """The unix time the task got SIGTERM (it wrote it to ``mark``)."""
    wait_for(lambda: mark.read_text() not in ("", "ready"), 30, "the task's SIGTERM")
    return float(mark.read_text())


def _ready(mark: Path) -> None:
    wait_for(lambda: mark.exists() and mark.read_text() == "ready", 60, "the task to run")


def test_an_abort_sigterms_the_task_within_seconds_not_at_the_next_heartbeat(
    server_factory: Callable[..., ServerProcess], agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory()  # the default 30 s lease: a heartbeat every 10 s
    agent_factory(server.url)
    repo = _repo(tmp_path)
    with Client(server.url) as client:
        for n in range(2):  # the second one after the agent watched, ended and watched again
            mark = tmp_path / f"mark{n}"
            task = _submit(client, repo, mark)
            _ready(mark)
            time.sleep(0.5)
            asked = time.time()
            client.tasks.abort(task.id)
            assert _sigterm_at(mark) - asked < BOUND_S
            assert wait_status(client, task.id, *DONE).status is TaskStatus.ABORTED


def test_a_preemption_sigterms_the_victim_within_seconds_of_the_mark(
    server_factory: Callable[..., ServerProcess], agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory("--preempt-after", "1")
    repo, mark = _repo(tmp_path), tmp_path / "victim"
    agent_factory(server.url, "--queue", "low", "--queue", "high", fake_gpus=1)
    with Client(server.url) as client:
        for name in ("low", "high"):
            client.queues.create(name)
        client.queues.update("low", QueueUpdate(preemptible=True))
        victim = _submit(client, repo, mark, queue="low", gpus=1)
        _ready(mark)
        _submit(client, repo, tmp_path / "urgent", queue="high", priority=5, gpus=1)
        termed = _sigterm_at(mark)
        marked = wait_status(client, victim.id, TaskStatus.QUEUED, *DONE).preempted_at
        assert marked is not None
        assert termed - marked.timestamp() < BOUND_S


def test_the_stop_watch_comes_back_after_a_server_restart(
    server_factory: Callable[..., ServerProcess], agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory()
    agent = agent_factory(server.url)
    repo, mark = _repo(tmp_path), tmp_path / "mark"
    with Client(server.url) as client:
        task = _submit(client, repo, mark)
        _ready(mark)
        server.stop()
        time.sleep(2)
        server.start()
        agent.wait_log("stop watch back after", timeout=60)
        asked = time.time()
        client.tasks.abort(task.id)
        assert _sigterm_at(mark) - asked < BOUND_S
        assert wait_status(client, task.id, *DONE).status is TaskStatus.ABORTED
