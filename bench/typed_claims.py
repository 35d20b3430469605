"""Typed claim bench: claim latency with typed GPU requests next to today's plain claim,
over 1,000 registered agents with 8 GPUs each (issue 12).

    .venv/bin/python bench/typed_claims.py [--quick] [--out PATH]

Starts its own embedded Redis and ``runyard-server``, registers the agents (8 A100s
each, two NVLink quads), and keeps two queues of ``queued`` tasks:

  plain  whole-GPU tasks (``gpus: 1``), claimed as an agent without a GPU list claims
         (``free.gpus: 8``): the claim as it was before typed requests;
  typed  a mix of ``gpus: 2, gpu_model: "*A100*", gpu_memory_gb: 40, nvlink`` and
         ``gpus: 0.5`` shares, claimed with the agent's 8 GPUs (``ClaimRequest.gpus``,
         one of them already half used, so shares are packed and NVLink groups counted).

Each queue starts with ``unfit`` tasks no agent can take (16 GPUs; an H100), so every
claim also matches and skips those. The claimers rotate over the registered agents.
Claims (``wait_s`` 0) are timed over HTTP and through the store in-process, in
alternating blocks so both kinds see the same machine load; each claimed task is
completed and one like it added back. ``dispatch.py`` runs the same measure as its (g).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import CpuMeter, Stack, bench_main, check, log, running_stack, summary_ms

from runyard.models import (
    Gpu,
    GpuFree,
    Resources,
    Script,
    TaskCreate,
    TaskStatus,
    WorkerRegister,
)
from runyard_server import store

HERE = Path(__file__).resolve().parent
A100 = "NVIDIA A100-SXM4-80GB"
FREE = Resources(gpus=8, cpus=64, memory_gb=512)

KINDS = ("plain", "typed")
TARGET = ("(g) typed/plain claim p50, 1000 agents", "g_typed.ratio_p50", 1.5, "le")


@dataclass(frozen=True)
class Plan:
    agents: int = 1000
    queued: int = 100
    unfit: int = 10
    samples: int = 300
    warmup: int = 20
    blocks: int = 6


QUICK = Plan(agents=100, samples=60, warmup=5)


def agent_gpus(agent_no: int) -> list[GpuFree]:
    """An agent's 8 A100s in two NVLink quads; one GPU (by agent) half used."""
    half = agent_no % 8
    return [
        GpuFree(
            index=i,
            name=A100,
            memory_gb=80,
            free=0.5 if i == half else 1.0,
            group=0 if i < 4 else 4,
        )
        for i in range(8)
    ]


