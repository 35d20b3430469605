"""Priority preemption: a waiting task that fits nowhere stops lower-priority work.

Opt-in per queue: only tasks of a queue set ``preemptible`` are ever victims. The jobs
process (``jobs/preempter.py``) calls :func:`preempt_waiting` every second. It reads
the front of every queue, the live workers and what their running tasks hold, and
picks the waiting tasks that have waited ``after_s`` (a normal free slot gets that
long to take them), that their own queue's limits would let run, that fit on no worker
serving their queue (with GPUs of the kind they ask for), and that have a higher
priority than some running task of a preemptible queue on such a worker. For each, in priority
order, ``lua/preempt.lua`` decides and marks in one atomic step: it checks again what
the read saw, chooses the fewest victims, marks them and holds their worker.

What happens next: the victims' agent hears of the mark in its heartbeat reply
(``HeartbeatReply.preempt``), SIGTERMs the task, waits its abort grace (the task can
checkpoint) and gives the task back (``requeue.lua``: head of its queue, the attempt
not counted, ``preempted_by`` recorded). Its slot freed, the agent claims again;
while the worker is held (``preemption_hold.py``) its claims look only at the
preemptor's queue, where the preemptor sits at the front of its priority, so the freed
room goes to it.

No loop: a task preempted twice within ``window_s`` is not chosen again, and a task
whose victims are still stopping gets no more victims. What the read cannot see (a GPU
another user's process holds, fractional placement) makes it assume room is free, so
an error here errs towards not preempting.
"""

from dataclasses import dataclass, field
from typing import Literal, cast

import redis.asyncio as aioredis

from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.preemption_fleet import (
    Fleet,
    Running,
    Waiting,
    queue_settings,
    read_fleet,
    read_waiting,
)
from runyard_server.store.records import number
from runyard_server.store.stops import publish_stop

MAX_TRIES_PER_PASS = 8
"""Waiting tasks one pass asks ``preempt.lua`` about, so a pass stays short."""

MAX_WORKERS_PER_TRY = 16
"""Workers one ``preempt.lua`` call weighs (those running the lowest priorities)."""


@dataclass(frozen=True)
class PreemptPolicy:
    """The settings of preemption (``Settings.preempt_*``)."""

    after_s: float
    """How long a task waits before it may preempt."""
    window_s: float
    """A task preempted twice within this many seconds is not preempted again."""
    hold_s: float
    """How long a worker whose task was preempted is held for the preemptor."""


Outcome = Literal["marked", "pending", "fits", "none", "early", "gone"]


@dataclass(frozen=True)
class Decision:
    """What ``preempt.lua`` decided for one waiting task.

    ``outcome``: ``marked`` (``victims`` on ``worker`` are told to stop), ``pending``
    (a victim of it is still stopping), ``fits`` (``worker`` has room: no preemption),
    ``none`` (nothing may be preempted for it), ``early`` (it has not waited long
    enough) or ``gone`` (it is no longer queued).
    """

    task_id: str
    outcome: Outcome
    worker: str | None = None
    victims: list[str] = field(default_factory=list)


async def preempt_for(
    r: "aioredis.Redis",
    task_id: str,
    worker_ids: list[str],
    policy: PreemptPolicy,
    now: float,
) -> Decision:
    """Decide (and mark) the preemption for one waiting task among ``worker_ids``."""

    async def plan() -> script_keys.Declared:
        queue = cast(str | None, await r.hget(keys.task(task_id), "queue"))
        async with r.pipeline(transaction=False) as pipe:
            for worker_id in worker_ids:
                pipe.smembers(keys.worker_running(worker_id))
                pipe.hget(keys.worker(worker_id), "reserved_for")
            replies = await pipe.execute()
        running = sorted({task for tasks in replies[::2] for task in tasks})
        held = {held for held in replies[1::2] if held}
        async with r.pipeline(transaction=False) as pipe:
            for running_id in running:
                pipe.hget(keys.task(running_id), "queue")
            queues: list[str | None] = await pipe.execute()
        declared = {**script_keys.SINGLETONS, **script_keys.task(task_id)}
        for name in {queue, *queues} - {None}:
            declared |= script_keys.queue(cast(str, name))
        for worker_id in worker_ids:
            declared |= script_keys.worker(worker_id)
        for other in {*running, *held}:
            declared |= script_keys.task(other)
        return declared

    reply: list[str] = await scripts.run_planned(
        r,
        "preempt",
        plan,
        number(now),
        task_id,
        number(policy.after_s),
        number(policy.window_s),
        number(policy.hold_s),
        *worker_ids,
    )
    worker = str(reply[1]) if len(reply) > 1 else None
    outcome = cast(Outcome, str(reply[0]))
    if outcome == "marked" and worker is not None:
        await publish_stop(r, worker)  # its agent's stop watch SIGTERMs the victims now
    return Decision(task_id, outcome, worker, [str(victim) for victim in reply[2:]])


async def preempt_waiting(
    r: "aioredis.Redis",
    policy: PreemptPolicy,
    now: float,
    alive_after_s: float,
    known: dict[str, Running] | None = None,
) -> list[Decision]:
    """One pass over the waiting tasks that may preempt; the preemptions it marked.

    Cheap when there is nothing to do, as most seconds: without a preemptible queue it
    reads the queue settings only; without a task that waited long enough, the fronts
    of the queues too; the workers and what they run only then (running tasks not in
    ``known`` only, which a caller that passes one dict to each pass keeps).
    """
    settings = await queue_settings(r)
    preemptible = {name for name, queue in settings.items() if queue.preemptible}
    if not preemptible:
        return []
    waiting = await read_waiting(r, settings, now - policy.after_s)
    if not waiting:
        return []
    fleet = await read_fleet(r, now, alive_after_s, preemptible, known)
    marked: list[Decision] = []
    tries = 0
    for task in waiting:
        targets = _targets(fleet, task)
        if not targets:
            continue
        decision = await preempt_for(r, task.task_id, targets, policy, now)
        if decision.outcome == "marked":
            marked.append(decision)
        tries += 1
        if tries >= MAX_TRIES_PER_PASS:
            break
    return marked


def _targets(fleet: Fleet, task: Waiting) -> list[str]:
    """The workers ``preempt.lua`` should weigh for a task: none when one that serves
    its queue and has GPUs of its kind has room for it (a claim takes it), else those
    running something it may preempt."""
    serving = [w for w in fleet.workers if task.queue in w.queues and w.can_host(task)]
    if any(worker.has_room(task.need) for worker in serving):
        return []
    floors = [
        (floor, worker.worker_id)
        for worker in serving
        if (floor := fleet.victim_floor.get(worker.worker_id)) is not None and floor < task.priority
    ]
    # The script is given every task these workers run: a few, the lowest floors first.
    return [worker_id for _, worker_id in sorted(floors)[:MAX_WORKERS_PER_TRY]]
