"""``runyard task reproduce ID --queue Q --wait``: rerun a task unchanged, check its metrics.

The clone has the same code, environment, params and recorded seed; when the original
recorded what its agent installed (``environment.installed``), the clone pins exactly
those versions (``--no-pin-installed``: the requirements as asked). With ``--wait``
the command waits for it to end and compares every final metric with the
original's: exit code 0 when all match within ``--tolerance``, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runyard.cli.common import (
    UsageError,
    add_create_queue_flag,
    add_json_flag,
    name,
    print_warnings,
    task_id,
)
from runyard.cli.output import dump_json, table
from runyard.errors import RunyardError
from runyard.models import CloneRequest, Task, TaskStatus

if TYPE_CHECKING:
    from runyard.client import Client

_POLL_S = 1.0


def add(commands: Any) -> None:
    """Add ``task reproduce`` to the ``task`` subcommands."""
    p = commands.add_parser(
        "reproduce", help="rerun a task unchanged and check its final metrics match"
    )
    p.add_argument("id", type=task_id)
    p.add_argument("--queue", type=name, required=True, help="queue the rerun goes to")
    p.add_argument("--wait", action="store_true", help="wait for the rerun and compare")
    add_verdict_flags(p)
    p.set_defaults(func=reproduce_task)


def add_verdict_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a rerun and its verdict that ``sweep reproduce`` shares."""
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-6,
        help="largest accepted absolute difference of a final metric (default 1e-6)",
    )
    # Its own dest: under the global --timeout's name it would become every request's timeout.
    p.add_argument(
        "--timeout",
        dest="wait_timeout",
        type=float,
        default=3600.0,
        help="seconds to wait (default 3600)",
    )
    p.add_argument(
        "--no-pin-installed",
        action="store_true",
        help="rebuild from the requirements as asked, not the exact versions installed",
    )
    add_create_queue_flag(p)
    add_json_flag(p)


def reproduce_task(client: Client, args: argparse.Namespace) -> int:
    """``task reproduce ID --queue Q [--wait]``."""
    if args.tolerance < 0:
        raise UsageError("--tolerance cannot be negative")
    original = client.tasks.get(args.id)
    request = CloneRequest(
        name=f"{original.name} (reproduce)"[:256],
        queue=args.queue,
        create_queue=args.create_queue,
        pin_installed=bool(original.environment.installed) and not args.no_pin_installed,
    )
    rerun = client.tasks.clone(original.id, request)
    print_warnings(rerun.warnings)
    if not args.wait:
        print(
            f"rerun {rerun.id} queued on {args.queue}; compare with: runyard task compare "
            f"{original.id} {rerun.id}"
        )
        return 0
    if not args.json:
        print(f"rerun {rerun.id} queued on {args.queue}; waiting for it to end", flush=True)
    rerun = _wait(client, rerun.id, args.wait_timeout)
    expected = client.metrics.read(original.id).final
    actual = client.metrics.read(rerun.id).final
    rows = compare_finals(expected, actual, args.tolerance)
    ok = rerun.status is TaskStatus.COMPLETED and bool(rows) and all(r["match"] for r in rows)
    if args.json:
        dump_json(
            {
                "original": original.id,
                "rerun": rerun.id,
                "status": rerun.status.value,
                "tolerance": args.tolerance,
                "match": ok,
                "metrics": rows,
            }
        )
    else:
        _print_verdict(original, rerun, rows, ok, args.tolerance)
    return 0 if ok else 1


def compare_finals(
    expected: Mapping[str, float], actual: Mapping[str, float], tolerance: float
) -> list[dict[str, Any]]:
    """One row per series of either run; a series missing from one never matches."""
    rows = []
    for series in sorted(set(expected) | set(actual)):
        a, b = expected.get(series), actual.get(series)
        diff = None if a is None or b is None else abs(a - b)
        match = diff is not None and diff <= tolerance
        rows.append(
            {"series": series, "original": a, "rerun": b, "difference": diff, "match": match}
        )
    return rows


def _wait(client: Client, rerun_id: str, timeout_s: float) -> Task:
    deadline = time.monotonic() + timeout_s
    task = client.tasks.get(rerun_id)
    while not task.status.is_final:
        if time.monotonic() > deadline:
            raise RunyardError(
                f"rerun {rerun_id} is still {task.status.value} after {timeout_s:g}s "
                "(is an agent serving the queue?)"
            )
        time.sleep(_POLL_S)
        task = client.tasks.get(rerun_id)
    return task


def _print_verdict(
    original: Task, rerun: Task, rows: list[dict[str, Any]], ok: bool, tolerance: float
) -> None:
    if rerun.status is not TaskStatus.COMPLETED:
        reason = f": {rerun.failure_reason}" if rerun.failure_reason else ""
        print(f"rerun {rerun.id} ended {rerun.status.value}{reason}")
    if rows:
        print(
            table(
                ["series", "original", "rerun", "difference", "match"],
                [
                    (
                        r["series"],
                        _num(r["original"]),
                        _num(r["rerun"]),
                        _num(r["difference"]),
                        "yes" if r["match"] else "NO",
                    )
                    for r in rows
                ],
            )
        )
    else:
        print(f"task {original.id} has no final metrics to compare")
    verdict = "reproduced" if ok else "NOT reproduced"
    print(f"{verdict}: {original.id} -> {rerun.id} (tolerance {tolerance:g})")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"
