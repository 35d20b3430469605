"""Helpers shared by the store and queue-engine tests (not fixtures: plain calls)."""

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import redis
import redis.asyncio as aioredis

from runyard.models import Resources, Task, TaskCreate, TaskStatus, Worker, WorkerRegister
from runyard_server import store
from runyard_server.redis_client import connect_url

T0 = 1_700_000_000.0
PLENTY = Resources(gpus=8, cpus=64, memory_gb=512)


@dataclass(frozen=True)
class StoreRedis:
    """The Redis a store test runs on: its URL, and whether it is a Redis Cluster."""

    url: str
    cluster: bool


def client(target: StoreRedis | str) -> "aioredis.Redis":
    """A client as the server makes one (its own connection pool); a URL is a plain Redis."""
    if isinstance(target, str):
        target = StoreRedis(target, cluster=False)
    return connect_url(target.url, cluster=target.cluster)


def sync_client(target: StoreRedis) -> "redis.Redis":
    """A blocking client of the same Redis (for the consistency checker)."""
    if target.cluster:
        # The checker's commands are ones a cluster client routes by key or runs on
        # every node (SCAN), so it passes for a plain client.
        return cast(redis.Redis, redis.RedisCluster.from_url(target.url, decode_responses=True))
    return redis.Redis.from_url(target.url, decode_responses=True)


async def make_task(r: "aioredis.Redis", now: float = T0, **fields: Any) -> Task:
    """A task created from ``TaskCreate(**fields)``."""
    return await store.create_task(r, TaskCreate(**fields), now)


async def make_worker(
    r: "aioredis.Redis", queues: tuple[str, ...] = ("q",), now: float = T0, name: str = "w"
) -> Worker:
    """A registered worker listening on ``queues``."""
    body = WorkerRegister(name=name, queues=list(queues), resources=PLENTY)
    return await store.register_worker(r, body, now)


def most_running_at_once(
    events: list[tuple[str, dict[str, str]]], queue_of: dict[str, str], gpus_of: dict[str, float]
) -> dict[str, tuple[int, float]]:
    """Replays ``ry:events`` (every status change, in the order Redis made them): the
    most tasks and GPUs each queue ever had running at once."""
    running: dict[str, set[str]] = defaultdict(set)
    most: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for _, event in events:
        task_id, queue = event["task"], queue_of[event["task"]]
        if event["to"] == "running":
            running[queue].add(task_id)
        elif event["from"] == "running":
            running[queue].discard(task_id)
        n, held = most[queue]
        now_held = sum(gpus_of[t] for t in running[queue])
        most[queue] = (max(n, len(running[queue])), max(held, now_held))
    return most


async def claim_and_end(
    target: StoreRedis, worker_id: str, queues: list[str], stop: asyncio.Event
) -> int:
    """A claimer on its own connection until ``stop``: claim from ``queues``, hold each
    task a moment, end it (completed or failed); how many it ran."""
    r = client(target)
    done = 0
    try:
        while not stop.is_set():
            found = await store.claim(r, worker_id, queues, PLENTY, 60, T0)
            if found is None or found.task is None or found.lease_token is None:
                await asyncio.sleep(0.002)
                continue
            await asyncio.sleep(random.uniform(0.001, 0.01))
            status = random.choice([TaskStatus.COMPLETED, TaskStatus.FAILED])
            await store.report_end(r, found.task.id, found.lease_token, status, 0, None, T0)
            done += 1
    finally:
        await r.aclose()
    return done
