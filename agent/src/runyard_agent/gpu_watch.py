"""Busy GPUs: memory in use by processes the agent did not start (another user's job).

A GPU whose foreign memory is over ``--gpu-busy-mb`` is busy: the slot pool leaves it
out of what the agent claims with and hands out, until the foreign use ends. The
check asks the GPU provider for the processes holding GPU memory, at most once per
``refresh_s`` (claims and heartbeats both ask; each answer serves both for a while).

A process is the agent's own when the agent or one of its tasks' processes is among
its ancestors, or when it is in a task's session (task processes lead their own
sessions, so a daemonised grandchild still counts). A process whose memory the driver
does not report is busy use whatever its size, when foreign. A process that cannot be
looked up (it ended, or lives in another pid namespace: the agent in a container
without the host's pids) counts as foreign, unless it was seen as the agent's own
before: a task that just ended must not make its GPU busy while its memory is freed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from runyard.models import GpuState, GpuTask
from runyard_agent.gpu_provider import GpuProcess, GpuProvider, GpuUnavailable

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 1.5
_MAX_ANCESTRY = 64


@dataclass(frozen=True)
class GpuUse:
    """One GPU's use by processes the agent did not start."""

    foreign_mb: int = 0
    unknown: bool = False
    """A foreign process holds memory the driver does not report."""
    busy: bool = False


@dataclass
class _Answer:
    at: float
    use: dict[int, GpuUse] = field(default_factory=dict)


class GpuWatch:
    """Which of the agent's GPUs are busy with other people's work; thread-safe."""

    def __init__(
        self,
        provider: GpuProvider,
        indices: Sequence[int],
        busy_mb: int,
        task_pids: Callable[[], Collection[int]],
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.indices = tuple(indices)
        self.busy_mb = busy_mb
        self.task_pids = task_pids
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._answer: _Answer | None = None
        self._own_seen: set[int] = set()
        self._failing = False

    def use(self) -> dict[int, GpuUse]:
        """Each GPU's foreign use, at most ``refresh_s`` old."""
        with self._lock:
            now = self.clock()
            if self._answer is None or now - self._answer.at >= self.refresh_s:
                self._answer = _Answer(now, self._measure(self._answer))
            return self._answer.use

    def busy(self) -> frozenset[int]:
        """The indices of the busy GPUs."""
        return frozenset(index for index, use in self.use().items() if use.busy)

    def _measure(self, last: _Answer | None) -> dict[int, GpuUse]:
        try:
            processes = self.provider.processes()
        except GpuUnavailable as exc:
            # Keep the last answer: a flaky query must not free a busy GPU or vice versa.
            if not self._failing:
                log.warning("cannot tell which GPUs are busy (%s); keeping the last answer", exc)
            self._failing = True
            return last.use if last is not None else {}
        if self._failing:
            log.info("GPU busy check works again")
        self._failing = False
        wanted = set(self.indices)
        mine = self._owner(processes)
        foreign: dict[int, list[GpuProcess]] = {index: [] for index in self.indices}
        for process in processes:
            if process.gpu in wanted and not mine(process.pid):
                foreign[process.gpu].append(process)
        use = {index: self._judge(found) for index, found in foreign.items()}
        if last is None:
            busy = {i: u for i, u in use.items() if u.busy}
            if busy:
                log.info("GPUs busy with work the agent did not start: %s", _describe(busy))
        elif use != last.use:
            changed = {i: u for i, u in use.items() if last.use.get(i) != u}
            log.info("GPU foreign use changed: %s", _describe(changed))
        return use

    def _judge(self, foreign: Iterable[GpuProcess]) -> GpuUse:
        found = list(foreign)
        mb = sum(p.used_mb or 0 for p in found)
        unknown = any(p.used_mb is None for p in found)
        return GpuUse(foreign_mb=mb, unknown=unknown, busy=unknown or mb > self.busy_mb)

    def _owner(self, processes: Sequence[GpuProcess]) -> Callable[[int], bool]:
        """Whether a pid is the agent's own; remembers own pids while they hold GPU memory."""
        pids = {process.pid for process in processes}
        if not pids:
            self._own_seen.clear()
            return lambda pid: False
        tasks = set(self.task_pids())
        roots = tasks | {os.getpid()}
        self._own_seen &= pids
        verdicts: dict[int, bool] = {}

        def mine(pid: int) -> bool:
            if pid not in verdicts:
                verdicts[pid] = pid in self._own_seen or is_descendant(pid, roots, tasks)
                if verdicts[pid]:
                    self._own_seen.add(pid)
            return verdicts[pid]

        return mine


def is_descendant(pid: int, roots: Collection[int], sessions: Collection[int]) -> bool:
    """True when ``pid`` or an ancestor is in ``roots``, or its session leader is in
    ``sessions``; False for a pid that cannot be looked up."""
    if pid <= 0:
        return False
    try:
        if os.getsid(pid) in sessions:
            return True
    except OSError:
        return False
    current = pid
    for _ in range(_MAX_ANCESTRY):
        if current in roots:
            return True
        if current <= 1:
            return False
        try:
            current = psutil.Process(current).ppid()
        except psutil.Error:
            return False
    return False


def gpu_state(
    indices: Sequence[int], use: Mapping[int, GpuUse], tasks: Mapping[int, list[GpuTask]]
) -> list[GpuState]:
    """What the heartbeat says of each GPU: busy, foreign memory, and the tasks on it."""
    return [
        GpuState(
            index=index,
            busy=use.get(index, GpuUse()).busy,
            foreign_mb=use.get(index, GpuUse()).foreign_mb,
            tasks=sorted(tasks.get(index, []), key=lambda task: task.task_id),
        )
        for index in indices
    ]


def _describe(use: Mapping[int, GpuUse]) -> str:
    return ", ".join(
        f"GPU {index} {'busy' if u.busy else 'free'} ({u.foreign_mb} MiB foreign"
        f"{', more not reported' if u.unknown else ''})"
        for index, u in sorted(use.items())
    )
