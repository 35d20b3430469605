"""Slurm executor bench: how long a queued task takes to run in Slurm, and what
supervising many jobs costs the agent.

    .venv/bin/python bench/slurm.py [--quick] [--out PATH]

Starts the tests' Slurm cluster on this machine (``tests/slurm_cluster.py``: munged,
slurmctld, slurmd as root; its default partition, used here, has one node), a
``runyard-server`` and one ``runyard-agent --executor slurm`` (default poll interval,
2 s), then measures:

  floor      ``sbatch`` → the job RUNNING in ``squeue``, for a bare job (Slurm's own
             scheduling latency; nothing of Runyard)
  enqueue    task created on a queue → its job RUNNING, on an idle node (claim,
             code checkout, ``sbatch``, Slurm's scheduling)
  supervise  N tasks submitted at once, each filling the node (one runs, the rest
             wait with reason ``Resources``/``Priority``): the agent's CPU over a
             minute while it follows all of them

Both latencies are sampled by polling ``squeue`` every 20 ms, the same way for both.
Writes JSON (default bench/results/slurm.json).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _harness import bench_main, log
from _report import target_lines, verdicts

from runyard.client import Client
from runyard.models import Resources, Script, TaskCreate, TaskStatus
from tests.gitrepo import commit_then_change
from tests.servers import ServerProcess
from tests.slurm_cluster import SlurmCluster, missing, start, stop

HERE = Path(__file__).resolve().parent
AGENT = str(Path(sys.executable).parent / "runyard-agent")
SLEEP = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
TARGETS: list[tuple[str, str, float, str]] = [
    ("agent CPU, jobs supervised (% core)", "supervise.agent_cpu_pct", 2.0, "le"),
]


def _squeue(cluster: SlurmCluster) -> dict[str, tuple[str, str]]:
    out = cluster.run("squeue", "--noheader", "--states=all", "--format=%i|%j|%T")
    jobs = {}
    for line in out.splitlines():
        job_id, name, state = line.split("|")
        jobs[job_id] = (name, state)
    return jobs


def _wait(cluster: SlurmCluster, found: Any, timeout: float = 60.0) -> float:
    """Poll squeue every 20 ms until ``found(jobs)`` is true; the time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found(_squeue(cluster)):
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError("timed out waiting on squeue")


def _idle(cluster: SlurmCluster) -> None:
    _wait(cluster, lambda jobs: all(s not in ("RUNNING", "PENDING") for _, s in jobs.values()))


