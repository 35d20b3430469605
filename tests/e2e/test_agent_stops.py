"""Stopping tasks and agents: abort, agent crash, drain, requeue, lost leases, refused tokens."""

import signal
import time
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    gone,
    log_texts,
    make_repo,
    pid_in,
    submit,
    wait_for,
    wait_status,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def test_abort_mid_run_sigterms_the_task_which_checkpoints(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    checkpoint, pidfile = tmp_path / "checkpoint.txt", tmp_path / "pid"
    agent_factory(server.url)
    task = submit(client, repo, "long.py", args=[str(checkpoint), str(pidfile)], requirements=[])
    pid = pid_in(pidfile)
    wait_for(lambda: "step 3" in log_texts(client, task.id), 30, "step 3 in the task log")
    asked = time.monotonic()
    client.tasks.abort(task.id)
    done = wait_status(client, task.id, *DONE, timeout=30)
    assert done.status is TaskStatus.ABORTED
    assert time.monotonic() - asked < 5
    assert checkpoint.read_text().startswith("checkpoint at step")
    assert gone(pid)
    assert any("abort requested" in text for text in log_texts(client, task.id))


def test_killed_agent_task_is_requeued_and_finished_by_another_agent(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    first_pid = tmp_path / "pid"
    doomed = agent_factory(server.url, name="doomed")
    task = submit(client, repo, "sub/sleepy.py", args=["2", str(first_pid)], requirements=[])
    pid_in(first_pid)
    doomed.process.kill()
    doomed.wait()
    first_pid.unlink()
    rescuer = agent_factory(server.url, name="rescuer")
    done = wait_status(client, task.id, *DONE, timeout=60)
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    assert done.attempt == 2
    workers = {w.id: w.name for w in client.workers.list()}
    assert workers[done.worker or ""] == "rescuer"
    assert "woke up" in log_texts(client, task.id)
    assert "reported completed" in rescuer.log


def test_sigterm_drains_running_tasks_finish_and_no_new_claims(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent = agent_factory(server.url)
    running = submit(
        client, repo, "sub/sleepy.py", args=["2", str(tmp_path / "a")], requirements=[]
    )
    waiting = submit(
        client, repo, "sub/sleepy.py", args=["0", str(tmp_path / "b")], requirements=[]
    )
    pid_in(tmp_path / "a")
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    assert client.tasks.get(running.id).status is TaskStatus.COMPLETED
    assert client.tasks.get(waiting.id).status is TaskStatus.QUEUED
    assert "draining" in agent.log


def test_second_sigterm_stops_running_tasks_and_requeues_them(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    checkpoint, pidfile = tmp_path / "checkpoint.txt", tmp_path / "pid"
    agent = agent_factory(server.url)
    task = submit(client, repo, "long.py", args=[str(checkpoint), str(pidfile)], requirements=[])
    pid = pid_in(pidfile)
    agent.signal(signal.SIGTERM)
    agent.wait_log("draining")
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    requeued = client.tasks.get(task.id)
    assert requeued.status is TaskStatus.QUEUED
    assert checkpoint.read_text().startswith("checkpoint at step")
    assert gone(pid)


def test_one_sigterm_gives_running_tasks_back_after_the_drain_timeout(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    """Kubernetes sends one SIGTERM and kills at its grace period: no second signal comes."""
    repo = make_repo(tmp_path)
    checkpoint, pidfile = tmp_path / "checkpoint.txt", tmp_path / "pid"
    agent = agent_factory(server.url, "--drain-timeout-s", "1")
    task = submit(client, repo, "long.py", args=[str(checkpoint), str(pidfile)], requirements=[])
    pid = pid_in(pidfile)
    signalled = time.monotonic()
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    assert time.monotonic() - signalled < 15
    assert client.tasks.get(task.id).status is TaskStatus.QUEUED
    assert checkpoint.read_text().startswith("checkpoint at step")
    assert gone(pid)


def test_agent_that_lost_its_lease_kills_its_process_and_reports_nothing(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    checkpoint, pidfile = tmp_path / "checkpoint.txt", tmp_path / "pid"
    frozen = agent_factory(server.url, name="frozen")
    task = submit(client, repo, "long.py", args=[str(checkpoint), str(pidfile)], requirements=[])
    orphan = pid_in(pidfile)
    pidfile.unlink()
    frozen.signal(signal.SIGSTOP)
    wait_status(client, task.id, TaskStatus.QUEUED, timeout=30)
    agent_factory(server.url, name="other")
    second = pid_in(pidfile)
    frozen.signal(signal.SIGCONT)
    wait_for(lambda: gone(orphan), 15, "the orphaned process to be killed")
    frozen.wait_log("lease lost")
    assert not gone(second)
    assert client.tasks.get(task.id).status is TaskStatus.RUNNING
    client.tasks.abort(task.id)
    assert wait_status(client, task.id, *DONE, timeout=30).status is TaskStatus.ABORTED
    assert "reported aborted" not in frozen.log


def test_refused_token_stops_the_agent_with_a_clear_message(
    server_factory: object, agent_factory: AgentFactory
) -> None:
    server = server_factory("--token", "agent:right-token")  # type: ignore[operator]
    agent = agent_factory(server.url, token="wrong-token")
    assert agent.wait(30) == 3
    assert "refused this agent's token" in agent.log
    assert "RUNYARD_TOKEN" in agent.log


def test_idle_agent_uses_almost_no_cpu(server: ServerProcess, agent_factory: AgentFactory) -> None:
    agent = agent_factory(server.url)
    agent.wait_log("registered as")
    time.sleep(1)
    before = agent.cpu_seconds()
    time.sleep(10)
    used = agent.cpu_seconds() - before
    print(f"idle agent CPU: {used:.3f}s over 10s")
    assert used < 0.3


def test_task_keeps_running_while_the_server_restarts(
    server_factory: object, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory("--lease", "20", "--first-lease", "20")  # type: ignore[operator]
    repo = make_repo(tmp_path)
    checkpoint, pidfile = tmp_path / "checkpoint.txt", tmp_path / "pid"
    agent = agent_factory(server.url)
    with Client(server.url) as client:
        task = submit(
            client, repo, "long.py", args=[str(checkpoint), str(pidfile)], requirements=[]
        )
        pid = pid_in(pidfile)
        server.stop()
        time.sleep(7)  # longer than the client's own retries
        assert not gone(pid)
        server.start()
        wait_for(lambda: len(log_texts(client, task.id)) > 50, 30, "output after the restart")
        client.tasks.abort(task.id)
        assert wait_status(client, task.id, *DONE, timeout=30).status is TaskStatus.ABORTED
        steps = [int(t.split()[1]) for t in log_texts(client, task.id) if t.startswith("step ")]
    assert steps == list(range(1, len(steps) + 1))
    assert "not delivered, retrying" in agent.log


def test_idle_agent_drains_at_once_after_its_claim_returns(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    agent = agent_factory(server.url)
    agent.wait_log("registered as")
    signalled = time.monotonic()
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    assert time.monotonic() - signalled < 2 + 3  # --poll-wait-s 2, plus slack
    assert "agent stopped" in agent.log
    assert all(not w.alive or w.name != "agent0" for w in client.workers.list())
