"""What preemption reads before it asks ``preempt.lua``: live workers, what they hold,
and the waiting tasks at the front of the queues they serve.

A read without a lock, for choosing whom to ask about: ``preempt.lua`` checks again
what it relies on. Each step is one pipelined round trip.
"""

import fnmatch
import json
import math
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis

from runyard.models import QueueSettings
from runyard_server.store import keys
from runyard_server.store.queue_settings import read_settings

FRONT = 16
"""Waiting tasks read per queue: a task further back waits for those before it."""

_EPS = 1e-9

Need = tuple[float, float, float]
"""GPUs, CPUs, memory (GB)."""


@dataclass(frozen=True)
class Waiting:
    """A task waiting at the front of a served queue, and its typed GPU request."""

    task_id: str
    queue: str
    priority: int
    need: Need
    gpu_memory_gb: float = 0.0
    gpu_model: str = ""


@dataclass
class FleetWorker:
    """A live worker: its queues, its GPUs (lowered name, memory), its free room and
    slot by the server's count."""

    worker_id: str
    queues: list[str]
    gpus: list[tuple[str, float]]
    free: list[float]
    slot_free: bool

    def has_room(self, need: Need) -> bool:
        """Whether a task needing ``need`` fits in what its running tasks leave free."""
        return self.slot_free and all(n <= f + _EPS for n, f in zip(need, self.free, strict=True))

    def can_host(self, task: Waiting) -> bool:
        """Whether enough of its GPUs are of the model and memory the task asks for
        (the claim places them exactly; this only keeps preemption off workers whose
        GPUs could never run the task)."""
        if not task.need[0] or not (task.gpu_model or task.gpu_memory_gb):
            return True
        pattern = task.gpu_model.lower()
        fitting = [
            name
            for name, memory in self.gpus
            if memory >= task.gpu_memory_gb and (not pattern or _model_matches(name, pattern))
        ]
        return len(fitting) >= math.ceil(task.need[0])


def _model_matches(name: str, pattern: str) -> bool:
    # As the claim matches: the whole name or a tail of it after a space ('a100*'
    # matches 'nvidia a100-sxm4-80gb').
    tails = [name] + [name[at + 1 :] for at, char in enumerate(name) if char == " "]
    return any(fnmatch.fnmatchcase(tail, pattern) for tail in tails)


@dataclass
class Fleet:
    """The live workers and, per worker, the lowest priority of a single-node task it
    runs from a preemptible queue (absent: none). Tasks already told to stop count too:
    ``preempt.lua`` tells them apart."""

    workers: list[FleetWorker] = field(default_factory=list)
    victim_floor: dict[str, int] = field(default_factory=dict)


def _need(gpus: str | None, cpus: str | None, mem: str | None) -> Need:
    return float(gpus or 0), float(cpus or 0), float(mem or 0)


async def queue_settings(r: "aioredis.Redis") -> dict[str, QueueSettings]:
    """Every queue's settings."""
    return await read_settings(r, sorted(cast(set[str], await r.smembers(keys.QUEUES))))


@dataclass(frozen=True)
class Running:
    """What preemption reads of a running task; fixed while it runs, so a caller that
    looks every second keeps them (``known``) and reads only tasks new since."""

    priority: int
    queue: str | None
    need: Need
    multi_node: bool


async def read_fleet(
    r: "aioredis.Redis",
    now: float,
    alive_after_s: float,
    preemptible: set[str],
    known: dict[str, Running] | None = None,
) -> Fleet:
    """The workers that heartbeated within ``alive_after_s`` and what they run.

    ``known`` (running task id → :class:`Running`) is read from and brought up to
    date: only tasks not in it are read, and tasks that stopped running leave it.
    """
    known = {} if known is None else known
    ids = sorted(cast(set[str], await r.smembers(keys.WORKERS)))
    async with r.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hmget(
                keys.worker(worker_id), "queues", "last_heartbeat", "resources", "slots", "gpus"
            )
            pipe.smembers(keys.worker_running(worker_id))
        replies = await pipe.execute()
    live: list[tuple[str, list[str | None], list[str]]] = []
    for worker_id, h, running in zip(ids, replies[::2], replies[1::2], strict=True):
        if h[0] and h[1] and h[2] and now - float(h[1]) <= alive_after_s:
            live.append((worker_id, h, sorted(running)))
    await _learn_running(r, {task_id for _, _, running in live for task_id in running}, known)
    fleet = Fleet()
    for worker_id, (queues, _, resources, slots, cards), running in live:
        total = json.loads(cast(str, resources))
        free = [float(total.get(k, 0)) for k in ("gpus", "cpus", "memory_gb")]
        for task in (known[task_id] for task_id in running):
            for k, used in enumerate(task.need):
                free[k] -= used
            if task.queue in preemptible and not task.multi_node:
                floor = fleet.victim_floor.get(worker_id)
                level = task.priority if floor is None else min(floor, task.priority)
                fleet.victim_floor[worker_id] = level
        slot_free = slots is None or len(running) < int(slots)
        fleet.workers.append(
            FleetWorker(worker_id, json.loads(cast(str, queues)), _gpus(cards), free, slot_free)
        )
    return fleet


