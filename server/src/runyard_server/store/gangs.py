"""Multi-node tasks: gang scheduling, all ranks or none.

A task with ``resources.nodes`` = N > 1 runs one process (a rank) on each of N agents
at once. Its state lives in a gang hash beside the task (``keys.task_gang``; the
Lua is ``lua/gang.lua``, every change is one script):

- **Forming.** A claim that meets a queued gang task it fits joins its gang instead of
  taking it: the first makes the gang (N rank slots and a deadline, ``gang_timeout_s``
  away) and the task stays where it is in its queue. Each member has its own lease
  token and offers a rendezvous address (``ClaimRequest.gang_host``/``gang_port``). The
  member's claim request then waits (:func:`claim_settled`, polling the gang every
  ``POLL_S``; a long poll does it outside the middleware's attempt limits,
  ``LongPoll.settle``) while its agent's poll loop is blocked in that request: that
  is the reservation.
- **Formed.** The claim that fills the last slot starts the task: it leaves its
  queue, runs with every member as a rank (member i is rank i; rank 0's offer is
  ``MASTER_ADDR``/``MASTER_PORT``), each rank on the short first lease. Each waiting
  claim sees it and answers its agent with a ``Claim`` whose ``gang`` says the rank.
- **Released before forming.** At the deadline (whoever looks first: a waiting
  member or a claim meeting the gang) the gang is dissolved, its members are free, and
  its task is where it was in its queue for the next claims. A member whose request
  stops waiting (its wait is over, or its agent's connection closed) leaves its slot,
  and the last member takes its place. Aborting, dequeuing or moving the task
  dissolves it.
- **No deadlock, no starvation.** A claim walks its queues in order as for any
  task; where it would join or make a gang it joins the oldest forming gang on its
  queues that it fits instead (``ry:gangs``, scored by queue order; maybe the same
  one). So agents fill one gang before the next: two gangs competing for too few
  agents never each hold a part until both time out, a gang released at its deadline
  keeps its place, and a task ahead of every gang (a higher priority) still goes first.
- **Running.** Each rank reports with its own token (``started``, logs, end). The
  task's lease is its earliest rank's lease, so the reaper acts when any rank's
  agent goes quiet, and then on the whole gang (requeued at the head or failed);
  the other ranks' agents hear "lost" at their next heartbeat and kill their
  processes. A rank that fails or is aborted asks the others to stop: their
  heartbeats answer "abort" (SIGTERM, grace, as a user abort). The task ends once,
  when its last rank has reported, as the first rank that did not complete said
  (its reason prefixed ``rank i:``), else completed. A rank giving its task back
  (a draining agent) gives back the whole gang.
- **Whole.** An agent in front of a scheduler that places the ranks itself (Slurm)
  offers to take the task whole (``ClaimRequest.whole_gangs``): its claim takes it as
  a one-node task is taken, one worker and one lease, no gang (a forming one is
  dissolved, its members let go).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis

from runyard.models import Claim, GangRank
from runyard_server.store import script_keys, scripts
from runyard_server.store.records import number, task_from_hash

POLL_S = 0.1
"""How often a waiting member looks at its gang: the ranks start this close together."""


@dataclass(frozen=True)
class GangOffer:
    """What a claim brings to a gang: where its agent would host rank 0, and how long a
    gang it makes may take to form."""

    host: str
    port: int
    timeout_s: float
    whole: bool = False
    """The claimer takes a multi-node task whole, under one lease (``ClaimRequest.whole_gangs``)."""

    def arg(self) -> str:
        """The offer as the claim script takes it (``port host``, or ``whole``)."""
        return "whole" if self.whole else f"{self.port} {self.host}"


@dataclass(frozen=True)
class Joined:
    """A claim joined the gang of ``task_id`` with ``token``; it waits for the rest."""

    task_id: str
    token: str


async def seat(
    r: "aioredis.Redis", worker_id: str, joined: Joined, now: float, *, leave: bool = False
) -> Claim | Literal["forming"] | None:
    """The member's claim once its gang formed; None once the gang is gone; "forming"
    while it forms. With ``leave``, a gang still forming is left (None)."""
    declared = script_keys.transition([joined.task_id], [], [worker_id])
    reply = await scripts.run(
        r, "gang_seat", declared, joined.task_id, joined.token, worker_id, number(now),
        "1" if leave else "0",
    )  # fmt: skip
    if reply[0] == "forming":
        return "forming"
    if reply[0] == "gone":
        return None
    port, _, host = str(reply[4]).partition(" ")
    gang = GangRank(
        rank=int(reply[2]), world_size=int(reply[3]), master_addr=host, master_port=int(port)
    )
    task = task_from_hash(joined.task_id, scripts.pairs(reply[1]))
    return Claim(task=task, lease_token=joined.token, gang=gang)


async def wait_formed(
    r: "aioredis.Redis", worker_id: str, joined: Joined, until: float
) -> Claim | None:
    """Wait until the gang formed (this member's claim) or is gone (None); at ``until``
    (``time.monotonic()``), or when the wait is cancelled, a gang still forming is left."""
    try:
        while True:
            leave = time.monotonic() >= until
            got = await seat(r, worker_id, joined, time.time(), leave=leave)
            if not isinstance(got, str):
                return got
            await asyncio.sleep(POLL_S)
    except asyncio.CancelledError:
        # The claimer went away: free its slot now, not at the deadline. A gang that
        # formed meanwhile runs without this rank until its first lease runs out.
        await asyncio.shield(seat(r, worker_id, joined, time.time(), leave=True))
        raise


ClaimAttempt = Callable[[], Awaitable[tuple[Claim | Joined | None, bool]]]
"""One claim: what it got (None: nothing) and whether it saw tasks too big for it."""


async def claim_settled(
    r: "aioredis.Redis",
    worker_id: str,
    attempt: ClaimAttempt,
    until: float,
    first: tuple[Claim | Joined | None, bool] | None = None,
) -> tuple[Claim | None, bool]:
    """``attempt`` (or its result ``first``) with a joined gang waited for until
    ``until`` (``time.monotonic()``): a gang released before it formed is claimed again
    while time is left. What was claimed (None: nothing) and whether unfit tasks were seen."""
    got, unfit = first if first is not None else await attempt()
    while isinstance(got, Joined):
        claim = await wait_formed(r, worker_id, got, until)
        if claim is not None or time.monotonic() >= until:
            return claim, unfit
        got, unfit = await attempt()
    return got, unfit
