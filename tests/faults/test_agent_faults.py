"""An agent killed, frozen or cut off mid-task: the task reruns once elsewhere, never twice live.

Each test runs a task that prints ``<pid> line <n>`` (the first attempt forever, a
rerun ``RERUN_LINES`` lines), loses the first agent, and lets a second, idle agent
take the rerun. Then: the rerun completed as attempt 2 on the second agent; the
stored log holds the first attempt's lines only up to the lease loss and the
rerun's lines 1..N once each, in order, never interleaved; the first process is
dead; the first attempt's lease token is refused (409 stale_lease).
"""

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import requests

from runyard.client import Client
from runyard.models import Environment, Script, Task, TaskCreate, TaskStatus
from runyard_server.store import keys
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    AgentProcess,
    agent_factory,
    log_texts,
    wait_for,
    wait_status,
)
from tests.faults.proxy import CuttableProxy
from tests.faults.support import embedded_redis_url, git_repo, sync_client
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

RERUN_LINES = 30

# argv: a folder for pid files, the number of lines a rerun prints.
NUMBERED = """\
import os, pathlib, sys, time
pids = pathlib.Path(sys.argv[1])
first = not any(pids.iterdir())
(pids / str(os.getpid())).write_text("")
lines = 100_000 if first else int(sys.argv[2])
for n in range(1, lines + 1):
    try:
        print(os.getpid(), "line", n, flush=True)
    except BrokenPipeError:  # like a training step, it goes on with nobody reading
        pass
    time.sleep(0.05)
"""


@dataclass
class Scenario:
    """A server, a client on it, a task script repository and a folder of pid files."""

    server: ServerProcess
    client: Client
    repo: Path
    commit: str
    pids: Path


@pytest.fixture
def scenario(server: ServerProcess, tmp_path: Path) -> Iterator[Scenario]:
    repo, pids = tmp_path / "repo", tmp_path / "pids"
    pids.mkdir()
    commit = git_repo(repo, {"numbered.py": NUMBERED})
    with Client(server.url) as client:
        yield Scenario(server, client, repo, commit, pids)


def _submit(s: Scenario) -> Task:
    script = Script(
        repository=str(s.repo),
        commit=s.commit,
        entry_point="numbered.py",
        args=[str(s.pids), str(RERUN_LINES)],
    )
    body = TaskCreate(
        name="numbered",
        queue="default",
        create_queue=True,
        script=script,
        environment=Environment(),
    )
    return s.client.tasks.create(body)


def _pids(s: Scenario, count: int) -> list[int]:
    def enough() -> bool:
        return len(list(s.pids.iterdir())) >= count

    wait_for(enough, 60, f"{count} task process(es)")
    return sorted((int(p.name) for p in s.pids.iterdir()), key=lambda pid: _started(s, pid))


def _started(s: Scenario, pid: int) -> float:
    return (s.pids / str(pid)).stat().st_mtime_ns / 1e9


def _lines_of(s: Scenario, task_id: str, pid: int) -> list[int]:
    return [int(t.split()[2]) for t in log_texts(s.client, task_id) if t.startswith(f"{pid} ")]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_first_attempt(
    s: Scenario, agent_factory: AgentFactory, server_url: str
) -> tuple[Task, AgentProcess, int, str]:
    """The task running on a first agent, with some output stored; and its lease token."""
    first = agent_factory(server_url, name="first")
    task = _submit(s)
    (pid,) = _pids(s, 1)
    wait_for(lambda: len(_lines_of(s, task.id, pid)) >= 5, 60, "the first attempt's output")
    with sync_client(embedded_redis_url(s.server)) as r:
        token = r.hget(keys.task(task.id), "token")
    assert token
    return task, first, pid, token