async def _learn_running(r: "aioredis.Redis", running: set[str], known: dict[str, Running]) -> None:
    for gone in known.keys() - running:
        del known[gone]
    new = sorted(running - known.keys())
    async with r.pipeline(transaction=False) as pipe:
        for task_id in new:
            pipe.hmget(keys.task(task_id), "priority", "queue", "gpus", "cpus", "mem", "nodes")
        rows: list[list[str | None]] = await pipe.execute()
    for task_id, (priority, queue, gpus, cpus, mem, nodes) in zip(new, rows, strict=True):
        level = int(float(priority or 0))
        known[task_id] = Running(level, queue, _need(gpus, cpus, mem), int(nodes or 1) > 1)


def _gpus(stored: str | None) -> list[tuple[str, float]]:
    """A worker's GPUs as (lowered name, memory) from its ``gpus`` JSON."""
    return [
        (str(g.get("name", "")).lower(), float(g.get("memory_gb", 0)))
        for g in json.loads(stored or "[]")
    ]


async def read_waiting(
    r: "aioredis.Redis", settings: dict[str, QueueSettings], since: float
) -> list[Waiting]:
    """Queued tasks at the front of the queues enqueued by ``since`` that their queue's
    limits would let run, highest priority first (then the longest waiting)."""
    queues = sorted(settings)
    async with r.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrange(keys.queue(queue), 0, FRONT - 1)
        fronts: list[list[str]] = await pipe.execute()
    on = [
        (queue, task_id) for queue, front in zip(queues, fronts, strict=True) for task_id in front
    ]
    async with r.pipeline(transaction=False) as pipe:
        for _, task_id in on:
            pipe.hmget(
                keys.task(task_id),
                "status", "priority", "enqueued", "gpus", "cpus", "mem", "nodes",
                "gpu_mem", "gpu_model",
            )  # fmt: skip
        rows: list[list[str | None]] = await pipe.execute()
    usage = await _queue_usage(r, settings)
    found: list[tuple[float, Waiting]] = []
    for (queue, task_id), row in zip(on, rows, strict=True):
        status, priority, enqueued, gpus, cpus, mem, nodes, gpu_mem, gpu_model = row
        if status != "queued" or not enqueued or float(enqueued) > since:
            continue
        # A multi-node task (a gang) neither preempts nor is preempted (``preempt.lua``).
        if int(nodes or 1) > 1:
            continue
        if not _within_limits(settings[queue], usage.get(queue, (0, 0.0)), float(gpus or 0)):
            continue
        level, need = int(float(priority or 0)), _need(gpus, cpus, mem)
        task = Waiting(task_id, queue, level, need, float(gpu_mem or 0), gpu_model or "")
        found.append((float(enqueued), task))
    found.sort(key=lambda item: (-item[1].priority, item[0]))
    return [task for _, task in found]


async def _queue_usage(
    r: "aioredis.Redis", settings: dict[str, QueueSettings]
) -> dict[str, tuple[int, float]]:
    """Running tasks and the GPUs they hold, of each queue with a limit."""
    limited = [
        q for q, s in settings.items() if s.max_running is not None or s.max_gpus is not None
    ]
    async with r.pipeline(transaction=False) as pipe:
        for queue in limited:
            pipe.zrange(keys.queue_running(queue), 0, -1, withscores=True)
        held: list[list[tuple[str, float]]] = await pipe.execute()
    return {q: (len(rows), sum(g for _, g in rows)) for q, rows in zip(limited, held, strict=True)}


def _within_limits(limits: QueueSettings, usage: tuple[int, float], gpus: float) -> bool:
    # A task its own queue holds back would not run on the room its victims free.
    running, gpus_used = usage
    if limits.max_running is not None and running >= limits.max_running:
        return False
    return not (
        gpus > 0 and limits.max_gpus is not None and gpus_used + gpus > limits.max_gpus + _EPS
    )