def registration(agent_no: int, queues: list[str]) -> WorkerRegister:
    quads = [[j for j in range(8) if j // 4 == i // 4 and j != i] for i in range(8)]
    gpus = [Gpu(index=i, name=A100, memory_gb=80, peers=quads[i]) for i in range(8)]
    return WorkerRegister(name=f"gpu-{agent_no}", queues=queues, resources=FREE, gpus=gpus)


def task(queue: str, kind: str, n: int, fits: bool = True) -> TaskCreate:
    """The n-th task of a queue; a typed queue alternates NVLink pairs and half GPUs."""
    if kind == "plain":
        resources = Resources(gpus=1 if fits else 16)
    elif not fits:
        resources = Resources(gpus=1, gpu_model="*H100*")
    elif n % 2:
        resources = Resources(gpus=0.5)
    else:
        resources = Resources(
            gpus=2, gpu_model="*A100*", gpu_memory_gb=40, gpu_interconnect="nvlink"
        )
    script = Script(repository="https://example.com/r.git", entry_point="train.py")
    return TaskCreate(name=f"{kind}-{n}", queue=queue, script=script, resources=resources)


async def _setup(url: str, plan: Plan) -> list[str]:
    """Registers the agents and fills both queues; the agents' ids."""
    r = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        for kind in KINDS:
            await store.create_queue(r, kind)
            for n in range(plan.unfit):
                await store.create_task(r, task(kind, kind, n, fits=False), time.time())
            for n in range(plan.queued):
                await store.create_task(r, task(kind, kind, n), time.time())
        ids = []
        for i in range(plan.agents):
            worker = await store.register_worker(r, registration(i, list(KINDS)), time.time())
            ids.append(worker.id)
        return ids
    finally:
        await r.aclose()


def _http_claims(stack: Stack, kind: str, agents: list[str], start: int, count: int) -> list[float]:
    session = requests.Session()
    api = stack.api
    results = []
    try:
        for i in range(start, start + count):
            agent_no = i % len(agents)
            body: dict[str, Any] = {"queues": [kind], "free": FREE.model_dump(), "wait_s": 0}
            if kind == "typed":
                body["gpus"] = [g.model_dump() for g in agent_gpus(agent_no)]
            t0 = time.perf_counter()
            reply = session.post(f"{api}/workers/{agents[agent_no]}/claim", json=body, timeout=30)
            results.append(time.perf_counter() - t0)
            got = check(reply, "claim")
            if got.get("task") is None:
                raise RuntimeError(f"a {kind} claim found nothing")
            token = {"lease_token": got["lease_token"]}
            check(session.post(f"{api}/tasks/{got['task']['id']}/completed", json=token), "done")
            refill = task(kind, kind, i).model_dump(mode="json")
            check(session.post(f"{api}/tasks", json=refill, timeout=30), "refill")
        return results
    finally:
        session.close()


async def _store_claims(
    url: str, kind: str, agents: list[str], start: int, count: int
) -> list[float]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    results = []
    try:
        for i in range(start, start + count):
            agent_no = i % len(agents)
            gpus = agent_gpus(agent_no) if kind == "typed" else None
            t0 = time.perf_counter()
            got = await store.claim(r, agents[agent_no], [kind], FREE, 15.0, time.time(), gpus=gpus)
            results.append(time.perf_counter() - t0)
            if got is None or got.task is None or got.lease_token is None:
                raise RuntimeError(f"a {kind} store claim found nothing")
            await store.report_end(
                r, got.task.id, got.lease_token, TaskStatus.COMPLETED, 0, None, time.time()
            )
            await store.create_task(r, task(kind, kind, i), time.time())
    finally:
        await r.aclose()
    return results


def measure(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Plain and typed claim latency, HTTP and in-process, and their p50/p99 ratios."""
    url = stack.redis.url
    started = time.monotonic()
    agents = asyncio.run(_setup(url, plan))
    log(f"typed claims: {plan.agents} agents registered in {time.monotonic() - started:.1f} s")
    runs: dict[str, dict[str, list[float]]] = {k: {"http": [], "store": []} for k in KINDS}
    per_block = max(plan.samples // plan.blocks, 2)
    done = {k: 0 for k in KINDS}
    for kind in KINDS:  # warm both paths (script load, connections) before timing
        _http_claims(stack, kind, agents, 0, plan.warmup)
        asyncio.run(_store_claims(url, kind, agents, 0, plan.warmup))
        done[kind] = plan.warmup
    cpu = CpuMeter({**stack.pids()})
    cpu.start()
    for block in range(plan.blocks):
        for kind in KINDS if block % 2 == 0 else KINDS[::-1]:
            runs[kind]["http"] += _http_claims(stack, kind, agents, done[kind], per_block)
            runs[kind]["store"] += asyncio.run(
                _store_claims(url, kind, agents, done[kind] + per_block, per_block)
            )
            done[kind] += 2 * per_block
    result: dict[str, Any] = {"plan": asdict(plan), "cpu_cores": cpu.stop()}
    for kind in KINDS:
        result[kind] = {"http_ms": summary_ms(runs[kind]["http"]),
                        "store_ms": summary_ms(runs[kind]["store"])}  # fmt: skip
    typed, plain = result["typed"], result["plain"]
    result["ratio_p50"] = typed["http_ms"]["p50"] / plain["http_ms"]["p50"]
    result["ratio_p99"] = typed["http_ms"]["p99"] / plain["http_ms"]["p99"]
    result["store_ratio_p50"] = typed["store_ms"]["p50"] / plain["store_ms"]["p50"]
    result["store_ratio_p99"] = typed["store_ms"]["p99"] / plain["store_ms"]["p99"]
    return result


def lines(g: dict[str, Any]) -> list[str]:
    """The table lines of this measure (also (g) of the dispatch bench)."""

    def ms(s: dict[str, float]) -> str:
        return f"p50 {s['p50']:6.2f}  p99 {s['p99']:6.2f} ms"

    return [
        f"(g)    typed claims, {g['plan']['agents']} agents x 8 GPUs, "
        f"{g['plan']['queued']} queued behind {g['plan']['unfit']} unfit",
        *(f"       {kind:5}  HTTP {ms(g[kind]['http_ms'])}   store {ms(g[kind]['store_ms'])}"
          for kind in KINDS),
        f"       typed/plain  HTTP p50 {g['ratio_p50']:.2f}  p99 {g['ratio_p99']:.2f}"
        f"   store p50 {g['store_ratio_p50']:.2f}  p99 {g['store_ratio_p99']:.2f}",
    ]  # fmt: skip


def run(quick: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        return {"g_typed": measure(stack, QUICK if quick else Plan())}


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    rows = [f"  {c['target']}: {c['value']:.2f} (≤ {c['limit']}) {'pass' if c['pass'] else 'MISS'}"
            for c in checks]  # fmt: skip
    return "\n".join([*lines(results["g_typed"]), "", "targets:", *rows])


def main(argv: list[str] | None = None) -> None:
    from _report import verdicts  # it imports this module for (g) of the dispatch table

    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "typed_claims.json",
        quick_help="small smoke run (100 agents)",
        run=run,
        check=lambda results: verdicts(results, [TARGET]),
        render=render,
    )


if __name__ == "__main__":
    main()
