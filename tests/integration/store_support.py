"""Helpers shared by the store and queue-engine tests (not fixtures: plain calls)."""

from typing import Any

import redis.asyncio as aioredis

from runyard.models import Resources, Task, TaskCreate, Worker, WorkerRegister
from runyard_server import store

T0 = 1_700_000_000.0
PLENTY = Resources(gpus=8, cpus=64, memory_gb=512)


def client(url: str) -> "aioredis.Redis":
    """A client as the server makes one (its own connection pool)."""
    return aioredis.Redis.from_url(url, decode_responses=True)


async def make_task(r: "aioredis.Redis", now: float = T0, **fields: Any) -> Task:
    """A task created from ``TaskCreate(**fields)``."""
    return await store.create_task(r, TaskCreate(**fields), now)


async def make_worker(
    r: "aioredis.Redis", queues: tuple[str, ...] = ("q",), now: float = T0, name: str = "w"
) -> Worker:
    """A registered worker listening on ``queues``."""
    body = WorkerRegister(name=name, queues=list(queues), resources=PLENTY)
    return await store.register_worker(r, body, now)
