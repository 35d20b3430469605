"""``runyard sweep show ID [--watch]``: a sweep's trials ranked by objective, best marked."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag, full_task_id
from runyard.cli.output import dump_json, duration, table
from runyard.models import Sweep, SweepStatus, SweepTrial, TrialStatus

if TYPE_CHECKING:
    from runyard.client import Client

# Clears the terminal and homes the cursor, so each --watch frame replaces the last.
_CLEAR = "\x1b[H\x1b[2J"


def add_show(commands: Any) -> None:
    """Add ``sweep show`` to the ``sweep`` subcommands."""
    p = commands.add_parser("show", help="a sweep's trials ranked by objective, best marked")
    p.add_argument("id", type=full_task_id, metavar="ID")
    p.add_argument("--watch", action="store_true", help="redraw until the sweep ends")
    p.add_argument(
        "--interval", type=float, default=2.0, help="seconds between --watch redraws (default 2)"
    )
    add_json_flag(p)
    p.set_defaults(func=show_sweep)


def show_sweep(client: Client, args: argparse.Namespace) -> int:
    """``sweep show ID [--watch]``."""
    while True:
        sweep = client.sweeps.get(args.id)
        trials = client.sweeps.trials(args.id).trials
        if args.json:
            dump_json({"sweep": sweep.model_dump(mode="json"), "trials": ranked(sweep, trials)})
        else:
            frame = describe(sweep, trials)
            print(_CLEAR + frame if args.watch and sys.stdout.isatty() else frame, flush=True)
        if not args.watch or sweep.status is not SweepStatus.RUNNING:
            return 0
        if not sys.stdout.isatty():
            print(flush=True)  # frames piped to a file are told apart by a blank line
        time.sleep(max(0.2, args.interval))


def ranked(sweep: Sweep, trials: list[SweepTrial]) -> list[SweepTrial]:
    """Trials with an objective, best first; then the others by trial number."""
    # An aborted trial's last value is where it was cut off, not a result.
    scored = [t for t in trials if t.value is not None and t.status is not TrialStatus.ABORTED]
    sign = -1.0 if sweep.direction == "max" else 1.0
    scored.sort(key=lambda t: (sign * (t.value or 0.0), t.number))
    numbers = {t.number for t in scored}
    rest = sorted((t for t in trials if t.number not in numbers), key=lambda t: t.number)
    return scored + rest


def best_line(sweep: Sweep) -> str:
    """``best: trial 7 (task ID) val/acc=0.93``."""
    best = sweep.best
    if best is None:
        return "best: none yet"
    return f"best: trial {best.number} (task {best.task_id}) {sweep.objective}={best.value:.6g}"


def describe(sweep: Sweep, trials: list[SweepTrial], now: datetime | None = None) -> str:
    """The sweep's header lines and its ranked trial table."""
    c = sweep.counts
    done = c.completed + c.failed + c.pruned
    lines = [
        f"sweep {sweep.id} {sweep.name!r} ({sweep.project}): {sweep.status.value}"
        + (f", {sweep.reason}" if sweep.reason else ""),
        f"{done}/{sweep.trials} trials done: {c.completed} completed, {c.pruned} pruned, "
        f"{c.failed} failed; {c.running} running, {c.queued} queued (at most {sweep.parallel})",
        f"{sweep.direction} {sweep.objective} · sampler {sweep.sampler.value} · "
        f"pruner {sweep.pruner.value} · queue {sweep.queue}",
        best_line(sweep),
    ]
    if not trials:
        return "\n".join([*lines, "no trials yet"])
    best = sweep.best.number if sweep.best else None
    paths = list(sweep.params)
    head = ["rank", "trial", "task", "status", sweep.objective, "step", "time", *paths, "note"]
    rows = []
    for rank, t in enumerate(ranked(sweep, trials), 1):
        rows.append(
            (
                f"{rank}*" if t.number == best else rank,
                t.number,
                t.task_id and t.task_id[:8],
                t.status.value,
                None if t.value is None else f"{t.value:.6g}",
                t.step,
                duration(_elapsed(t, now)),
                *(_value(t.params.get(p)) for p in paths),
                t.reason,
            )
        )
    return "\n".join([*lines, "", table(head, rows)])


def _elapsed(trial: SweepTrial, now: datetime | None) -> float:
    end = trial.finished or now or datetime.now(UTC)
    start = trial.created if trial.created.tzinfo else trial.created.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return (end - start).total_seconds()


def _value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).lower() if isinstance(value, bool) else str(value)