def _floor(cluster: SlurmCluster, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        sent = time.monotonic()
        job = cluster.run("sbatch", "--parsable", "--output=/dev/null", "--wrap", "sleep 600")
        job = job.strip()
        seen = _wait(cluster, lambda jobs, job=job: jobs.get(job, ("", ""))[1] == "RUNNING")
        times.append(seen - sent)
        cluster.run("scancel", job)
        _idle(cluster)
    return times


def _task(repo: Any, i: int, cpus: float) -> TaskCreate:
    return TaskCreate(
        name=f"bench-{i}",
        queue="slurm",
        create_queue=True,
        script=Script(repository=str(repo.path), commit=repo.commit, entry_point="sleep.py"),
        resources=Resources(cpus=cpus),
    )


def _enqueue(cluster: SlurmCluster, client: Client, repo: Any, samples: int) -> list[float]:
    times = []
    for i in range(samples):
        sent = time.monotonic()
        task = client.tasks.create(_task(repo, i, 0))

        def running(jobs: dict[str, tuple[str, str]], tid: str = task.id) -> bool:
            return any(f".{tid}." in name and s == "RUNNING" for name, s in jobs.values())

        times.append(_wait(cluster, running) - sent)
        client.tasks.abort(task.id)
        _wait_final(client, task.id)
        _idle(cluster)
    return times


def _wait_final(client: Client, task_id: str) -> None:
    deadline = time.monotonic() + 120
    while client.tasks.get(task_id).status not in (TaskStatus.ABORTED, TaskStatus.FAILED):
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {task_id} did not end")
        time.sleep(0.2)


def _supervise(
    cluster: SlurmCluster, client: Client, repo: Any, agent: psutil.Process, jobs: int
) -> dict[str, Any]:
    started = time.monotonic()
    for i in range(jobs):
        client.tasks.create(_task(repo, i, cluster.cpus))

    def all_in(listed: dict[str, tuple[str, str]]) -> bool:
        ours = [s for name, s in listed.values() if name.startswith("ry.")]
        return sum(s in ("RUNNING", "PENDING") for s in ours) >= jobs

    _wait(cluster, all_in, timeout=60 + jobs * 2)
    submit_s = time.monotonic() - started
    log(f"{jobs} jobs submitted in {submit_s:.1f} s; measuring the agent for 60 s")
    time.sleep(5)
    before, at = agent.cpu_times(), time.monotonic()
    time.sleep(60)
    after, end = agent.cpu_times(), time.monotonic()
    used = (after.user + after.system) - (before.user + before.system)
    return {
        "jobs": jobs,
        "submit_s": round(submit_s, 1),
        "agent_cpu_pct": round(100 * used / (end - at), 2),
        "agent_threads": agent.num_threads(),
        "agent_rss_mb": round(agent.memory_info().rss / 2**20, 1),
    }


def _ms(times: list[float]) -> dict[str, float]:
    return {
        "p50": round(1000 * statistics.median(times), 1),
        "max": round(1000 * max(times), 1),
        "n": len(times),
    }


def run(quick: bool) -> dict[str, Any]:
    why = missing()
    if why is not None:
        raise SystemExit(f"bench/slurm.py: {why}")
    samples, jobs = (5, 100) if quick else (10, 500)
    with tempfile.TemporaryDirectory(prefix="runyard-bench-slurm-") as tmp:
        root = Path(tmp)
        cluster, daemons = start(root / "slurm")
        server = ServerProcess(root / "server", [], root / "server.log").start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_SERVER=server.url, SLURM_CONF=str(cluster.conf))
        argv = [AGENT, "--executor", "slurm", "--queue", "slurm", "--name", "bench"]
        argv += ["--cache-dir", str(root / "cache"), "--slots", str(jobs + 10)]
        with (root / "agent.log").open("ab") as agent_log:
            agent = subprocess.Popen(argv, env=env, stdout=agent_log, stderr=agent_log)
        try:
            (root / "repo").mkdir()
            repo = commit_then_change(root / "repo", {"sleep.py": SLEEP}, "sleep.py", "")
            with Client(server.url) as client:
                log(f"floor: {samples} bare sbatch jobs")
                floor = _floor(cluster, samples)
                log(f"enqueue: {samples} tasks, one at a time on an idle node")
                enqueue = _enqueue(cluster, client, repo, samples)
                supervise = _supervise(cluster, client, repo, psutil.Process(agent.pid), jobs)
        finally:
            agent.kill()
            agent.wait()
            server.stop()
            stop(cluster, daemons)
    return {
        "floor_ms": _ms(floor),
        "enqueue_ms": _ms(enqueue),
        "supervise": supervise,
        "poll_s": 2.0,
    }


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    floor, enqueue, sup = results["floor_ms"], results["enqueue_ms"], results["supervise"]
    lines = [
        "Slurm executor (one-node slurm-wlm 22.05 on this machine, agent polls every 2 s)",
        f"  sbatch → RUNNING (Slurm's floor)   p50 {floor['p50']} ms, max {floor['max']} ms",
        f"  enqueue → job RUNNING             p50 {enqueue['p50']} ms, max {enqueue['max']} ms",
        f"  {sup['jobs']} jobs submitted in {sup['submit_s']} s; agent CPU "
        f"{sup['agent_cpu_pct']} % of a core, {sup['agent_threads']} threads, "
        f"{sup['agent_rss_mb']} MB RSS",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "slurm.json",
        quick_help="5 samples and 100 jobs instead of 10 and 500",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
