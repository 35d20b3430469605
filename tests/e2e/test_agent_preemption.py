"""Priority preemption end to end: a real server (its jobs process decides), a real agent
with a fake GPU, and a task that checkpoints on SIGTERM and resumes from the file."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
from tests.e2e.agent_support import DONE, AgentFactory, log_texts, wait_for, wait_status
from tests.gitrepo import Repo, commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

RUNYARD = Path(sys.executable).with_name("runyard")

# Counts steps from its checkpoint (argv[1]) on; on SIGTERM saves the step and exits.
# A run that resumed finishes three steps later, unless argv[2] says "forever".
RESUMABLE = """\
import pathlib, signal, sys, time
ckpt = pathlib.Path(sys.argv[1])
forever = sys.argv[2:] == ["forever"]
start = int(ckpt.read_text()) if ckpt.exists() else 0
if start:
    print(f"resumed from checkpoint at step {start}", flush=True)
step = start
def save(signum, frame):
    ckpt.write_text(str(step))
    print(f"checkpointed at step {step}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
while forever or not start or step < start + 3:
    step += 1
    print("step", step, flush=True)
    time.sleep(0.2)
print(f"finished at step {step}", flush=True)
"""

QUICK = 'print("urgent work done")\n'


def _repo(root: Path) -> Repo:
    path = root / "repo"
    path.mkdir()
    return commit_then_change(
        path, {"resumable.py": RESUMABLE, "quick.py": QUICK}, "quick.py", "\n"
    )


def _submit(
    client: Client, repo: Repo, entry: str, queue: str, priority: int, args: list[str]
) -> Task:
    return client.tasks.create(
        TaskCreate(
            name=entry,
            queue=queue,
            priority=priority,
            max_retries=0,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point=entry,
                args=args,
            ),
            environment=Environment(requirements=[]),
            resources=Resources(gpus=1),
        )
    )


@pytest.fixture
def client(server_factory: Callable[..., ServerProcess]) -> Iterator[Client]:
    """A client of a server that lets a task preempt after waiting 1 s and whose agents
    heartbeat every second (3 s leases), with queues ``low`` and ``high``."""
    server = server_factory("--lease", "3", "--first-lease", "3", "--preempt-after", "1")
    with Client(server.url) as client:
        for name in ("low", "high"):
            client.queues.create(name)
        yield client


def test_a_higher_priority_task_preempts_one_that_checkpoints_and_resumes(
    client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    client.queues.update("low", QueueUpdate(preemptible=True))
    repo, checkpoint = _repo(tmp_path), tmp_path / "checkpoint.txt"
    # "low" first: only the hold for the preemptor keeps the requeued victim off the GPU.
    agent = agent_factory(client.server, "--queue", "low", "--queue", "high", fake_gpus=1)
    victim = _submit(client, repo, "resumable.py", "low", 0, [str(checkpoint)])
    wait_for(lambda: "step 3" in log_texts(client, victim.id), 60, "the victim's step 3")

    urgent = _submit(client, repo, "quick.py", "high", 5, [])
    done = wait_status(client, urgent.id, *DONE, timeout=60)
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    assert "urgent work done" in log_texts(client, urgent.id)
    saved = int(checkpoint.read_text())
    assert saved >= 3

    rerun = wait_status(client, victim.id, *DONE, timeout=60)
    assert rerun.status is TaskStatus.COMPLETED, rerun.failure_reason
    assert (rerun.preempted, rerun.preempted_by, rerun.attempt) == (1, urgent.id, 1)
    assert rerun.preempted_at is not None and done.started is not None
    assert rerun.preempted_at <= done.started
    log = log_texts(client, victim.id)
    assert any(f"preempted by task {urgent.id}" in line for line in log)
    assert f"checkpointed at step {saved}" in log
    assert f"resumed from checkpoint at step {saved}" in log
    assert f"finished at step {saved + 3}" in log
    assert f"task {victim.id}: preempted by task {urgent.id}" in agent.log
    show = subprocess.run(
        [str(RUNYARD), "task", "show", victim.id],
        env={**os.environ, "RUNYARD_SERVER": client.server},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"preempted:   once, last by task {urgent.id}" in show, show


def test_a_queue_not_marked_preemptible_keeps_its_task_running(
    client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    client.queues.update("low", QueueUpdate(preemptible=False))
    repo, checkpoint = _repo(tmp_path), tmp_path / "checkpoint.txt"
    agent_factory(client.server, "--queue", "low", "--queue", "high", fake_gpus=1)
    low = _submit(client, repo, "resumable.py", "low", 0, [str(checkpoint)])
    wait_status(client, low.id, TaskStatus.RUNNING, timeout=60)
    urgent = _submit(client, repo, "quick.py", "high", 9, [])

    # Were it preempted, the mark would come within 2 s and the agent hear it within 1 s.
    time.sleep(4)

    assert client.tasks.get(urgent.id).status is TaskStatus.QUEUED
    still = client.tasks.get(low.id)
    assert (still.status, still.preempted) == (TaskStatus.RUNNING, 0)
    assert not checkpoint.exists()


def test_a_task_preempted_twice_in_the_window_is_not_preempted_a_third_time(
    client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    client.queues.update("low", QueueUpdate(preemptible=True))
    repo, checkpoint = _repo(tmp_path), tmp_path / "checkpoint.txt"
    agent_factory(client.server, "--queue", "low", "--queue", "high", fake_gpus=1)
    victim = _submit(client, repo, "resumable.py", "low", 0, [str(checkpoint), "forever"])
    for round_ in (1, 2):
        wait_status(client, victim.id, TaskStatus.RUNNING, timeout=60)
        urgent = _submit(client, repo, "quick.py", "high", 5, [])
        done = wait_status(client, urgent.id, *DONE, timeout=60)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        assert client.tasks.get(victim.id).preempted == round_
    wait_for(
        lambda: (
            f"resumed from checkpoint at step {checkpoint.read_text()}"
            in log_texts(client, victim.id)
        ),
        60,
        "the victim to run again",
    )

    third = _submit(client, repo, "quick.py", "high", 5, [])
    # Were it preempted, the mark would come within 2 s and the agent hear it within 1 s.
    time.sleep(4)

    assert client.tasks.get(third.id).status is TaskStatus.QUEUED
    still = client.tasks.get(victim.id)
    assert (still.status, still.preempted) == (TaskStatus.RUNNING, 2)
    client.tasks.abort(victim.id)
    assert wait_status(client, third.id, *DONE, timeout=60).status is TaskStatus.COMPLETED
