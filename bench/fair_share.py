"""Fair-share claim bench: claim latency of queues where several users wait (fair share
and quotas in the claim, issue 15) next to today's plain claim.

    .venv/bin/python bench/fair_share.py [--quick] [--out PATH]

Starts its own embedded Redis and ``runyard-server``, registers the agents and keeps
three queues of ``queued`` one-GPU tasks:

  plain  tasks without an owner: one owner waits, so the claim takes the first that
         fits, as before fair share;
  mixed  four users' tasks interleaved, each user with tasks running (held by an agent
         that is not timed), weights 1-4 and a quota on one user and on the project:
         each claim compares the owners' shares among the first entries;
  sweep  one user's 100 tasks in front of another's 5 (the issue's case: a sweep in
         front of a colleague's run), the first user with tasks running: each claim
         walks past the 100 to give the colleague the next task.

Claims (``wait_s`` 0) are timed over HTTP and through the store in-process, in
alternating blocks so all kinds see the same machine load; each claimed task is
completed and one like it (same owner) added back at the tail.
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

from _harness import FREE, CpuMeter, Stack, bench_main, check, running_stack, summary_ms

from runyard.models import QuotaUpdate, Resources, Script, TaskCreate, TaskStatus, WorkerRegister
from runyard_server import store
from runyard_server.store import quotas

HERE = Path(__file__).resolve().parent
KINDS = ("plain", "mixed", "sweep")
USERS = ("ann", "ben", "cat", "dan")
TARGETS = [
    ("fair-share (mixed)/plain claim p50, HTTP", "fair_share.mixed_ratio_p50", 1.5, "le"),
    ("fair-share (sweep)/plain claim p50, HTTP", "fair_share.sweep_ratio_p50", 1.5, "le"),
]


@dataclass(frozen=True)
class Plan:
    agents: int = 100
    queued: int = 100
    held: int = 2
    samples: int = 300
    warmup: int = 20
    blocks: int = 6


QUICK = Plan(agents=20, samples=60, warmup=5)


def task(queue: str, n: int) -> TaskCreate:
    script = Script(repository="https://example.com/r.git", entry_point="train.py")
    return TaskCreate(
        name=f"{queue}-{n}", queue=queue, project="vision", script=script,
        resources=Resources(gpus=1),
    )  # fmt: skip


def owner_of(queue: str, n: int, plan: Plan) -> str | None:
    """Who owns the n-th task put on ``queue`` at setup."""
    if queue == "plain":
        return None
    if queue == "mixed":
        return USERS[n % len(USERS)]
    return "ann" if n < plan.queued else "ben"


async def _setup(url: str, plan: Plan) -> list[str]:
    """Fills the queues, holds tasks running for each user, sets weights and quotas,
    registers the agents; the agents' ids."""
    r = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        holder = await store.register_worker(
            r, WorkerRegister(name="holder", queues=["hold"], resources=FREE), time.time()
        )
        for user in USERS:  # running tasks each user holds while the claims are timed
            for n in range(plan.held):
                await store.create_task(r, task("hold", n), time.time(), owner=user)
                await store.claim(r, holder.id, ["hold"], FREE, 3600.0, time.time())
        for i, user in enumerate(USERS):
            await quotas.set_quota(r, "user", user, QuotaUpdate(weight=i + 1))
        await quotas.set_quota(r, "user", "dan", QuotaUpdate(weight=4, max_running=1_000))
        await quotas.set_quota(r, "project", "vision", QuotaUpdate(max_gpus=100_000))
        for kind in KINDS:
            count = plan.queued + (5 if kind == "sweep" else 0)
            for n in range(count):
                await store.create_task(
                    r, task(kind, n), time.time(), owner=owner_of(kind, n, plan)
                )
        ids = []
        for i in range(plan.agents):
            body = WorkerRegister(name=f"gpu-{i}", queues=list(KINDS), resources=FREE)
            ids.append((await store.register_worker(r, body, time.time())).id)
        return ids
    finally:
        await r.aclose()


async def _refill(r: aioredis.Redis, task_id: str, kind: str, n: int) -> None:
    """One like the claimed task (same owner) at the tail of its queue."""
    owner = await r.hget(f"{{ry}}:task:{task_id}", "owner")
    await store.create_task(r, task(kind, n), time.time(), owner=owner)


