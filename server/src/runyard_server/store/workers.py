"""Workers: registration, heartbeats (which extend leases) and the list of agents."""

import json
import uuid
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis

from runyard.models import GpuState, Heartbeat, HeartbeatReply, Worker, WorkerRegister
from runyard_server.errors import NotFound
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.records import flatten, number


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
    """Extend the leases of the tasks the worker still holds to ``now + lease_s``.

    ``lost``: held tasks whose token or worker is no longer current (the agent kills
    them and reports nothing); ``abort``: held tasks a user asked to abort;
    ``preempt``: held tasks a higher-priority task preempts, with the preemptor.
    """
    held = [item for task in body.running for item in (task.task_id, task.lease_token)]
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


async def _live_queue_lists(
    r: "aioredis.Redis", now: float, alive_after_s: float
) -> list[list[str]]:
    """The queues of each live worker (heartbeat within ``alive_after_s``)."""
    ids = cast(set[str], await r.smembers(keys.WORKERS))
    async with r.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hmget(keys.worker(worker_id), "queues", "last_heartbeat")
        replies = await pipe.execute()
    return [
        json.loads(queues)
        for queues, beat in replies
        if queues and beat and now - float(beat) <= alive_after_s
    ]


async def served_queues(r: "aioredis.Redis", now: float, alive_after_s: float) -> set[str]:
    """The queues some live worker (heartbeat within ``alive_after_s``) claims from."""
    return {q for queues in await _live_queue_lists(r, now, alive_after_s) for q in queues}


async def count_serving(r: "aioredis.Redis", queue: str, now: float, alive_after_s: float) -> int:
    """How many live workers claim from ``queue`` (a multi-node task needs that many)."""
    return sum(queue in queues for queues in await _live_queue_lists(r, now, alive_after_s))


class ServedQueues:
    """:func:`served_queues` for the create and enqueue routes, cheap under many agents.

    Reading it costs one HMGET per registered worker, on every create or enqueue that
    names a queue (10,000 per request with 10,000 agents). A queue seen served stays so
    for ``refresh_s``: liveness is judged over ``alive_after_s`` (90 s by default), so an
    answer a second old is as good. A queue not seen served is read afresh each time,
    so a worker that has just registered counts at once.
    """

    def __init__(self, alive_after_s: float, refresh_s: float = 2.0) -> None:
        self.alive_after_s = alive_after_s
        self.refresh_s = refresh_s
        self._served: set[str] = set()
        self._read_at = float("-inf")

    async def unserved(self, r: "aioredis.Redis", queue: str, now: float) -> set[str] | None:
        """None when a live worker serves ``queue``, else the queues live workers serve."""
        if queue in self._served and now - self._read_at <= self.refresh_s:
            return None
        self._served = await served_queues(r, now, self.alive_after_s)
        self._read_at = now
        return None if queue in self._served else self._served


async def delete_worker(r: "aioredis.Redis", worker_id: str) -> None:
    """Forget a worker (clean agent exit). Leases of tasks it still held run out and
    the reaper handles them."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.srem(keys.WORKERS, worker_id)
        pipe.delete(keys.worker(worker_id), keys.worker_running(worker_id))
        await pipe.execute()
