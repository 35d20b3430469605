"""Sweeps bench: how fast the controller refills a slot, how fast a pruned trial is told
to stop, and what the controller costs beside the server.

    .venv/bin/python bench/sweeps.py [--quick] [--out PATH]

One embedded Redis and a ``runyard-server`` (with its jobs process, where the sweep
controller runs) with 3 s leases (the agents heartbeat each second), and real
``runyard-agent`` processes:

  refill   a sweep of no-op trials: each trial's task end (its ``finished``, the server's
           clock) → the next trial's task created (the controller's clock, same machine)
  prune    a sweep with the median pruner whose trials with x > 0.5 log a bad objective
           at every step: the controller's "trial.pruning" log line → the SIGTERM the
           trial's process records. It includes the agent's heartbeat (lease / 3 = 1 s
           here), which is how an abort reaches an agent.
  cpu      1,000 no-op trials (200 with --quick), parallel 16, 4 agents: the CPU seconds
           the jobs process spent beyond what it spends on as many plain no-op tasks
           (run first, all queued at once: the archiver, reaper and preemption loop's
           share; the idle polling of its loops taken off both), over the API process's
           CPU seconds for the sweep.

Writes JSON (default bench/results/sweeps.json).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _agent_procs import Agent
from _harness import bench_main, check, cpu_seconds, log, running_stack, summary_ms
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
IDLE_S = 10.0
"""How long the jobs process's idle CPU (its loops' polling) is measured; that rate times
each phase's wall time is taken off the phase's jobs CPU."""
TARGETS: list[tuple[str, str, float, str]] = [
    ("trial end → next enqueued p50 (ms)", "refill_ms.p50", 50.0, "le"),
    ("prune decision → SIGTERM max (ms)", "prune_ms.max", 1000.0, "le"),
    ("controller CPU / server CPU (%)", "cpu.controller_over_server_pct", 5.0, "le"),
]

# A trial that does nothing but report its objective once (what any trial does).
NOOP = """\
from runyard import Task
Task.init(project="bench", name="noop", requirements=[]).log_metric("loss", 1.0, step=0)
"""

PRUNE = """\
import os, pathlib, signal, sys, time
from runyard import Task
task = Task.init(project="bench", name="prune", requirements=[])
args = task.connect({"x": 0.0}, name="Args")
out = pathlib.Path(sys.argv[1]) / os.environ["RUNYARD_TASK_ID"]
def stop(signum, frame):
    out.write_text(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
for step in range(30):
    task.log_metric("loss", 10.0 if args["x"] > 0.5 else 1.0 / (step + 1), step=step)
    task.flush()
    time.sleep(0.1)
"""


def _repo(root: Path) -> tuple[str, str]:
    path = root / "repo"
    path.mkdir()
    (path / "noop.py").write_text(NOOP)
    (path / "prune.py").write_text(PRUNE)
    git = ["git", "-C", str(path), "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "sweep bench"], check=True, timeout=30)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True, timeout=30
    )
    return str(path), head.stdout.strip()


def _base(api: str, repo: tuple[str, str], entry: str, args: list[str]) -> str:
    body = {
        "name": entry,
        "project": "bench",
        "script": {"repository": repo[0], "commit": repo[1], "entry_point": entry, "args": args},
        "environment": {"requirements": []},
        "params": {"Args": {"x": 0.0}},
    }
    return str(check(requests.post(f"{api}/tasks", json=body, timeout=30), "base")["id"])


def _sweep(api: str, base: str, **fields: Any) -> str:
    body = {"base": base, "params": {"Args/x": "uniform(0,1)"}, "objective": "loss"}
    body |= {"queue": "sweeps", "sampler": "random", "seed": 1, **fields}
    return str(check(requests.post(f"{api}/sweeps", json=body, timeout=30), "sweep")["id"])


def _wait(api: str, sweep_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sweep: dict[str, Any] = check(requests.get(f"{api}/sweeps/{sweep_id}", timeout=30), "get")
        live = sweep["counts"]["queued"] + sweep["counts"]["running"]
        if sweep["status"] != "running" and live == 0:
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(f"sweep {sweep_id} still {sweep['status']} after {timeout:g} s")
        time.sleep(0.5)


class _Meter:
    """CPU seconds of the API and jobs processes since the last read."""

    def __init__(self, server: int, jobs: int) -> None:
        self.pids = {"server": server, "jobs": jobs}
        self.last = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def read(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        used = {name: now[name] - self.last[name] for name in now}
        self.last = now
        return used


def _plain(api: str, base: str, count: int) -> None:
    """``count`` clones of ``base``, queued at once, run to their end."""
    source = check(requests.get(f"{api}/tasks/{base}", timeout=30), "base")
    spec = {k: source[k] for k in ("name", "project", "script", "environment", "params")}
    body = {"tasks": [{**spec, "queue": "sweeps"} for _ in range(count)]}
    ids = check(requests.post(f"{api}/tasks:batch", json=body, timeout=60), "batch")["ids"]
    deadline = time.monotonic() + 3600
    for task_id in ids:
        while True:
            task = check(requests.get(f"{api}/tasks/{task_id}", timeout=30), "task")
            if task["status"] in ("completed", "failed", "aborted"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"plain task {task_id} still {task['status']}")
            time.sleep(0.2)


def _trials(api: str, sweep_id: str) -> list[dict[str, Any]]:
    page = check(requests.get(f"{api}/sweeps/{sweep_id}/trials", timeout=30), "trials")
    return list(page["trials"])


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _refill_gaps(api: str, sweep_id: str) -> list[float]:
    """Each trial end that freed a slot → the first trial task created after it."""
    tasks = [
        check(requests.get(f"{api}/tasks/{t['task_id']}", timeout=30), "task")
        for t in _trials(api, sweep_id)
    ]
    created = sorted(_stamp(t["created"]) for t in tasks)
    gaps = []
    for task in tasks:
        ended = _stamp(task["finished"])
        after = [c for c in created if c >= ended]
        if after:
            gaps.append(after[0] - ended)
    return gaps


def _prune_gaps(api: str, sweep_id: str, terms: Path) -> list[float]:
    log_page = check(requests.get(f"{api}/sweeps/{sweep_id}/events", timeout=30), "events")
    decided = {
        e["trial"]: _stamp(e["time"]) for e in log_page["events"] if e["kind"] == "trial.pruning"
    }
    gaps = []
    for trial in _trials(api, sweep_id):
        got = terms / str(trial["task_id"])
        if trial["number"] in decided and got.exists():
            gaps.append(float(got.read_text()) - decided[trial["number"]])
    return gaps


def run(quick: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    repo = _repo(root)
    terms = root / "terms"
    terms.mkdir()
    trials = 200 if quick else 1000
    with running_stack(root, ("--lease", "3", "--first-lease", "3")) as stack:
        api = stack.api
        check(requests.post(f"{api}/queues", json={"name": "sweeps"}, timeout=30), "queue")
        args = ("--queue", "sweeps", "--poll-wait-s", "2", "--abort-grace-s", "5")
        agents = [Agent(stack.api.removesuffix("/api/v1"), root, f"a{i}", *args) for i in range(4)]
        try:
            for agent in agents:
                agent.wait_log("registered as", 60)
            log("prune: 12 trials, parallel 4, median pruner")
            pruned = _sweep(
                api, _base(api, repo, "prune.py", [str(terms)]), trials=12, parallel=4,
                pruner="median", pruner_options={"n_startup_trials": 2, "n_warmup_steps": 1},
            )  # fmt: skip
            prune_sweep = _wait(api, pruned, 600)
            prune = _prune_gaps(api, pruned, terms)
            log(f"cpu and refill: {trials} no-op trials, parallel 16, 4 agents")
            pids = stack.pids()
            jobs = next(pid for name, pid in pids.items() if name.startswith("server_child"))
            meter = _Meter(stack.server.pid, jobs)
            time.sleep(IDLE_S)
            idle = meter.read()["jobs"] / IDLE_S
            log(f"jobs process idle: {idle * 1000:.1f} ms CPU per second")
            noop_base = _base(api, repo, "noop.py", [])
            plain_started = time.monotonic()
            _plain(api, noop_base, trials)
            plain = meter.read()
            plain["jobs"] -= idle * (time.monotonic() - plain_started)
            log(f"plain tasks: server {plain['server']:.2f} s, jobs {plain['jobs']:.2f} s")
            started = time.monotonic()
            noop = _sweep(api, noop_base, trials=trials, parallel=16)
            done = _wait(api, noop, 3600)
            wall = time.monotonic() - started
            used = meter.read()
            used["jobs"] -= idle * wall
            refill = _refill_gaps(api, noop)
        finally:
            for agent in agents:
                agent.stop()
    return {
        "trials": trials,
        "refill_ms": summary_ms(refill),
        "prune_ms": summary_ms(prune),
        "prune_sweep": prune_sweep["counts"],
        "noop_sweep": {
            "status": done["status"],
            "counts": done["counts"],
            "wall_s": round(wall, 1),
        },
        "cpu": {
            "jobs_idle_ms_per_s": round(idle * 1000, 1),
            "plain_server_s": round(plain["server"], 2),
            "plain_jobs_s": round(plain["jobs"], 2),
            "server_s": round(used["server"], 2),
            "jobs_s": round(used["jobs"], 2),
            "controller_s": round(used["jobs"] - plain["jobs"], 2),
            "controller_over_server_pct": round(
                100 * (used["jobs"] - plain["jobs"]) / max(used["server"], 1e-9), 2
            ),
        },
    }


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    refill, prune, cpu = results["refill_ms"], results["prune_ms"], results["cpu"]
    lines = [
        f"sweeps: {results['trials']} no-op trials, parallel 16, 4 agents "
        f"({results['noop_sweep']['wall_s']} s)",
        f"  trial end → next enqueued   p50 {refill['p50']:.1f} ms, p99 {refill['p99']:.1f} ms",
        f"  prune decision → SIGTERM    p50 {prune['p50']:.0f} ms, max {prune['max']:.0f} ms "
        f"({prune['n']} pruned)",
        f"  CPU, sweep: server {cpu['server_s']} s, jobs process {cpu['jobs_s']} s",
        f"  CPU, as many plain tasks: server {cpu['plain_server_s']} s, "
        f"jobs process {cpu['plain_jobs_s']} s",
        f"  controller: {cpu['controller_s']} s ({cpu['controller_over_server_pct']} % "
        "of the server's)",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "sweeps.json",
        quick_help="200 no-op trials instead of 1,000",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
