"""In-process measurements: the store functions without HTTP, and raw redis-py.

``floor_zadd_bzpopmin``: the Redis wake-up floor (ZADD in one thread, BZPOPMIN in another).
``store_cycles``: create→enqueue→claim→complete through ``runyard_server.store``.
``fill``: put many typical tasks on a queue through ``store.create_task``.
``store_claims``: claim latency (no wait) at a fixed queue depth through the store.
"""

from __future__ import annotations

import asyncio
import queue as stdlib_queue
import threading
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from _harness import FREE, typical_spec, worker_body

from runyard.models import TaskCreate, TaskStatus, WorkerRegister
from runyard_server import store


def floor_zadd_bzpopmin(url: str, samples: int, warmup: int, gap_s: float) -> list[float]:
    """t1 - t0 for ZADD (t0 just before) → a client blocked in BZPOPMIN returns (t1)."""
    key = "bench:floor"
    # redis-py 8 defaults to a 5 s socket timeout with retries: set it above the block time.
    consumer = redis.Redis.from_url(url, socket_timeout=60)
    producer = redis.Redis.from_url(url, socket_timeout=10)
    producer.delete(key)
    arrivals: stdlib_queue.Queue[float] = stdlib_queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for _ in range(samples + warmup + 10):
            if stop.is_set():
                return
            if consumer.bzpopmin(key, timeout=2) is not None:
                arrivals.put(time.perf_counter())

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.2)
    results: list[float] = []
    try:
        for i in range(samples + warmup):
            t0 = time.perf_counter()
            producer.zadd(key, {f"m{i}": i})
            t1 = arrivals.get(timeout=10)
            if i >= warmup:
                results.append(t1 - t0)
            time.sleep(gap_s)
    finally:
        stop.set()
        thread.join(5)
        producer.delete(key)
        consumer.close()
        producer.close()
    return results


async def _register(r: aioredis.Redis, name: str, queue: str) -> str:
    body = WorkerRegister.model_validate(worker_body(name, [queue]))
    worker = await store.register_worker(r, body, time.time())
    return worker.id


async def _store_cycles(
    url: str, clients: int, queue: str, warmup_s: float, duration_s: float
) -> dict[str, Any]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    draft = typical_spec(None)
    workers = [await _register(r, f"engine-{i}", queue) for i in range(clients)]
    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup_s
    window_end = window_start + duration_s
    counts = {"cycles": 0, "empty": 0}

    async def one(worker_id: str) -> None:
        for _ in range(10_000_000):
            if loop.time() >= window_end:
                return
            task = await store.create_task(r, draft, time.time())
            await store.enqueue(r, task.id, queue, 0, time.time())
            got = await store.claim(r, worker_id, [queue], FREE, 15.0, time.time())
            if got is not None and got.task is not None and got.lease_token is not None:
                await store.report_end(
                    r, got.task.id, got.lease_token, TaskStatus.COMPLETED, 0, None, time.time()
                )
                if window_start <= loop.time() <= window_end:
                    counts["cycles"] += 1
            elif window_start <= loop.time() <= window_end:
                counts["empty"] += 1

    try:
        await asyncio.gather(*(one(w) for w in workers))
    finally:
        await r.aclose()
    return {**counts, "cycles_per_s": counts["cycles"] / duration_s}


def store_cycles(
    url: str, clients: int, queue: str, warmup_s: float, duration_s: float
) -> dict[str, Any]:
    return asyncio.run(_store_cycles(url, clients, queue, warmup_s, duration_s))


async def _fill(url: str, queue: str, count: int, concurrency: int) -> float:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    specs = [typical_spec(queue, i) for i in range(min(count, 64))]
    started = time.perf_counter()

    async def lane(lane_no: int) -> None:
        for i in range(lane_no, count, concurrency):
            await store.create_task(r, specs[i % len(specs)], time.time())

    try:
        await asyncio.gather(*(lane(n) for n in range(concurrency)))
    finally:
        await r.aclose()
    return time.perf_counter() - started


def fill(url: str, queue: str, count: int, concurrency: int = 32) -> float:
    """Enqueue ``count`` typical tasks on ``queue``; the seconds it took."""
    return asyncio.run(_fill(url, queue, count, concurrency)) if count > 0 else 0.0


async def _store_claims(url: str, queue: str, samples: int, warmup: int) -> list[float]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    refill: TaskCreate = typical_spec(queue)
    results: list[float] = []
    try:
        worker_id = await _register(r, "depth-store", queue)
        for i in range(samples + warmup):
            t0 = time.perf_counter()
            got = await store.claim(r, worker_id, [queue], FREE, 15.0, time.time())
            elapsed = time.perf_counter() - t0
            if got is None or got.task is None or got.lease_token is None:
                raise RuntimeError(f"store claim on {queue!r} found nothing")
            if i >= warmup:
                results.append(elapsed)
            await store.report_end(
                r, got.task.id, got.lease_token, TaskStatus.COMPLETED, 0, None, time.time()
            )
            await store.create_task(r, refill, time.time())
    finally:
        await r.aclose()
    return results


def store_claims(url: str, queue: str, samples: int, warmup: int) -> list[float]:
    """Claim latency through ``store.claim``; the depth is kept by re-adding one task."""
    return asyncio.run(_store_claims(url, queue, samples, warmup))


def settle(url: str, timeout_s: float = 120.0) -> bool:
    """Wait until Redis has no AOF rewrite running; False when it did not finish in time."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return True
            time.sleep(0.2)
        return False
    finally:
        client.close()


def used_memory(url: str) -> int:
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        value: int = client.info("memory")["used_memory"]
        return value
    finally:
        client.close()


def command_calls(url: str) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats), e.g. {"evalsha": 1234}."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def calls_per(before: dict[str, int], after: dict[str, int], count: int) -> dict[str, float]:
    """Redis commands per unit of work between two ``command_calls`` readings."""
    delta = {name: calls - before.get(name, 0) for name, calls in after.items()}
    busy = sorted((n for n, d in delta.items() if d > 0 and n != "info"), key=lambda n: -delta[n])
    return {name: round(delta[name] / max(count, 1), 2) for name in busy}


def queue_depth(url: str, queue: str) -> int:
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        depth: int = client.zcard(store.keys.queue(queue))
        return depth
    finally:
        client.close()
