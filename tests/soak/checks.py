"""The soak's invariants, each a function from what was recorded to the broken cases.

Every function returns one line per violation (empty: the invariant held), so a
test asserts ``== []`` and a long soak prints them. The records they read:

* the tasks as the server has them at the end (every task of the soak's project);
* the ledger the task processes wrote (``world.TASK``): per task, lines
  ``<run> <wall clock> <what>``, one run per process start;
* each task's stored log (lines ``<run> line <n>``);
* the aborts the server accepted, with the task as the abort reply showed it;
* every request the server answered (agents' and the driver's, from its JSON
  request log), and the windows in which the server or Redis was down on purpose.
"""

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runyard.models import Task, TaskStatus


@dataclass(frozen=True)
class Run:
    """One process start of a task, from the ledger: its first and last step."""

    run: str
    first: float
    last: float


@dataclass(frozen=True)
class AbortRecord:
    """An abort the server accepted: when, and the task's status and attempt in its reply."""

    at: float
    status: TaskStatus
    attempt: int


@dataclass(frozen=True)
class Call:
    """One request the server answered: when, and its status."""

    at: float
    method: str
    path: str
    status: int


def read_ledger(ledger: Path) -> dict[str, list[Run]]:
    """Task id → its runs, in the order they started."""
    runs: dict[str, list[Run]] = {}
    for path in ledger.iterdir():
        times: dict[str, list[float]] = defaultdict(list)
        for line in path.read_text().splitlines():
            run, at, _ = line.split(" ", 2)
            times[run].append(float(at))
        found = [Run(run, min(ts), max(ts)) for run, ts in times.items()]
        runs[path.name] = sorted(found, key=lambda r: r.first)
    return runs


def logged_requests(server_log: Path) -> list[Call]:
    """Every request in the server's JSON log (``--log-level info`` logs each one)."""
    calls = []
    for line in server_log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue  # uvicorn's and the jobs process's own lines
        entry = json.loads(line)
        if entry.get("msg") == "request":
            calls.append(Call(entry["ts"], entry["method"], entry["path"], entry["status"]))
    return calls


def unfinished(tasks: Iterable[Task]) -> list[str]:
    """Every task must end: completed, failed or aborted."""
    return [f"task {t.id}: still {t.status.value}" for t in tasks if not t.status.is_final]


def live_overlaps(runs: Mapping[str, list[Run]]) -> list[str]:
    """No two runs of one task alive at once (one's steps inside the other's span)."""
    found = []
    for task_id, task_runs in runs.items():
        for before, after in itertools.pairwise(task_runs):
            if after.first < before.last:
                overlap = before.last - after.first
                found.append(
                    f"task {task_id}: runs {before.run} and {after.run} alive together "
                    f"for {overlap:.2f}s"
                )
    return found


def lost_aborts(tasks: Mapping[str, Task], aborts: Mapping[str, AbortRecord]) -> list[str]:
    """An accepted abort ends the task aborted, with no new attempt after it.

    The one other end allowed: a task already running when the abort came may end
    completed or failed by its own exit (the process finished before the agent heard).
    """
    found = []
    for task_id, record in aborts.items():
        task = tasks[task_id]
        if task.attempt != record.attempt:
            found.append(
                f"task {task_id}: attempt {task.attempt} after an abort at attempt "
                f"{record.attempt}: it was run again"
            )
        elif task.status is not TaskStatus.ABORTED and record.status is not TaskStatus.RUNNING:
            found.append(f"task {task_id}: {task.status.value} after it was aborted")
    return found


def broken_logs(tasks: Iterable[Task], logs: Mapping[str, list[str]]) -> list[str]:
    """A completed task's log holds each run's lines once, in order, runs not interleaved,
    and the completing run's lines whole (its planned count is the script's second arg)."""
    found = []
    for task in tasks:
        if task.status is not TaskStatus.COMPLETED:
            continue
        planned = int(task.script.args[1])
        order: list[str] = []
        numbers: dict[str, list[int]] = defaultdict(list)
        for text in logs[task.id]:
            parts = text.split()
            if len(parts) == 3 and parts[1] == "line":
                if not order or order[-1] != parts[0]:
                    order.append(parts[0])
                numbers[parts[0]].append(int(parts[2]))
        if len(order) != len(set(order)):
            found.append(f"task {task.id}: runs interleaved in its log: {order}")
            continue
        for run in order:
            got = numbers[run]
            if got != list(range(1, len(got) + 1)):
                found.append(f"task {task.id}: run {run} lines not once and in order")
        if not order or numbers[order[-1]] != list(range(1, planned + 1)):
            found.append(f"task {task.id}: completed, but its last run's log is not whole")
    return found


def server_errors(calls: Iterable[Call], windows: Iterable[tuple[float, float]]) -> list[str]:
    """No 5xx answer outside the windows in which the server or Redis was down on purpose."""
    spans = list(windows)
    return [
        f"{call.method} {call.path}: {call.status} at {call.at:.3f}"
        for call in calls
        if call.status >= 500 and not any(start <= call.at <= end for start, end in spans)
    ]
