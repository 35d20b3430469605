"""Param overrides: ``"Section/key"`` (or ``"Section/a/b"``) paths set to new values.

The server applies a clone's overrides with it, the CLI builds ``--param`` sections
with it, so a path means the same everywhere.
"""

import copy
from collections.abc import Mapping
from typing import Any


def apply_overrides(params: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with each ``"Section/key"`` or ``"Section/a/b"`` set to its value.

    Values keep their JSON types; a missing section or key is created. A key that
    itself contains '/' (``"Args/data/dir"`` where ``"data/dir"`` is a key) is matched
    whole before being read as a nested path. Raises ValueError for a path that goes
    through a plain value.
    """
    result = copy.deepcopy(params)
    for path, value in overrides.items():
        section, _, rest = path.partition("/")
        target = result.setdefault(section, {})
        parts = [rest] if rest in target else rest.split("/")
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r}: {part!r} already holds a value, not a nested section")
            target = child
        target[parts[-1]] = value
    return result
