"""Preemption bench: what the jobs process's look for preemptions costs each second.

    .venv/bin/python bench/preemption.py [--quick] [--out PATH]

Starts its own embedded Redis and calls ``store.preemption.preempt_waiting`` in-process,
as the jobs process does every second (one dict of known running tasks kept across
passes), over N agents of 8 GPUs each running 8 one-GPU tasks of a preemptible queue:

  idle       no queue is preemptible: the settings are all a pass reads
  backlog    20 tasks waited past --preempt-after but may preempt nothing (same
             priority): the pass reads every worker
  marking    a higher-priority task arrives: the pass that marks its victim
  pending    the passes after, while the victim is stopping

Writes JSON (default bench/results/preemption.json).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_main, log
from _report import target_lines, verdicts

from runyard.models import QueueUpdate, Resources, Script, TaskCreate, WorkerRegister
from runyard_server import store
from runyard_server.embedded import EmbeddedRedis
from runyard_server.redis_client import connect_url
from runyard_server.store.preemption import PreemptPolicy, preempt_waiting
from runyard_server.store.preemption_fleet import Running
from runyard_server.store.queue_settings import update_settings

HERE = Path(__file__).resolve().parent
GPUS = 8
POLICY = PreemptPolicy(after_s=5, window_s=1800, hold_s=120)
ALIVE_S = 1e9
TARGETS: list[tuple[str, str, float, str]] = [
    ("idle pass p50 (ms)", "pass_ms.idle", 5.0, "le"),
    ("backlog pass p50, 1,000 agents (ms)", "pass_ms.backlog", 250.0, "le"),
]


async def _fill(r: Any, agents: int, now: float) -> None:
    for name in ("low", "high"):
        await store.create_queue(r, name)
    spec: dict[str, Any] = {"script": Script(entry_point="a.py"), "resources": Resources(gpus=1)}
    whole = Resources(gpus=GPUS, cpus=64, memory_gb=512)
    for i in range(agents):
        body = WorkerRegister(name=f"w{i}", queues=["high", "low"], resources=whole, slots=GPUS)
        worker = await store.register_worker(r, body, now)
        for _ in range(GPUS):
            await store.create_task(r, TaskCreate(name="t", queue="low", priority=5, **spec), now)
            await store.claim(r, worker.id, ["low"], whole, 15, now)
    for _ in range(20):
        await store.create_task(r, TaskCreate(name="b", queue="high", priority=5, **spec), now - 60)


async def _p50(passes: int, step: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e3, 2)


async def _measure(agents: int, passes: int) -> dict[str, Any]:
    redis_server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="preempt-bench-"))).start()
    r = connect_url(redis_server.url)
    try:
        now = time.time()
        log(f"{agents} agents x {GPUS} running tasks")
        await _fill(r, agents, now)
        known: dict[str, Running] = {}

        async def one_pass() -> object:
            return await preempt_waiting(r, POLICY, now, ALIVE_S, known)

        idle = await _p50(passes, one_pass)
        await update_settings(r, "low", QueueUpdate(preemptible=True))
        await one_pass()  # learns every running task once
        backlog = await _p50(passes, one_pass)
        spec: dict[str, Any] = {
            "script": Script(entry_point="a.py"),
            "resources": Resources(gpus=1),
        }
        await store.create_task(r, TaskCreate(name="u", queue="high", priority=9, **spec), now - 60)
        started = time.perf_counter()
        marked = await one_pass()
        marking = round((time.perf_counter() - started) * 1e3, 2)
        assert isinstance(marked, list) and len(marked) == 1, marked
        pending = await _p50(passes, one_pass)
    finally:
        await r.aclose()
        redis_server.stop()
    return {"idle": idle, "backlog": backlog, "marking": marking, "pending": pending}


def run(quick: bool) -> dict[str, Any]:
    agents = 100 if quick else 1000
    results = asyncio.run(_measure(agents, 10 if quick else 20))
    return {"agents": agents, "tasks_running": agents * GPUS, "pass_ms": results}


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    ms = results["pass_ms"]
    lines = [
        f"one preemption pass, {results['agents']} agents, {results['tasks_running']} running:",
        f"  idle (no preemptible queue)   {ms['idle']} ms",
        f"  backlog, nothing to preempt   {ms['backlog']} ms",
        f"  the pass that marks a victim  {ms['marking']} ms",
        f"  while the victim stops        {ms['pending']} ms",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "preemption.json",
        quick_help="100 agents instead of 1,000",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
