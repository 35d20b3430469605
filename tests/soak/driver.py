"""Runs a soak: the schedule's tasks, faults and user actions on a :class:`World`,
then heals everything, waits for every task to end and checks the invariants.

One thread drives everything from a heap of timed events, so a fault's start, its
end and the user's moves happen in the order the schedule says (a slow restart
delays what follows; the order holds). The windows in which the server or Redis is
down on purpose, plus ``KILL_GRACE_S`` after it is back, are where a 5xx may be
seen; the server's request log says what every client got. Every few seconds (away
from those windows) the driver looks for leases the reaper left expired, which is
how a dead reaper shows while the soak runs. Aborts and dequeues pick among the
last ``RECENT`` tasks created, the ones likely still queued or running.
"""

import heapq
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from runyard.client import Client
from runyard.models import Task, TaskStatus
from tests.e2e.agent_support import log_texts
from tests.faults.consistency import OVERDUE_AFTER_S, overdue_leases, problems
from tests.soak import checks
from tests.soak.schedule import (
    LINE_PAUSE_S,
    Action,
    ActionKind,
    Fault,
    FaultKind,
    Schedule,
    TaskPlan,
    plan,
)
from tests.soak.world import PROJECT, QUEUE, World

KILL_GRACE_S = 10.0
SAMPLE_EVERY_S = 5.0
RECENT = 6
_DOWN_KINDS = (FaultKind.SERVER_KILL, FaultKind.REDIS_KILL)


@dataclass(frozen=True)
class SoakConfig:
    seed: int
    minutes: float
    root: Path
    agents: int = 3
    lease_s: float = 6.0
    first_lease_s: float = 4.0
    drain_s: float = 240.0  # after the schedule: how long tasks get to end


@dataclass
class Report:
    """What a soak did and found; ``violations`` maps an invariant to its broken cases."""

    seed: int
    minutes: float
    faults: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    process_starts: int = 0
    reruns: int = 0
    requests: int = 0
    requests_5xx_in_kill_windows: int = 0
    drain_s: float = 0.0
    violations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def summary(self) -> str:
        lines = [
            f"soak seed {self.seed}, {self.minutes:g} min: "
            + ("all invariants held" if self.ok else "INVARIANTS BROKEN"),
            "faults: " + ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())),
            "user actions: " + ", ".join(f"{k} {n}" for k, n in sorted(self.actions.items())),
            "tasks: " + ", ".join(f"{k} {n}" for k, n in sorted(self.tasks.items())),
            f"process starts {self.process_starts}, tasks rerun {self.reruns}, "
            f"requests served {self.requests} (5xx inside kill windows: "
            f"{self.requests_5xx_in_kill_windows}), drained in {self.drain_s:.0f}s",
        ]
        for name, found in sorted(self.violations.items()):
            lines.append(
                f"{name}: {len(found)} violation(s)" + "".join(f"\n  {v}" for v in found[:20])
            )
        return "\n".join(lines)


