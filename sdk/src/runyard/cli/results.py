"""``runyard task metrics|artifacts|download|diff``: what a finished task produced.

``task show`` adds :func:`summary` (final metrics and artifacts) under the record.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.cli.common import UsageError, add_json_flag, task_id
from runyard.cli.output import dump_json, number, table
from runyard.models import Artifact, TaskMetrics

if TYPE_CHECKING:
    from runyard.client import Client


def add(commands: Any) -> None:
    """Add the results commands to the ``task`` subcommands."""
    p = commands.add_parser("metrics", help="final metric values (or one series' points)")
    p.add_argument("id", type=task_id)
    p.add_argument("--series", metavar="NAME", help="every point of this series, by step")
    add_json_flag(p)
    p.set_defaults(func=show_metrics)

    p = commands.add_parser("artifacts", help="files the task stored, with sizes and sha256")
    p.add_argument("id", type=task_id)
    add_json_flag(p)
    p.set_defaults(func=list_artifacts)

    p = commands.add_parser("download", help="save an artifact (its sha256 is checked)")
    p.add_argument("id", type=task_id)
    p.add_argument("name", help="artifact name, as `runyard task artifacts` lists it")
    p.add_argument(
        "-o", "--output", metavar="PATH", help="file or existing folder (default: ./NAME)"
    )
    p.set_defaults(func=download_artifact)

    p = commands.add_parser("diff", help="the uncommitted changes the task was recorded with")
    p.add_argument("id", type=task_id)
    p.set_defaults(func=show_diff)


def show_metrics(client: Client, args: argparse.Namespace) -> int:
    """``task metrics ID [--series NAME] [--json]``."""
    metrics = client.metrics.read(args.id)
    if args.series is None:
        if args.json:
            dump_json(metrics.final)
        else:
            print(_final_table(metrics) or "no metrics")
        return 0
    points = metrics.series.get(args.series)
    if points is None:
        known = ", ".join(sorted(metrics.series)) or "none"
        raise UsageError(f"--series {args.series}: the task has no such series (it has: {known})")
    if args.json:
        dump_json(points)
        return 0
    rows = [(p.step, number(p.value), _time(p.ts)) for p in points]
    print(table(["step", "value", "logged"], rows))
    return 0


def list_artifacts(client: Client, args: argparse.Namespace) -> int:
    """``task artifacts ID [--json]``."""
    artifacts = client.artifacts.list(args.id)
    if args.json:
        dump_json(artifacts)
    else:
        print(_artifact_table(artifacts) or "no artifacts")
    return 0


def download_artifact(client: Client, args: argparse.Namespace) -> int:
    """``task download ID NAME [-o PATH]``: the file appears whole, its sha256 checked."""
    dest = Path(args.output) if args.output else Path.cwd()
    if not (dest.is_dir() or dest.parent.is_dir()):
        raise UsageError(f"-o {args.output}: folder {dest.parent} does not exist")
    saved = client.artifacts.download(args.id, args.name, dest)
    print(f"saved {args.name} to {saved} ({saved.stat().st_size} bytes, sha256 checked)")
    return 0


def show_diff(client: Client, args: argparse.Namespace) -> int:
    """``task diff ID``: the recorded ``git diff``, as ``git apply`` takes it."""
    task = client.tasks.get(args.id)
    if not task.script.diff:
        print(f"task {task.id} has no uncommitted changes recorded", file=sys.stderr)
        return 0
    sys.stdout.write(task.script.diff)
    return 0


def summary(client: Client, task_id: str) -> str:
    """Final metrics and artifacts as blocks to print under ``task show``'s record."""
    blocks = []
    final = _final_table(client.metrics.read(task_id))
    if final:
        blocks.append(final)
    artifacts = _artifact_table(client.artifacts.list(task_id))
    if artifacts:
        blocks.append(artifacts)
    return "".join(f"\n\n{block}" for block in blocks)


def _final_table(metrics: TaskMetrics) -> str:
    if not metrics.final:
        return ""
    rows = [
        (name, number(value), len(metrics.series.get(name, [])))
        for name, value in sorted(metrics.final.items())
    ]
    return table(["metric", "final", "points"], rows)


def _artifact_table(artifacts: list[Artifact]) -> str:
    if not artifacts:
        return ""
    rows = [
        (a.name, a.size, a.sha256[:16], a.created.isoformat(timespec="seconds")) for a in artifacts
    ]
    return table(["artifact", "bytes", "sha256", "created"], rows)


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")
