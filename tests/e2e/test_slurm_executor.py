"""The Slurm executor on a real one-node cluster (``slurm_cluster``, started once a session).

A real ``runyard-agent --executor slurm`` submits each task as a batch job; the job
builds the venv on the "compute node" (this machine, through slurmd) in the agent's
cache directory and runs the entry point; the agent follows the job with ``squeue``
and tails its output files. Each test ends with the store's consistency checker.
"""

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import CloneRequest, Resources, Script, Task, TaskCreate, TaskStatus
from runyard_agent.executors.slurm.cluster import parse_node
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    AgentProcess,
    agent_factory,
    log_texts,
    make_repo,
    submit,
    wait_for,
    wait_status,
)
from tests.e2e.test_gangs import GANG, submit_gang
from tests.faults.consistency import problems
from tests.faults.support import embedded_redis_url, sync_client
from tests.gitrepo import commit_then_change
from tests.sdk_support import make_repo as make_sdk_repo
from tests.sdk_support import run_script
from tests.servers import ServerProcess
from tests.slurm_cluster import SlurmCluster

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]


@pytest.fixture
def slurm_server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """A server whose leases outlive an agent restart (the re-adoption test)."""
    return server_factory("--lease", "20", "--first-lease", "5")


@pytest.fixture
def consistent(slurm_server: ServerProcess, slurm_cluster: SlurmCluster) -> Iterator[None]:
    """After the test: the store is whole; then no job of it is left in Slurm."""
    yield
    try:
        with sync_client(embedded_redis_url(slurm_server)) as r:
            assert problems(r) == []
    finally:
        slurm_cluster.run("scancel", "--user=root")


def start_agent(
    agent_factory: AgentFactory,
    server: ServerProcess,
    cluster: SlurmCluster,
    *args: str,
    name: str | None = None,
    ready: str = "registered as",
) -> AgentProcess:
    agent = agent_factory(
        server.url,
        "--executor", "slurm", "--slurm-poll-s", "0.5", "--abort-grace-s", "3", *args,
        # Each test's agent its own name: it re-adopts no job of an earlier test.
        name=name or f"slurm-{server.port}",
        extra_env={"SLURM_CONF": str(cluster.conf)},
    )  # fmt: skip
    agent.wait_log(ready, 60)
    return agent


def job_of(cluster: SlurmCluster, task_id: str) -> str:
    """The Slurm job id of the task (from the job name), once it was submitted."""
    found: list[str] = []

    def listed() -> bool:
        out = cluster.run("squeue", "--noheader", "--states=all", "--format=%i %j")
        found[:] = [line.split()[0] for line in out.splitlines() if f".{task_id}." in line]
        return bool(found)

    wait_for(listed, 60, f"a Slurm job for task {task_id}")
    return found[-1]


def wait_log(client: Client, task_id: str, text: str, timeout: float = 60.0) -> list[str]:
    texts: list[str] = []

    def seen() -> bool:
        texts[:] = log_texts(client, task_id)
        return any(text in line for line in texts)

    wait_for(seen, timeout, f"{text!r} in the log of task {task_id}")
    return texts


def long_task(client: Client, tmp_path: Path, name: str, cpus: float = 0) -> Task:
    """A task that prints a step every 0.2 s until SIGTERM, which writes NAME.ckpt."""
    (tmp_path / name).mkdir()
    repo = make_repo(tmp_path / name)
    return client.tasks.create(
        TaskCreate(
            name=name,
            queue="default",
            create_queue=True,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="long.py",
                args=[str(tmp_path / f"{name}.ckpt"), str(tmp_path / f"{name}.pid")],
            ),
            resources=Resources(cpus=cpus),
        )
    )