class Soak:
    """One soak run; :meth:`run` returns its :class:`Report`."""

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        duration = config.minutes * 60
        self.schedule: Schedule = plan(config.seed, duration, config.agents, config.lease_s)
        self.world = World(config.root, config.agents, config.lease_s, config.first_lease_s)
        self.http = requests.Session()
        self.created: list[str] = []
        self.drafts: set[str] = set()
        self.aborts: dict[str, checks.AbortRecord] = {}
        self.windows: list[tuple[float, float]] = []
        self.overdue: list[str] = []
        self.faults: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._down_since: float | None = None
        self._last_up = 0.0

    def run(self) -> Report:
        try:
            self.world.start()
            self._drive()
            report = self._report(self._drain())
        finally:
            self.http.close()
            self.world.close()
        return report

    # -- the schedule ---------------------------------------------------------------

    def _at(self, at_s: float, event: Callable[[], None]) -> None:
        heapq.heappush(self._events, (at_s, next(self._seq), event))

    def _drive(self) -> None:
        for task in self.schedule.tasks:
            self._at(task.at_s, lambda task=task: self._create(task))
        for fault in self.schedule.faults:
            self._at(fault.at_s, lambda fault=fault: self._inject(fault))
        for action in self.schedule.actions:
            self._at(action.at_s, lambda action=action: self._act(action))
        sample = SAMPLE_EVERY_S
        while sample < self.config.minutes * 60:
            self._at(sample, self._sample_leases)
            sample += SAMPLE_EVERY_S
        self._started = time.monotonic()
        while self._events:
            at_s, _, event = heapq.heappop(self._events)
            delay = self._started + at_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            event()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        """One request, not retried (a fault may be on); None when nothing answered."""
        try:
            return self.http.request(
                method, f"{self.world.server.api}{path}", timeout=(2, 10), **kwargs
            )
        except requests.RequestException:
            return None

    def _create(self, task: TaskPlan) -> None:
        args = [str(self.world.ledger), str(task.lines), str(LINE_PAUSE_S), str(task.exit_code)]
        body = {
            "project": PROJECT,
            "name": f"soak-{len(self.created)}",
            "queue": QUEUE,
            "create_queue": True,
            "max_retries": 2,
            "script": {
                "repository": str(self.world.repo),
                "commit": self.world.commit,
                "entry_point": "task.py",
                "args": args,
            },
        }
        response = self._call("POST", "/tasks", json=body)
        if response is not None and response.status_code == 201:
            self.created.append(str(response.json()["id"]))

    def _inject(self, fault: Fault) -> None:
        self.faults[fault.kind.value] += 1
        agent = self.world.agents[fault.agent]
        heal: Callable[[], None]
        if fault.kind is FaultKind.AGENT_KILL:
            agent.kill()
            heal = agent.start
        elif fault.kind is FaultKind.AGENT_FREEZE:
            agent.freeze()
            heal = agent.thaw
        elif fault.kind is FaultKind.NET_CUT:
            agent.proxy.cut()
            heal = agent.proxy.restore
        elif fault.kind is FaultKind.SERVER_KILL:
            self._went_down()
            self.world.kill_server()
            heal = self._back_up(self.world.server.start)
        else:
            self._went_down()
            self.world.redis.kill()
            heal = self._back_up(self.world.redis.start)
        self._at(fault.at_s + fault.hold_s, heal)

    def _went_down(self) -> None:
        self._down_since = time.time()

    def _back_up(self, start: Callable[..., object]) -> Callable[[], None]:
        def heal() -> None:
            start()
            assert self._down_since is not None
            self.windows.append((self._down_since, time.time() + KILL_GRACE_S))
            self._down_since = None
            self._last_up = time.monotonic()

        return heal

    def _act(self, action: Action) -> None:
        recent = self.created[-RECENT:]
        if not recent:
            return
        task_id = recent[int(action.pick * len(recent))]
        self.actions[f"{action.kind.value} tried"] += 1
        if action.kind is ActionKind.ABORT:
            response = self._call("POST", f"/tasks/{task_id}/abort")
            if response is not None and response.status_code == 200 and task_id not in self.aborts:
                task = Task.model_validate(response.json())
                self.aborts[task_id] = checks.AbortRecord(time.time(), task.status, task.attempt)
                self.actions["abort accepted"] += 1
            return
        response = self._call("POST", f"/tasks/{task_id}/dequeue")
        if response is not None and response.status_code == 200:
            self.actions["dequeue accepted"] += 1
            self.drafts.add(task_id)
            self._enqueue_drafts()

    def _enqueue_drafts(self) -> None:
        for task_id in sorted(self.drafts):
            response = self._call(
                "POST", f"/tasks/{task_id}/enqueue", json={"queue": QUEUE, "create_queue": True}
            )
            if response is not None and response.status_code in (200, 409):
                self.drafts.discard(task_id)

    def _sample_leases(self) -> None:
        quiet = self.config.lease_s + OVERDUE_AFTER_S + KILL_GRACE_S
        if self._down_since is not None or time.monotonic() - self._last_up < quiet:
            return
        with redis.Redis.from_url(self.world.redis.url, decode_responses=True) as r:
            try:
                self.overdue += overdue_leases(r)
            except redis.RedisError as exc:
                self.overdue.append(f"Redis did not answer the lease sample: {exc}")

    # -- the end --------------------------------------------------------------------

    def _drain(self) -> float:
        """Heal what is left, wait for every task to end; the seconds it took."""
        began = time.monotonic()
        self._enqueue_drafts()
        with Client(self.world.server.url) as client:
            while time.monotonic() - began < self.config.drain_s:
                self._enqueue_drafts()
                pending = [t for t in client.tasks.iter(project=PROJECT) if not t.status.is_final]
                if not pending:
                    break
                time.sleep(1.0)
        return time.monotonic() - began

    def _report(self, drain_s: float) -> Report:
        with Client(self.world.server.url) as client:
            tasks = {t.id: t for t in client.tasks.iter(project=PROJECT)}
            logs = {
                t.id: log_texts(client, t.id)
                for t in tasks.values()
                if t.status is TaskStatus.COMPLETED
            }
        runs = checks.read_ledger(self.world.ledger)
        with redis.Redis.from_url(self.world.redis.url, decode_responses=True) as r:
            store_problems = problems(r)
        served = checks.logged_requests(self.world.server.log_path)
        outside = checks.server_errors(served, self.windows)
        violations = {
            "every created task final": checks.unfinished(tasks.values())
            + [f"task {t}: acknowledged, not stored" for t in self.created if t not in tasks],
            "no two live copies": checks.live_overlaps(runs),
            "aborted stays aborted": checks.lost_aborts(tasks, self.aborts),
            "completed logs whole, once, in order": checks.broken_logs(tasks.values(), logs),
            "no expired lease left unreaped": self.overdue,
            "consistency checker clean": store_problems,
            "no 5xx outside kill windows": outside
            + ([] if served else ["the server logged no requests: nothing was checked"]),
        }
        all_5xx = sum(1 for call in served if call.status >= 500)
        statuses = Counter(t.status.value for t in tasks.values())
        statuses["created (acknowledged)"] = len(self.created)
        return Report(
            seed=self.config.seed,
            minutes=self.config.minutes,
            faults=dict(self.faults),
            actions=dict(self.actions),
            tasks=dict(statuses),
            process_starts=sum(len(r) for r in runs.values()),
            reruns=sum(1 for t in tasks.values() if t.attempt > 1),
            requests=len(served),
            requests_5xx_in_kill_windows=all_5xx - len(outside),
            drain_s=drain_s,
            violations=violations,
        )


def write_report(report: Report, path: Path) -> None:
    """The report as JSON (what docs/reliability.md quotes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**asdict(report), "ok": report.ok}, indent=2) + "\n")


def seeded(seed: int | None) -> int:
    """The given seed, or a fresh one (printed by the caller so a failure can be rerun)."""
    return seed if seed is not None else random.SystemRandom().randrange(1_000_000)
