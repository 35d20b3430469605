"""What a soak does and when, as a pure function of its seed.

Infrastructure faults come one after another (each kind once per round, the round's
order shuffled), so that every kind is injected in a short soak and each fault's
window of expected errors is its own. User actions (aborts, dequeues) and task
creations run on their own timelines meanwhile. A task to abort or dequeue is
picked at run time as a fraction into the last few tasks created.
"""

import random
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """An infrastructure fault."""

    AGENT_KILL = "agent_kill"  # kill -9 an agent (its tasks die by PDEATHSIG), restart it
    AGENT_FREEZE = "agent_freeze"  # SIGSTOP an agent and its tasks past the lease
    SERVER_KILL = "server_kill"  # kill -9 the API and its jobs process, restart them
    REDIS_KILL = "redis_kill"  # kill -9 Redis (AOF, fsync always), restart it
    NET_CUT = "net_cut"  # cut an agent's link to the server (loopback proxy)


class ActionKind(StrEnum):
    """A user's move."""

    ABORT = "abort"
    DEQUEUE = "dequeue"  # then enqueue it again, so that every task can end


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after the soak began
    kind: FaultKind
    agent: int  # the agent hurt (agent faults and cuts), else 0
    hold_s: float  # down time, freeze or cut


@dataclass(frozen=True)
class Action:
    at_s: float
    kind: ActionKind
    pick: float  # which task: this fraction into the last few tasks created


@dataclass(frozen=True)
class TaskPlan:
    at_s: float
    lines: int  # numbered lines printed, one every LINE_PAUSE_S
    exit_code: int


@dataclass(frozen=True)
class Schedule:
    faults: list[Fault]
    actions: list[Action]
    tasks: list[TaskPlan]


LINE_PAUSE_S = 0.1
_AGENT_FAULTS = (FaultKind.AGENT_KILL, FaultKind.AGENT_FREEZE, FaultKind.NET_CUT)


def plan(seed: int, duration_s: float, agents: int, lease_s: float) -> Schedule:
    """The soak of ``duration_s`` seconds for ``seed``: the same seed, the same schedule."""
    return Schedule(
        faults=_faults(random.Random(f"faults/{seed}"), duration_s, agents, lease_s),
        actions=_actions(random.Random(f"actions/{seed}"), duration_s),
        tasks=_tasks(random.Random(f"tasks/{seed}"), duration_s),
    )


def _hold(rng: random.Random, kind: FaultKind, lease_s: float) -> float:
    if kind is FaultKind.AGENT_FREEZE:
        return rng.uniform(1.5, 2.2) * lease_s  # well past the lease: the task is rerun
    if kind is FaultKind.NET_CUT:
        return rng.uniform(0.5, 2.0) * lease_s  # either side of the agent's fence
    if kind is FaultKind.SERVER_KILL:
        return rng.uniform(2.0, 7.0)
    if kind is FaultKind.REDIS_KILL:
        return rng.uniform(1.0, 4.0)
    return rng.uniform(2.0, 6.0)  # agent down before its restart


def _faults(rng: random.Random, duration_s: float, agents: int, lease_s: float) -> list[Fault]:
    faults: list[Fault] = []
    at, round_left = rng.uniform(5.0, 10.0), list[FaultKind]()
    while True:
        if not round_left:
            round_left = list(FaultKind)
            rng.shuffle(round_left)
        kind = round_left.pop()
        hold = _hold(rng, kind, lease_s)
        if at + hold > duration_s:
            return faults
        agent = rng.randrange(agents) if kind in _AGENT_FAULTS else 0
        faults.append(Fault(round(at, 3), kind, agent, round(hold, 3)))
        at += hold + rng.uniform(4.0, 10.0)


def _actions(rng: random.Random, duration_s: float) -> list[Action]:
    actions: list[Action] = []
    at = rng.uniform(3.0, 8.0)
    while at < duration_s:
        kind = ActionKind.ABORT if rng.random() < 0.7 else ActionKind.DEQUEUE
        actions.append(Action(round(at, 3), kind, rng.random()))
        at += rng.uniform(3.0, 8.0)
    return actions


def _tasks(rng: random.Random, duration_s: float) -> list[TaskPlan]:
    tasks: list[TaskPlan] = []
    at = 0.5
    while at < duration_s:
        exit_code = 1 if rng.random() < 0.1 else 0
        tasks.append(TaskPlan(round(at, 3), rng.randint(10, 50), exit_code))
        at += rng.uniform(1.0, 3.0)
    return tasks
