"""Claiming: hand the first waiting task that fits to a worker (one Lua script)."""

import secrets
from typing import cast

import redis.asyncio as aioredis

from runyard.models import Claim, GpuFree, Resources
from runyard_server.errors import NotFound
from runyard_server.store import gpu_placement, keys, script_keys, scripts
from runyard_server.store.gangs import GangOffer, Joined, wait_formed
from runyard_server.store.preemption_hold import held_queues
from runyard_server.store.records import number, task_from_hash

SCAN_PER_QUEUE = 200
"""Entries looked at per queue and claim, so a claim stays cheap behind 100,000 tasks.
A task behind 200 that are all too big for this agent waits for another agent."""

FIRST_LOOK = 16
"""Entries per queue a claim first declares to its script (usually the first fits);
when the script gets past them, the claim reads and declares ``scan_per_queue``."""


async def claim(
    r: "aioredis.Redis",
    worker_id: str,
    queues: list[str],
    free: Resources,
    first_lease_s: float,
    now: float,
    scan_per_queue: int = SCAN_PER_QUEUE,
    gpus: list[GpuFree] | None = None,
) -> Claim | None:
    """The first task, in ``queues`` order then claim order, whose resources fit ``free``
    (its GPUs on ``gpus``, the agent's GPUs with their free shares, when given).

    The task becomes ``running`` on ``worker_id`` with a new lease token, a lease
    until ``now + first_lease_s`` and its ``placement``. None when nothing fits.
    NotFound for an unknown worker.
    """
    found, _ = await claim_or_skip(
        r, worker_id, queues, free, first_lease_s, now, scan_per_queue, gpus
    )
    if isinstance(found, Joined):  # no wait here: a gang it joined is left unless formed
        return await wait_formed(r, worker_id, found, until=0)
    return found


async def claim_or_skip(
    r: "aioredis.Redis",
    worker_id: str,
    queues: list[str],
    free: Resources,
    first_lease_s: float,
    now: float,
    scan_per_queue: int = SCAN_PER_QUEUE,
    gpus: list[GpuFree] | None = None,
    offer: GangOffer | None = None,
) -> tuple[Claim | Joined | None, bool]:
    """Like :func:`claim`; the flag says whether waiting tasks were seen that did not fit.

    With an ``offer`` the claim may join the gang of a multi-node task instead
    (``Joined``: the caller waits for it to form, ``gangs.wait_formed``)."""
    # A worker held for a preemptor looks only at its queue (store/preemption_hold.py).
    queues = await held_queues(r, worker_id, queues, now)
    token = secrets.token_hex(16)
    looks = [min(FIRST_LOOK, scan_per_queue), scan_per_queue]

    async def plan() -> script_keys.Declared:
        # The tasks at the front of each queue: the ones the script may look at.
        look = looks.pop(0) if len(looks) > 1 else looks[0]
        async with r.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zrange(keys.queue(queue), 0, look - 1)
            for queue in queues:
                pipe.hlen(keys.queue_owners(queue))
            if offer is not None:  # the gangs forming, which the claim may join first
                pipe.zrange(keys.GANGS, 0, 63)
            fronts: list[list[str]] = await pipe.execute()
        owners = cast(list[int], fronts[len(queues) : 2 * len(queues)])
        del fronts[len(queues) : 2 * len(queues)]
        deep = [queue for queue, n in zip(queues, owners, strict=True) if n > 1]
        if look < scan_per_queue and deep:
            # Several owners wait there: fair share may walk past the first look.
            looks[:] = [scan_per_queue]
            async with r.pipeline(transaction=False) as pipe:
                for queue in deep:
                    pipe.zrange(keys.queue(queue), look, scan_per_queue - 1)
                fronts += await pipe.execute()
        waiting = list(dict.fromkeys(task_id for front in fronts for task_id in front))
        # Without an offer the claim joins no gang: their keys are not needed.
        return script_keys.transition(waiting, list(queues), [worker_id], gangs=offer is not None)

    reply = await scripts.run_planned(
        r,
        "claim",
        plan,
        worker_id,
        token,
        number(now),
        number(now + first_lease_s),
        gpu_placement.claim_argument(free, gpus),
        number(float(free.cpus)),
        number(float(free.memory_gb)),
        scan_per_queue,
        "" if offer is None else offer.arg(),
        0 if offer is None else number(offer.timeout_s),
        *queues,
    )
    if reply[0] == "gang":
        return Joined(task_id=str(reply[1]), token=token), False
    if reply[0] == "none":
        return None, bool(reply[1])
    if reply[0] == "missing":
        raise NotFound(f"worker {worker_id} is not registered: register it again")
    task = task_from_hash(str(reply[2]), scripts.pairs(reply[1]))
    return Claim(task=task, lease_token=token), False
