"""Workers: registration, heartbeats (which extend leases) and the list of agents."""

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TypeVar, cast

import redis.asyncio as aioredis

from runyard.models import (
    GpuState,
    Heartbeat,
    HeartbeatReply,
    Worker,
    WorkerRegister,
)
from runyard_server.errors import NotFound
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.records import flatten, number

T = TypeVar("T")


async def register_worker(r: "aioredis.Redis", body: WorkerRegister, now: float) -> Worker:
    """A new worker id for an agent; its queues are created when missing."""
    worker_id = uuid.uuid4().hex
    fields = {
        "name": body.name,
        "hostname": body.hostname,
        "queues": json.dumps(body.queues),
        "resources": body.resources.model_dump_json(),
        "gpus": json.dumps([gpu.model_dump() for gpu in body.gpus]),
        "executor": body.executor,
        "version": body.version,
        **({"slots": str(body.slots)} if body.slots is not None else {}),
        "registered": number(now),
        "last_heartbeat": number(now),
    }
    async with r.pipeline(transaction=True) as pipe:
        pipe.hset(keys.worker(worker_id), items=flatten(fields))
        pipe.sadd(keys.WORKERS, worker_id)
        pipe.sadd(keys.QUEUES, *body.queues)
        await pipe.execute()
    return _worker(worker_id, fields, [], alive=True)


def _worker(worker_id: str, h: dict[str, str], running: list[str], alive: bool) -> Worker:
    return Worker.model_validate(
        {
            "id": worker_id,
            "name": h["name"],
            "hostname": h.get("hostname", ""),
            "queues": json.loads(h["queues"]),
            "resources": json.loads(h["resources"]),
            "gpus": json.loads(h.get("gpus", "[]")),
            "executor": h.get("executor", "venv"),
            "version": h.get("version", ""),
            "registered": datetime.fromtimestamp(float(h["registered"]), tz=UTC),
            "last_heartbeat": datetime.fromtimestamp(float(h["last_heartbeat"]), tz=UTC),
            "alive": alive,
            "running": running,
            "gpu_state": json.loads(h.get("gpu_state", "[]")),
        }
    )


def _gpu_state_json(state: list[GpuState]) -> str:
    return json.dumps([gpu.model_dump() for gpu in state], separators=(",", ":"))


async def heartbeat(
    r: "aioredis.Redis", worker_id: str, body: Heartbeat, lease_s: float, now: float
) -> HeartbeatReply:
    """Extend the leases of the tasks the worker still holds to ``now + lease_s`` and
    record each one's ``state_detail`` (the task's, cleared when the beat has none).

    ``lost``: held tasks whose token or worker is no longer current (the agent kills
    them and reports nothing); ``abort``: held tasks a user asked to abort;
    ``preempt``: held tasks a higher-priority task preempts, with the preemptor.
    """
    held = [
        item
        for task in body.running
        for item in (task.task_id, task.lease_token, task.state_detail or "")
    ]
    declared = script_keys.transition([task.task_id for task in body.running], [], [worker_id])
    gpu_state = "" if body.gpu_state is None else _gpu_state_json(body.gpu_state)
    reply = await scripts.run(
        r, "heartbeat", declared, worker_id, number(now), number(now + lease_s), gpu_state, *held
    )
    if reply[0] == "missing":
        raise NotFound(f"worker {worker_id} is not registered: register it again")
    preempt = scripts.pairs(reply[3])
    return HeartbeatReply(
        abort=list(reply[1]), lost=list(reply[2]), preempt=preempt, lease_s=lease_s
    )


async def list_workers(r: "aioredis.Redis", now: float, alive_after_s: float) -> list[Worker]:
    """Every registered worker; ``alive`` when it heartbeated within ``alive_after_s``."""
    ids = sorted(cast(set[str], await r.smembers(keys.WORKERS)))
    async with r.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hgetall(keys.worker(worker_id))
            pipe.smembers(keys.worker_running(worker_id))
        replies = await pipe.execute()
    workers = []
    for worker_id, h, running in zip(ids, replies[::2], replies[1::2], strict=True):
        if h:
            alive = now - float(h["last_heartbeat"]) <= alive_after_s
            workers.append(_worker(worker_id, h, sorted(running), alive))
    return workers


