"""Hyperparameters: recording a script's values, and handing back a clone's overrides.

A task's params are JSON, so a value can come back from the server with another
type than the script's default (an override typed on a command line, an int where
a float was). :func:`coerce` converts it to the default's type whenever that loses
nothing, so ``epochs`` stays an ``int`` and ``use_amp`` a ``bool``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, MutableMapping
from enum import Enum
from pathlib import PurePath
from typing import Any

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class Uncoercible(ValueError):
    """Raised when a stored value cannot become the default's type without losing something."""


def jsonable(value: Any) -> Any:
    """``value`` as JSON data: tuples become lists, paths and enums their text or value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def coerce(stored: Any, default: Any) -> Any:
    """``stored`` converted to ``type(default)``; raises :class:`Uncoercible` when lossy."""
    if default is None or stored is None or type(stored) is type(default):
        return stored
    if isinstance(default, bool):
        return _to_bool(stored)
    if isinstance(default, int):
        return _to_int(stored)
    if isinstance(default, float):
        if isinstance(stored, int | float) and not isinstance(stored, bool):
            return float(stored)
        return _parse(stored, float)
    if isinstance(default, str):
        return stored if isinstance(stored, str) else json.dumps(stored)
    if isinstance(default, list | tuple):
        items = json.loads(stored) if isinstance(stored, str) else stored
        if not isinstance(items, list | tuple):
            raise Uncoercible(f"{stored!r} is not a list")
        return type(default)(items)
    if isinstance(default, Enum | PurePath):
        return _parse(stored, type(default))
    return stored


def _to_bool(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Uncoercible(f"{value!r} is not a boolean")


def _to_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        number = _parse(value, float)
        if number.is_integer():
            return int(number)
    raise Uncoercible(f"{value!r} is not an integer")


def _parse(value: Any, kind: Any) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise Uncoercible(f"{value!r} is not a {getattr(kind, '__name__', kind)}") from exc


def apply_stored(
    target: MutableMapping[str, Any], stored: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Update ``target`` in place with ``stored``, keeping ``target``'s types.

    Nested dicts are merged key by key; keys only in ``stored`` are added. Returns a
    note for each value kept as stored because converting it would lose something.
    """
    notes: list[str] = []
    for key, value in stored.items():
        where = f"{prefix}{key}"
        current = target.get(key)
        if isinstance(current, MutableMapping) and isinstance(value, Mapping):
            notes += apply_stored(current, value, where + "/")
            continue
        try:
            target[key] = coerce(value, current)
        except (Uncoercible, ValueError) as exc:
            notes.append(f"{where}: kept {value!r} as stored ({exc})")
            target[key] = value
    return notes
