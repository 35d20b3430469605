"""Pipeline bench: how fast a step's completion starts its dependents, and what the
pipeline controller costs next to the server (issue 14).

    .venv/bin/python bench/pipelines.py [--quick] [--out PATH]

Starts its own embedded Redis and ``runyard-server`` (whose jobs process runs the
pipeline controller), then:

  a_chain   a chain of no-op steps driven by one fake agent over HTTP (claim long-poll,
            started, completed): for each link, the time from the parent's
            ``completed`` to the child's ``queued``, read from the two events'
            ids in ``ry:events`` (Redis' clock, millisecond ids);
  b_fanout  a 200-step pipeline (one root, 198 no-op steps fanning out from it, one
            sink after all of them) on 4 real ``runyard-agent`` processes, each step a
            script that does nothing: CPU of the jobs process (the controller, with the
            lease reaper and archiver it shares the process with) against
            the API process, from the run's start to its end; then as many plain no-op
            tasks on the same agents, whose jobs-process CPU (archiver, reaper) is taken
            off to leave the controller's, and ``IDLE_S`` of nothing, which gives the
            jobs process's CPU per second of wall time (taken off by each phase's
            length: the two phases last different times).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _agent_procs import Agent, make_repo, wait_final
from _harness import (
    CpuMeter,
    Stack,
    bench_main,
    check,
    claim_body,
    log,
    running_stack,
    summary_ms,
    worker_body,
)
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
TARGETS = [
    ("step completed → dependent queued p50 ms", "a_chain.latency_ms.p50", 50.0, "le"),
    ("controller CPU / API CPU, 200 steps", "b_fanout.controller_share", 0.05, "le"),
]


@dataclass(frozen=True)
class Plan:
    chain: int = 60
    fanout: int = 200
    agents: int = 4


QUICK = Plan(chain=20, fanout=40, agents=4)
IDLE_S = 10.0
"""How long the jobs process is metered with nothing to do."""


def _step(name: str, script: dict[str, Any], parents: list[str], i: int) -> dict[str, Any]:
    # A distinct param per step: no two steps share a cache key.
    return {"name": name, "script": script, "parents": parents, "params": {"General/i": i}}


def _start(stack: Stack, name: str, steps: list[dict[str, Any]], queue: str) -> dict[str, Any]:
    body = {"name": name, "project": "bench", "queue": queue, "steps": steps}
    pipeline = check(requests.post(f"{stack.api}/pipelines", json=body, timeout=30), "pipeline")
    url = f"{stack.api}/pipelines/{pipeline['id']}/runs"
    run: dict[str, Any] = check(requests.post(url, json={}, timeout=60), "run")
    return run


def _wait_run(stack: Stack, run_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = check(
            requests.get(f"{stack.api}/pipelines/runs/{run_id}", timeout=30), "run"
        )
        if run["status"] != "running":
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline run {run_id} still running after {timeout_s:g} s")
        time.sleep(0.2)


def chain(stack: Stack, script: dict[str, Any], length: int) -> dict[str, Any]:
    """A chain of ``length`` steps run by one fake agent; completed → queued per link."""
    check(requests.post(f"{stack.api}/queues", json={"name": "chain"}, timeout=30), "queue")
    worker = check(
        requests.post(f"{stack.api}/workers", json=worker_body("fake", ["chain"]), timeout=30),
        "worker",
    )
    steps = [_step(f"s{i}", script, [f"s{i - 1}"] if i else [], i) for i in range(length)]
    run = _start(stack, "chain", steps, "chain")
    session = requests.Session()
    tasks: list[str] = []
    for _ in range(length):
        claim = check(
            session.post(
                f"{stack.api}/workers/{worker['id']}/claim",
                json=claim_body(["chain"], 10.0),
                timeout=30,
            ),
            "claim",
        )
        if claim["task"] is None:
            raise RuntimeError("the chain's next step was not queued within 10 s")
        task_id, token = claim["task"]["id"], claim["lease_token"]
        for report in ("started", "completed"):
            url = f"{stack.api}/tasks/{task_id}/{report}"
            check(session.post(url, json={"lease_token": token}, timeout=30), report)
        tasks.append(task_id)
    _wait_run(stack, run["id"], 60)
    samples = [gap / 1e3 for gap in _gaps(stack, tasks)]
    return {"steps": length, "latency_ms": summary_ms(samples)}


def _gaps(stack: Stack, tasks: list[str]) -> list[float]:
    """Milliseconds from each task's ``completed`` event to the next task's ``queued``."""
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        at: dict[tuple[str, str], int] = {}
        entries = cast(list[tuple[str, dict[str, str]]], r.xrange("{ry}:events"))
        for entry_id, fields in entries:
            at.setdefault((fields["task"], fields["to"]), int(entry_id.split("-")[0]))
    finally:
        r.close()
    return [
        float(at[(child, "queued")] - at[(parent, "completed")])
        for parent, child in itertools.pairwise(tasks)
    ]


def fanout(stack: Stack, root: Path, script: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """One root, ``fanout - 2`` parallel no-op steps, one sink, on ``agents`` agents; then
    as many plain no-op tasks on the same agents (what the jobs process spends on tasks
    without any pipeline: the archiver, the reaper)."""
    agents = [
        Agent(f"http://127.0.0.1:{stack.port}", root, f"agent{i}", "--queue", "fan", "--cpu-only")
        for i in range(plan.agents)
    ]
    try:
        for agent in agents:
            agent.wait_log("registered as", 60)
        middle = [_step(f"m{i}", script, ["root"], i) for i in range(plan.fanout - 2)]
        steps = [
            _step("root", script, [], -1),
            *middle,
            _step("sink", script, [step["name"] for step in middle], -2),
        ]
        piped, wall, run = _metered(
            stack, lambda: _wait_run(stack, _start(stack, "fanout", steps, "fan")["id"], 1800)
        )
        if run["status"] != "completed":
            raise RuntimeError(f"the fan-out run ended {run['status']}: {run.get('reason')}")
        plain, plain_wall, _ = _metered(stack, lambda: _plain_tasks(stack, script, plan.fanout))
        idle, idle_wall, _ = _metered(stack, lambda: time.sleep(IDLE_S))
    finally:
        for agent in agents:
            agent.stop()
    # The jobs process spends some CPU per second whatever it does (its loops poll): the
    # two phases last different times, so that part is taken off by each one's length.
    background = idle["jobs"] / idle_wall
    controller = max(piped["jobs"] - plain["jobs"] - background * (wall - plain_wall), 0.0)
    return {
        "steps": plan.fanout,
        "agents": plan.agents,
        "wall_s": round(wall, 1),
        "cpu_s": piped,
        "plain_tasks": {"wall_s": round(plain_wall, 1), "cpu_s": plain},
        "jobs_idle_cpu_per_s": round(background, 4),
        "controller_cpu_s": round(controller, 2),
        "controller_share": round(controller / max(piped["api"], 1e-9), 3),
        "jobs_share": round(piped["jobs"] / max(piped["api"], 1e-9), 3),
        "controller_cpu_ms_per_step": round(controller * 1e3 / plan.fanout, 2),
    }


def _metered(stack: Stack, work: Callable[[], Any]) -> tuple[dict[str, float], float, Any]:
    """CPU seconds of the API process, the jobs process and Redis while ``work`` ran."""
    meter = CpuMeter(stack.pids())
    meter.start()
    started = time.monotonic()
    result = work()
    wall = time.monotonic() - started
    meter.stop()
    seconds = meter.seconds
    jobs = sum(v for k, v in seconds.items() if k.startswith("server_child"))
    cpu = {"api": seconds["server"], "jobs": jobs, "redis": seconds["redis"]}
    return {k: round(v, 2) for k, v in cpu.items()}, wall, result


def _plain_tasks(stack: Stack, script: dict[str, Any], n: int) -> None:
    tasks = [
        {"name": f"plain{i}", "project": "bench", "queue": "fan", "script": script}
        for i in range(n)
    ]
    ids = check(
        requests.post(f"{stack.api}/tasks:batch", json={"tasks": tasks}, timeout=60), "batch"
    )["ids"]
    for task_id in ids:
        wait_final(stack.api, task_id, 1800)


def run(plan: Plan) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runyard-bench-pipelines-") as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        # first.py prints one line: a step that does nothing but start.
        script = {"repository": str(repo.path), "commit": repo.commit, "entry_point": "first.py"}
        with running_stack(root) as stack:
            log(f"a_chain: {plan.chain} steps, one fake agent")
            results: dict[str, Any] = {"a_chain": chain(stack, script, plan.chain)}
            log(f"b_fanout: {plan.fanout} steps on {plan.agents} agents")
            results["b_fanout"] = fanout(stack, root, script, plan)
    return results


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    a, b = results["a_chain"], results["b_fanout"]
    lat = a["latency_ms"]
    lines = [
        f"a_chain  {a['steps']} steps: completed → dependent queued "
        f"p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms",
        f"b_fanout {b['steps']} steps on {b['agents']} agents in {b['wall_s']} s: "
        f"CPU s api {b['cpu_s']['api']}, jobs {b['cpu_s']['jobs']}, redis {b['cpu_s']['redis']}",
        f"         the same number of plain tasks in {b['plain_tasks']['wall_s']} s: jobs "
        f"{b['plain_tasks']['cpu_s']['jobs']} s; idle jobs {b['jobs_idle_cpu_per_s']} s/s; "
        f"controller (the difference, idle rate taken off) {b['controller_cpu_s']} s = "
        f"{b['controller_cpu_ms_per_step']} ms per step, {b['controller_share']:.3f} of the API's "
        f"(whole jobs process {b['jobs_share']:.3f})",
        "",
    ]
    lines += target_lines(checks, width=44)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "pipelines.json",
        quick_help="20-step chain, 40-step fan-out (under a minute)",
        run=lambda quick: run(QUICK if quick else Plan()),
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