def test_a_cloned_task_reruns_through_slurm_with_its_diff_override_logs_metrics_and_artifact(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    repo = make_sdk_repo(tmp_path)
    local = run_script(repo / "train.py", "slurm", "ok", server_url=slurm_server.url)
    assert local.returncode == 0, local.stderr
    start_agent(agent_factory, slurm_server, slurm_cluster)
    with Client(slurm_server.url) as client:
        original = client.tasks.list(project="slurm").items[0].id
        clone = client.tasks.clone(
            original,
            CloneRequest(overrides={"General/lr": 0.01}, queue="default", create_queue=True),
        )
        done = wait_status(client, clone.id, *DONE, timeout=180)
        texts = log_texts(client, clone.id)
        assert done.status is TaskStatus.COMPLETED, (done.failure_reason, texts)
        assert any(t.startswith("submitted to Slurm as job") for t in texts), texts
        assert any(t.startswith("running in Slurm: job") for t in texts), texts
        assert any(t.startswith("lr=0.01 epochs=2") for t in texts), texts
        assert "uncommitted change applied" in texts
        assert client.metrics.read(clone.id).final == {"val/acc": pytest.approx(0.51)}
        assert [a.name for a in client.artifacts.list(clone.id)] == ["model.bin"]


def test_a_job_behind_a_busy_node_shows_its_slurm_reason_and_abort_stops_both(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    start_agent(agent_factory, slurm_server, slurm_cluster)
    with Client(slurm_server.url) as client:
        first = long_task(client, tmp_path, "first", cpus=slurm_cluster.cpus)
        # Live: its steps reach the server while it runs.
        wait_log(client, first.id, "step 3", 120)
        second = long_task(client, tmp_path, "second", cpus=slurm_cluster.cpus)
        texts = wait_log(client, second.id, "pending in Slurm: Resources")
        assert client.tasks.get(second.id).status is TaskStatus.RUNNING, texts
        # The record says it too, beside its status (the next heartbeat carries it).
        job = job_of(slurm_cluster, second.id)
        pending = f"pending in Slurm: Resources (job {job})"
        wait_for(
            lambda: client.tasks.get(second.id).state_detail == pending, 30, "the pending record"
        )
        client.tasks.abort(first.id)
        aborted = wait_status(client, first.id, *DONE, timeout=60)
        assert aborted.status is TaskStatus.ABORTED
        # SIGTERM reached the script (it wrote its checkpoint) before the job ended.
        assert (tmp_path / "first.ckpt").read_text().startswith("checkpoint at step")
        wait_log(client, second.id, "running in Slurm: job")
        wait_for(lambda: client.tasks.get(second.id).state_detail is None, 30, "the detail cleared")
        client.tasks.abort(second.id)
        assert wait_status(client, second.id, *DONE, timeout=60).status is TaskStatus.ABORTED


def test_a_job_at_its_time_limit_fails_with_slurms_reason(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    start_agent(agent_factory, slurm_server, slurm_cluster, "--slurm-time-limit-s", "2")
    with Client(slurm_server.url) as client:
        task = long_task(client, tmp_path, "slow")
        # slurmctld checks time limits about every 30 s.
        done = wait_status(client, task.id, *DONE, timeout=150)
        assert done.status is TaskStatus.FAILED
        assert done.failure_reason is not None
        assert "it reached its time limit (TIMEOUT" in done.failure_reason


def test_a_job_cancelled_from_outside_is_reported(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    start_agent(agent_factory, slurm_server, slurm_cluster)
    with Client(slurm_server.url) as client:
        task = long_task(client, tmp_path, "cancelled")
        wait_log(client, task.id, "step 2", 120)
        slurm_cluster.run("scancel", job_of(slurm_cluster, task.id))
        done = wait_status(client, task.id, *DONE, timeout=60)
        assert done.status is TaskStatus.FAILED
        assert done.failure_reason is not None
        assert "cancelled in Slurm from outside Runyard" in done.failure_reason


def test_an_agent_restart_re_adopts_a_running_job_and_its_log_goes_on_without_a_gap(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    agent = start_agent(agent_factory, slurm_server, slurm_cluster)
    with Client(slurm_server.url) as client:
        (tmp_path / "sleepy").mkdir()
        repo = make_repo(tmp_path / "sleepy")
        pid = tmp_path / "sleepy.pid"
        task = submit(client, repo, "sub/sleepy.py", args=["8", str(pid)], requirements=[])
        wait_log(client, task.id, "sleeping 8", 120)
        agent.signal(signal.SIGTERM)
        agent.wait_log("draining")
        agent.signal(signal.SIGTERM)
        assert agent.wait(60) == 0
        assert "left running without the agent" in agent.log
        job = job_of(slurm_cluster, task.id)
        state = slurm_cluster.run("squeue", "--noheader", "-j", job, "--format=%T").strip()
        assert state == "RUNNING"
        again = start_agent(
            agent_factory, slurm_server, slurm_cluster, ready="carrying on as worker"
        )
        again.wait_log(f"re-adopting slurm job {job}")
        done = wait_status(client, task.id, *DONE, timeout=60)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        texts = log_texts(client, task.id)
        assert texts.count("sleeping 8") == 1 and texts.count("woke up") == 1, texts
        assert "an agent restart re-adopted this task's job" in texts


def test_the_agent_sees_the_partitions_largest_node(slurm_cluster: SlurmCluster) -> None:
    done = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--format=%c|%m|%G"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpus, memory, gpus, _ = parse_node(done.stdout.splitlines()[0])
    assert (cpus, memory, gpus) == (slurm_cluster.cpus, 2000, 0)


def test_a_node_failure_puts_the_task_back_in_its_queue_and_it_runs_again(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    start_agent(agent_factory, slurm_server, slurm_cluster)
    node = f"NodeName={slurm_cluster.node}"
    with Client(slurm_server.url) as client:
        task = long_task(client, tmp_path, "nodefail")
        wait_log(client, task.id, "step 2", 120)
        # Slurm kills the job (NODE_FAIL); with ReturnToService=2 the node, whose slurmd
        # still answers, is back at once.
        slurm_cluster.run("scontrol", "update", node, "State=DOWN", "Reason=runyard-test")
        texts = wait_log(client, task.id, "its node failed (NODE_FAIL")
        assert any("back to its queue" in line for line in texts), texts
        wait_for(lambda: log_texts(client, task.id).count("step 2") == 2, 120, "the second attempt")
        # Given back, not failed: the rerun does not count against max_retries.
        rerun = client.tasks.get(task.id)
        assert rerun.status is TaskStatus.RUNNING and rerun.attempt == 1
        assert rerun.failure_reason is None
        client.tasks.abort(task.id)
        assert wait_status(client, task.id, *DONE, timeout=60).status is TaskStatus.ABORTED


def test_a_two_node_task_is_one_job_whose_ranks_rendezvous_through_slurms_variables(
    slurm_server: ServerProcess,
    slurm_cluster: SlurmCluster,
    agent_factory: AgentFactory,
    tmp_path: Path,
    consistent: None,
) -> None:
    (tmp_path / "repo").mkdir()
    repo = commit_then_change(tmp_path / "repo", {"gang.py": GANG}, "gang.py", "\n")
    # One agent, no gang of agents: it takes both ranks under its one lease.
    start_agent(
        agent_factory, slurm_server, slurm_cluster, "--slurm-partition", slurm_cluster.multi
    )
    with Client(slurm_server.url) as client:
        task = submit_gang(client, repo, "done", tmp_path / "out", nodes=2)
        done = wait_status(client, task.id, *DONE, timeout=180)
        texts = log_texts(client, task.id)
        assert done.status is TaskStatus.COMPLETED, (done.failure_reason, texts)
        assert done.worker is not None and done.attempt == 1
        # Both nodes ran a rank: rank 0 on the first, which is MASTER_ADDR.
        running = next(t for t in texts if t.startswith("running in Slurm: job"))
        assert running.endswith(f"on {slurm_cluster.node},{slurm_cluster.node}-b"), running
        assert "rendezvous of 2 ranks" in " ".join(texts), texts
        assert f"connected to {slurm_cluster.node}:" in " ".join(texts), texts
        assert sorted(p.name for p in (tmp_path / "out").glob("pid*")) == ["pid0", "pid1"]
