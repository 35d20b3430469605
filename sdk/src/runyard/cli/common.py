"""Helpers every command group shares: usage errors and ``Section/key=value`` parsing."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from runyard.models import Environment, apply_overrides, is_valid_name, is_valid_task_id


class UsageError(Exception):
    """A command line that parsed but makes no sense; printed with the usage, exit code 2."""


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """``--json``: print what the server returned as JSON instead of a table."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON (the HTTP API's shape) for scripts"
    )


def add_create_queue_flag(parser: argparse.ArgumentParser) -> None:
    """``--create-queue``: a ``--queue`` that does not exist is created, not refused."""
    parser.add_argument(
        "--create-queue",
        action="store_true",
        help="create --queue when it does not exist (without it a missing queue is an error)",
    )


def print_warnings(warnings: list[str]) -> None:
    """The server's warnings on a reply, one line each on stderr."""
    for warning in warnings:
        print(f"runyard: warning: {warning}", file=sys.stderr)


def parse_param(text: str) -> tuple[str, Any]:
    """``"General/lr=0.01"`` → ``("General/lr", 0.01)``.

    The value is parsed as JSON when it parses (``1``, ``true``, ``[1,2]``, ``"x"``),
    else kept as a string, so ``--param General/opt=adam`` needs no quoting.
    """
    path, sep, raw = text.partition("=")
    parts = path.split("/")
    if not sep or len(parts) < 2 or not all(parts):
        raise UsageError(f"--param {text!r}: expected Section/key=value, e.g. General/lr=0.01")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def params_from(texts: list[str]) -> dict[str, dict[str, Any]]:
    """``["General/lr=0.1", "Model/opt/beta=0.9"]`` → nested param sections."""
    try:
        return apply_overrides({}, dict(parse_param(text) for text in texts))
    except ValueError as error:
        raise UsageError(f"--param {error}") from None


def read_requirements(source: str, root: Path | None = None) -> Environment:
    """The environment a ``--requirements`` file asks for: a requirements.txt, or a
    ``pyproject.toml[group,...]`` (its project, when it builds one, and a ``uv.lock``
    beside it are kept as folders of ``root``, the local repository)."""
    # Imported here: packaging costs every other command's start time.
    from runyard.capture.requirements import read_requirements as requirements_file
    from runyard.capture.requirements import split_source

    path_text, groups = split_source(source)
    path = Path(path_text)
    if root is not None and not path.is_absolute():
        path = root / path
    try:
        found = requirements_file(path, groups, stop_at=root)
    except OSError as exc:
        raise UsageError(f"--requirements {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--requirements {exc}") from None
    if found.skipped:
        raise UsageError(
            f"--requirements {path}: pip options are not requirements: {', '.join(found.skipped)}"
        )
    inside = root is not None and path.resolve().is_relative_to(root.resolve())
    project = found.project_dir if inside else None
    lock = found.lock_file if inside else None
    return Environment(
        requirements=found.requirements,
        repo_packages=[_relative(project, root)] if project and root else [],
        lock_file=_relative(lock, root) if lock and root else None,
    )


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


MIN_ID_PREFIX = 6
"""The fewest hex digits of a short task id (the server's ``store.short_ids.MIN_PREFIX``)."""

_ID_PREFIX = re.compile(f"[0-9a-f]{{{MIN_ID_PREFIX},32}}")


def task_id(value: str) -> str:
    """argparse type: a task id or a unique prefix of it (at least 6 hex digits); the
    server makes a prefix whole and says when it matches several tasks."""
    if not _ID_PREFIX.fullmatch(value.lower()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a task id: give the 32 hex digits `runyard task list` shows, "
            f"or the first {MIN_ID_PREFIX} or more of them"
        )
    return value.lower()


def full_task_id(value: str) -> str:
    """argparse type: a full task id (32 lowercase hex characters), for filters."""
    if not is_valid_task_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a full task id (32 hex characters, as `runyard task list` shows)"
        )
    return value


def name(value: str) -> str:
    """argparse type: a queue or project name."""
    if not is_valid_name(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid name: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return value