def _check_rerun(s: Scenario, task: Task, old_pid: int, old_token: str, lost_lines: int) -> None:
    """The rerun finished the task, the first attempt wrote nothing after its lease was lost."""
    done = wait_status(s.client, task.id, *DONE, timeout=90)
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    assert done.attempt == 2
    workers = {w.id: w.name for w in s.client.workers.list()}
    assert workers[done.worker or ""] == "rescuer"
    old, new = _pids(s, 2)
    assert old == old_pid
    texts = [t for t in log_texts(s.client, task.id) if " line " in t]
    owners = [int(t.split()[0]) for t in texts]
    assert owners == sorted(owners, key=lambda pid: pid == new), "attempts interleaved"
    old_lines = _lines_of(s, task.id, old)
    assert old_lines == list(range(1, len(old_lines) + 1))
    assert len(old_lines) == lost_lines, "the first attempt's output was stored after its loss"
    assert _lines_of(s, task.id, new) == list(range(1, RERUN_LINES + 1))
    assert not _alive(old)
    stale = requests.post(
        f"{s.server.api}/tasks/{task.id}/completed",
        json={"lease_token": old_token, "exit_code": 0},
        timeout=10,
    )
    assert stale.status_code == 409 and stale.json()["error"] == "stale_lease"
    batch = {"lease_token": old_token, "seq": 999, "lines": [{"text": "zombie", "ts": 0}]}
    stale = requests.post(f"{s.server.api}/tasks/{task.id}/logs", json=batch, timeout=10)
    assert stale.status_code == 409 and stale.json()["error"] == "stale_lease"


def _beat_since(s: Scenario, name: str, since: datetime) -> bool:
    return any(w.name == name and w.last_heartbeat > since for w in s.client.workers.list())


def _rescued(s: Scenario, task: Task) -> bool:
    return s.client.tasks.get(task.id).attempt == 2


def test_agent_killed_mid_task_its_process_dies_and_the_task_reruns_once_elsewhere(
    scenario: Scenario, agent_factory: AgentFactory
) -> None:
    s = scenario
    task, first, old_pid, token = _start_first_attempt(s, agent_factory, s.server.url)
    agent_factory(s.server.url, name="rescuer")
    first.process.kill()
    # PDEATHSIG: the task process goes with its agent, before the lease even expires.
    wait_for(lambda: not _alive(old_pid), 10, "the killed agent's task process to die")
    lost_lines = len(_lines_of(s, task.id, old_pid))
    _check_rerun(s, task, old_pid, token, lost_lines)


def test_agent_frozen_past_its_lease_kills_its_process_on_resume_and_reports_nothing(
    scenario: Scenario, agent_factory: AgentFactory
) -> None:
    s = scenario
    task, first, old_pid, token = _start_first_attempt(s, agent_factory, s.server.url)
    agent_factory(s.server.url, name="rescuer")
    first.signal(signal.SIGSTOP)
    wait_for(lambda: _rescued(s, task), 60, "the rerun to be claimed")
    lost_lines = len(_lines_of(s, task.id, old_pid))
    first.signal(signal.SIGCONT)
    wait_for(lambda: not _alive(old_pid), 15, "the resumed agent to kill its old process")
    first.wait_log("lease", 15)
    _check_rerun(s, task, old_pid, token, lost_lines)
    assert "reported completed" not in first.log


def test_agent_cut_off_past_its_lease_fences_itself_before_the_rerun_starts(
    scenario: Scenario, agent_factory: AgentFactory
) -> None:
    s = scenario
    with CuttableProxy(s.server.port) as proxy:
        task, first, old_pid, token = _start_first_attempt(s, agent_factory, proxy.url)
        rescuer = agent_factory(s.server.url, name="rescuer")
        rescuer.wait_log("registered as")
        proxy.cut()
        # The cut-off agent kills its own process once a whole lease went unconfirmed,
        # so the first copy is dead before the server hands out the rerun.
        wait_for(lambda: not _alive(old_pid), 30, "the cut-off agent to kill its process")
        assert len(list(s.pids.iterdir())) == 1, "the rerun started while the first copy lived"
        wait_for(lambda: _rescued(s, task), 60, "the rerun to be claimed")
        lost_lines = len(_lines_of(s, task.id, old_pid))
        wait_status(s.client, task.id, *DONE, timeout=90)
        restored = datetime.now(UTC)
        proxy.restore()
        wait_for(lambda: _beat_since(s, "first", restored), 60, "the first agent to reconnect")
        _check_rerun(s, task, old_pid, token, lost_lines)
        assert "no heartbeat delivered" in first.log
        assert "reported completed" not in first.log