GpuShape = tuple[float, tuple[tuple[str, float, int, tuple[int, ...]], ...]]
"""A worker's GPUs as the create-time warnings compare them: its GPU count and each
GPU's (name, memory_gb, index, NVLink peers)."""


@dataclass(frozen=True)
class LiveWorker:
    """What the create and enqueue warnings judge a live worker by: the queues it claims
    from and the GPUs it registered (the count alone from an agent that sent no list),
    kept as read and parsed when first asked (most checks need only the queues)."""

    queues_json: str
    gpus_json: str
    resources_json: str

    @cached_property
    def queues(self) -> list[str]:
        return cast(list[str], json.loads(self.queues_json))

    @cached_property
    def shape(self) -> GpuShape:
        """Equal for workers with alike GPUs (their uuids aside), so a check judges each
        kind of worker once. Plain ``json`` (the record was validated when the worker
        registered): a ``Gpu`` model each would cost ~20 ms per 1,000 workers."""
        count = float(json.loads(self.resources_json).get("gpus", 0))
        gpus = json.loads(self.gpus_json)
        return count, tuple(
            (g.get("name", ""), float(g.get("memory_gb", 0)), g["index"], tuple(g.get("peers", ())))
            for g in gpus
        )


async def live_workers(
    r: "aioredis.Redis",
    now: float,
    alive_after_s: float,
    known: Mapping[LiveWorker, LiveWorker] | None = None,
) -> list[LiveWorker]:
    """Each live worker (heartbeat within ``alive_after_s``); one equal to a ``known``
    one is that one, with what it has parsed already."""
    ids = cast(set[str], await r.smembers(keys.WORKERS))
    async with r.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hmget(keys.worker(worker_id), "queues", "last_heartbeat", "gpus", "resources")
        replies = await pipe.execute()
    live = [
        LiveWorker(queues, gpus or "[]", resources or "{}")
        for queues, beat, gpus, resources in replies
        if queues and beat and now - float(beat) <= alive_after_s
    ]
    return [known.get(worker, worker) for worker in live] if known else live


async def served_queues(r: "aioredis.Redis", now: float, alive_after_s: float) -> set[str]:
    """The queues some live worker (heartbeat within ``alive_after_s``) claims from."""
    return _served(await live_workers(r, now, alive_after_s))


def _served(workers: list[LiveWorker]) -> set[str]:
    return {q for worker in workers for q in worker.queues}


class ServedQueues:
    """The live workers, for the create and enqueue routes' warnings, cheap under many
    agents.

    Reading them costs one HMGET per registered worker, on every create or enqueue that
    names a queue (10,000 per request with 10,000 agents). The list read is kept for
    ``refresh_s``: liveness is judged over ``alive_after_s`` (90 s by default), so an
    answer a second old is as good. A check that finds something wrong on the kept list
    (a queue nobody serves, a GPU request nobody meets) is judged again on a fresh read,
    so a worker that has just registered counts at once.
    """

    def __init__(self, alive_after_s: float, refresh_s: float = 2.0) -> None:
        self.alive_after_s = alive_after_s
        self.refresh_s = refresh_s
        self._workers: list[LiveWorker] = []
        self._read_at = float("-inf")

    async def check(
        self, r: "aioredis.Redis", now: float, problem: Callable[[list[LiveWorker]], T | None]
    ) -> T | None:
        """``problem`` of the live workers (None: nothing wrong), a fresh read deciding."""
        if now - self._read_at <= self.refresh_s and problem(self._workers) is None:
            return None
        known = {worker: worker for worker in self._workers}
        self._workers = await live_workers(r, now, self.alive_after_s, known)
        self._read_at = now
        return problem(self._workers)

    async def unserved(self, r: "aioredis.Redis", queue: str, now: float) -> set[str] | None:
        """None when a live worker serves ``queue``, else the queues live workers serve."""

        def others(workers: list[LiveWorker]) -> set[str] | None:
            served = _served(workers)
            return None if queue in served else served

        return await self.check(r, now, others)


async def delete_worker(r: "aioredis.Redis", worker_id: str) -> None:
    """Forget a worker (clean agent exit). Leases of tasks it still held run out and
    the reaper handles them."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.srem(keys.WORKERS, worker_id)
        pipe.delete(keys.worker(worker_id), keys.worker_running(worker_id))
        await pipe.execute()
