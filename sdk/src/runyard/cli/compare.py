"""``runyard task compare A B [C...]``: runs side by side, what differs highlighted.

Five blocks: params (every key), code (repository, commit, branch, entry point,
args and a summary of the uncommitted diff), packages (the requirements asked for)
and installed (the versions the agent really installed, ``environment.installed``),
both only those that differ with a count of the identical ones, and final metrics
(every series). A row whose
values differ is bold yellow on a terminal, and starts with ``*`` otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runyard.cli.common import UsageError, add_json_flag, task_id
from runyard.cli.output import dump_json, scalar
from runyard.models import Task

if TYPE_CHECKING:
    from runyard.client import Client

_BOLD_YELLOW = "\033[1;33m"
_BOLD = "\033[1m"
_RESET = "\033[0m"
_MISSING = "-"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")

Rows = dict[str, list[str]]
_PACKAGE_BLOCKS = ("packages", "installed")


def add(commands: Any) -> None:
    """Add ``task compare`` to the ``task`` subcommands."""
    p = commands.add_parser("compare", help="two or more tasks side by side, differences marked")
    p.add_argument("ids", nargs="+", type=task_id, metavar="ID")
    p.add_argument("--all", action="store_true", help="list identical packages too")
    add_json_flag(p)
    p.set_defaults(func=compare_tasks)


def compare_tasks(client: Client, args: argparse.Namespace) -> int:
    """``task compare A B [C...]``."""
    if len(args.ids) < 2:
        raise UsageError("compare needs at least two task ids")
    tasks = [client.tasks.get(tid) for tid in args.ids]
    finals = [client.metrics.read(task.id).final for task in tasks]
    blocks = {
        "params": params_rows(tasks),
        "code": code_rows(tasks),
        "packages": package_rows(tasks),
        "installed": installed_rows(tasks),
        "metrics": metric_rows(finals),
    }
    if args.json:
        differing = {
            block: sorted(key for key, values in rows.items() if differs(values))
            for block, rows in blocks.items()
        }
        dump_json({"tasks": [t.id for t in tasks], **blocks, "differences": differing})
        return 0
    color = sys.stdout.isatty()
    print(render(tasks, blocks, color=color, show_same_packages=args.all))
    return 0


def differs(values: Sequence[str]) -> bool:
    """Whether the tasks disagree on a row."""
    return len(set(values)) > 1


def params_rows(tasks: Sequence[Task]) -> Rows:
    """``Section/key`` (nested keys joined with ``/``) → each task's value."""
    flat = [_flatten(task.params) for task in tasks]
    keys = sorted({key for values in flat for key in values})
    return {key: [values.get(key, _MISSING) for values in flat] for key in keys}


def code_rows(tasks: Sequence[Task]) -> Rows:
    """What code each task runs."""
    scripts = [task.script for task in tasks]
    return {
        "repository": [s.repository or "(none: the script itself)" for s in scripts],
        "commit": [s.commit or _MISSING for s in scripts],
        "branch": [s.branch or _MISSING for s in scripts],
        "entry point": [s.entry_point or _MISSING for s in scripts],
        "args": [" ".join(s.args) or _MISSING for s in scripts],
        "diff": [diff_summary(s.diff) for s in scripts],
        "python": [task.environment.python or _MISSING for task in tasks],
        "docker image": [task.environment.docker_image or _MISSING for task in tasks],
    }


def package_rows(tasks: Sequence[Task]) -> Rows:
    """Package name → each task's requirement line for it."""
    by_task = [_requirements_by_name(task.environment.requirements) for task in tasks]
    names = sorted({name for lines in by_task for name in lines})
    return {name: [lines.get(name, _MISSING) for lines in by_task] for name in names}


def installed_rows(tasks: Sequence[Task]) -> Rows:
    """Package name → the version each task had installed (``-`` when it had none);
    a package of the repository shows as ``VERSION (repo: FOLDER)``. Empty unless two or
    more tasks have a record (a local run has none: every row would differ)."""
    if sum(1 for task in tasks if task.environment.installed) < 2:
        return {}
    by_task = [
        {
            package.name: package.version
            + (f" (repo: {package.path})" if package.path is not None else "")
            for package in task.environment.installed
        }
        for task in tasks
    ]
    names = sorted({name for versions in by_task for name in versions})
    return {name: [versions.get(name, _MISSING) for versions in by_task] for name in names}


def metric_rows(finals: Sequence[Mapping[str, float]]) -> Rows:
    """Series → each task's final value."""
    names = sorted({name for final in finals for name in final})
    return {name: [_number(final.get(name)) for final in finals] for name in names}


def diff_summary(diff: str) -> str:
    """``none``, or the number of files and bytes with a short hash that tells diffs apart."""
    if not diff.strip():
        return "none"
    files = sum(1 for line in diff.splitlines() if line.startswith("diff --git "))
    digest = hashlib.sha256(diff.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{files} file(s), {len(diff.encode('utf-8', 'surrogateescape'))} B, #{digest}"


def render(
    tasks: Sequence[Task], blocks: Mapping[str, Rows], *, color: bool, show_same_packages: bool
) -> str:
    """The blocks as aligned columns, one per task."""
    headers = [f"{t.id[:8]} {t.name}" for t in tasks]
    statuses = [t.status.value for t in tasks]
    shown: list[tuple[str, list[str]] | str] = [("task", headers), ("status", statuses)]
    for name, rows in blocks.items():
        shown.append(name)
        same = [key for key, values in rows.items() if not differs(values)]
        for key, values in rows.items():
            if name in _PACKAGE_BLOCKS and not show_same_packages and key in same:
                continue
            shown.append((key, values))
        if name in _PACKAGE_BLOCKS and same and not show_same_packages:
            shown.append(f"  ({len(same)} identical packages not shown; --all lists them)")
        if not rows:
            shown.append("  (none)")
    return _columns(shown, len(tasks), color)


def _columns(shown: Sequence[tuple[str, list[str]] | str], count: int, color: bool) -> str:
    rows = [item for item in shown if isinstance(item, tuple)]
    key_width = max(len(key) for key, _ in rows) + 2
    widths = [max(len(values[i]) for _, values in rows) for i in range(count)]
    widths = [min(width, 48) for width in widths]
    lines = []
    for item in shown:
        if isinstance(item, str):
            title = item if item.startswith("  ") else f"[{item}]"
            lines.append(f"{_BOLD}{title}{_RESET}" if color and not item.startswith(" ") else title)
            continue
        key, values = item
        cells = "  ".join(_fit(v, w).ljust(w) for v, w in zip(values, widths, strict=True))
        line = f"{key.ljust(key_width)}{cells}".rstrip()
        if key not in ("task", "status") and differs(values):
            line = f"{_BOLD_YELLOW}* {line}{_RESET}" if color else f"* {line}"
        else:
            line = f"  {line}"
        lines.append(line)
    if not color:
        lines.append("(* = differs)")
    return "\n".join(lines)


def _fit(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, path + "/"))
        else:
            flat[path] = scalar(value)
    return flat


def _requirements_by_name(lines: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        match = _REQUIREMENT_NAME.match(line)
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else line
        found[name] = line.strip()
    return found


def _number(value: float | None) -> str:
    return _MISSING if value is None else f"{value:.10g}"