def _http_claims(
    stack: Stack, url: str, kind: str, agents: list[str], start: int, count: int
) -> list[float]:
    session = requests.Session()
    r = aioredis.Redis.from_url(url, decode_responses=True)
    loop = asyncio.new_event_loop()
    results = []
    try:
        for i in range(start, start + count):
            agent = agents[i % len(agents)]
            body: dict[str, Any] = {"queues": [kind], "free": FREE.model_dump(), "wait_s": 0}
            t0 = time.perf_counter()
            reply = session.post(f"{stack.api}/workers/{agent}/claim", json=body, timeout=30)
            results.append(time.perf_counter() - t0)
            got = check(reply, "claim")
            if got.get("task") is None:
                raise RuntimeError(f"a {kind} claim found nothing")
            token = {"lease_token": got["lease_token"]}
            check(
                session.post(f"{stack.api}/tasks/{got['task']['id']}/completed", json=token), "done"
            )
            loop.run_until_complete(_refill(r, got["task"]["id"], kind, 10_000 + i))
        return results
    finally:
        loop.run_until_complete(r.aclose())
        loop.close()
        session.close()


async def _store_claims(
    url: str, kind: str, agents: list[str], start: int, count: int
) -> list[float]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    results = []
    try:
        for i in range(start, start + count):
            t0 = time.perf_counter()
            got = await store.claim(r, agents[i % len(agents)], [kind], FREE, 15.0, time.time())
            results.append(time.perf_counter() - t0)
            if got is None or got.task is None or got.lease_token is None:
                raise RuntimeError(f"a {kind} store claim found nothing")
            await store.report_end(
                r, got.task.id, got.lease_token, TaskStatus.COMPLETED, 0, None, time.time()
            )
            await _refill(r, got.task.id, kind, 10_000 + i)
    finally:
        await r.aclose()
    return results


def measure(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Each kind's claim latency, HTTP and in-process, and the ratios to plain."""
    url = stack.redis.url
    agents = asyncio.run(_setup(url, plan))
    runs: dict[str, dict[str, list[float]]] = {k: {"http": [], "store": []} for k in KINDS}
    per_block = max(plan.samples // plan.blocks, 2)
    done = {k: 0 for k in KINDS}
    for kind in KINDS:  # warm every path (script load, connections) before timing
        _http_claims(stack, url, kind, agents, 0, plan.warmup)
        asyncio.run(_store_claims(url, kind, agents, 0, plan.warmup))
        done[kind] = plan.warmup
    cpu = CpuMeter({**stack.pids()})
    cpu.start()
    for block in range(plan.blocks):
        for kind in KINDS if block % 2 == 0 else KINDS[::-1]:
            runs[kind]["http"] += _http_claims(stack, url, kind, agents, done[kind], per_block)
            runs[kind]["store"] += asyncio.run(
                _store_claims(url, kind, agents, done[kind] + per_block, per_block)
            )
            done[kind] += 2 * per_block
    result: dict[str, Any] = {"plan": asdict(plan), "cpu_cores": cpu.stop()}
    for kind in KINDS:
        result[kind] = {"http_ms": summary_ms(runs[kind]["http"]),
                        "store_ms": summary_ms(runs[kind]["store"])}  # fmt: skip
    plain = result["plain"]
    for kind in ("mixed", "sweep"):
        result[f"{kind}_ratio_p50"] = result[kind]["http_ms"]["p50"] / plain["http_ms"]["p50"]
        result[f"{kind}_store_ratio_p50"] = (
            result[kind]["store_ms"]["p50"] / plain["store_ms"]["p50"]
        )
    return result


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    g = results["fair_share"]

    def ms(s: dict[str, float]) -> str:
        return f"p50 {s['p50']:6.2f}  p99 {s['p99']:6.2f} ms"

    rows = [f"  {c['target']}: {c['value']:.2f} (≤ {c['limit']}) {'pass' if c['pass'] else 'MISS'}"
            for c in checks]  # fmt: skip
    return "\n".join([
        f"fair-share claims, {g['plan']['agents']} agents, {g['plan']['queued']} queued per queue",
        *(f"  {kind:5}  HTTP {ms(g[kind]['http_ms'])}   store {ms(g[kind]['store_ms'])}"
          for kind in KINDS),
        *(f"  {kind}/plain  HTTP p50 {g[f'{kind}_ratio_p50']:.2f}"
          f"   store p50 {g[f'{kind}_store_ratio_p50']:.2f}" for kind in ("mixed", "sweep")),
        "", "targets:", *rows,
    ])  # fmt: skip


def run(quick: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        return {"fair_share": measure(stack, QUICK if quick else Plan())}


def main(argv: list[str] | None = None) -> None:
    from _report import verdicts

    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "fair_share.json",
        quick_help="small smoke run (20 agents, 60 samples)",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
