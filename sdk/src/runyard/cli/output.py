"""How the CLI prints: aligned tables for people, JSON for scripts, short ages and sizes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import BaseModel, TypeAdapter

_ANY = TypeAdapter(Any)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as left-aligned columns under upper-case headers; ``-`` for empty cells."""
    cells = [[str(h).upper() for h in headers]]
    cells += [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def details(pairs: Iterable[tuple[str, object]]) -> str:
    """``key: value`` lines with the values aligned; empty values are left out, and
    every line of a multi-line value is shown, indented under the first."""
    shown = [(k, _cell(v)) for k, v in pairs if v not in (None, "", [], {})]
    width = max((len(k) for k, _ in shown), default=0)
    indent = "\n" + " " * (width + 2)
    return "\n".join(
        f"{(k + ':').ljust(width + 1)} {indent.join(v.splitlines())}" for k, v in shown
    )


def dump_json(
    value: BaseModel | Sequence[BaseModel] | dict[str, Any], out: TextIO = sys.stdout
) -> None:
    """Print models (or plain data) as indented JSON, the shape the HTTP API returns."""
    out.write(_ANY.dump_json(value, indent=2).decode() + "\n")


def emit(value: BaseModel | Sequence[BaseModel], as_json: bool, text: Callable[[], str]) -> int:
    """Print ``value`` as JSON (``--json``) or ``text()`` for people; the exit code, 0."""
    if as_json:
        dump_json(value)
    else:
        print(text())
    return 0


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``when`` was, in the largest whole unit: ``42s``, ``5m``, ``3h``, ``2d``."""
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return duration((now - when).total_seconds())


def duration(seconds: float | None) -> str:
    """A duration in its largest whole unit: ``42s``, ``5m``, ``3h``, ``2d``."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def number(value: float) -> str:
    """``4.0`` → ``4``, ``0.5`` → ``0.5``."""
    return f"{value:g}"


def scalar(value: object) -> str:
    """A parameter value as JSON would spell it (strings bare)."""
    return value if isinstance(value, str) else json.dumps(value)


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)
