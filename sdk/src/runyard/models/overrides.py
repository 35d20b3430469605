"""Param overrides: ``"Section/key"`` (or ``"Section/a/b"``) paths set to new values;
and a clone's script arguments (:func:`merged_args`).

The server applies a clone's overrides with it, the CLI builds ``--param`` sections
with it, so a path means the same everywhere. A clone's overrides are checked
(:func:`checked_overrides`): a typo or a value of the wrong kind would otherwise run
the whole experiment with the old value, so only ``new_params`` may add a path.
"""

import copy
import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from runyard.capture.params import Uncoercible, coerce


class OverrideError(ValueError):
    """Raised when an override names no recorded param, or its value cannot take the
    recorded value's type; the message names the path and what to do."""


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


def checked_overrides(
    params: dict[str, Any], overrides: Mapping[str, Any], new_params: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of ``params`` with ``overrides`` (each converted to the recorded value's
    type) and ``new_params`` (paths that must not exist yet) applied.

    Raises :class:`OverrideError` for an unknown override path (naming the closest
    recorded ones), a value that cannot become the recorded type, or a new param that
    already exists.
    """
    converted = {path: _converted(params, path, value) for path, value in overrides.items()}
    for path in new_params:
        if _lookup(params, path) is not _MISSING:
            raise OverrideError(f"new param {path!r} already exists; set it as an override")
    return apply_overrides(params, {**converted, **new_params})


def _converted(params: dict[str, Any], path: str, value: Any) -> Any:
    recorded = _lookup(params, path)
    if recorded is _MISSING:
        close = difflib.get_close_matches(path, list(param_paths(params)), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OverrideError(
            f"override {path!r}: the task has no such param{hint} "
            "(to add a param on purpose, pass it as a new param: --new-param)"
        )
    if isinstance(recorded, dict) != isinstance(value, dict):
        kind = "a section" if isinstance(recorded, dict) else "a single value"
        raise OverrideError(f"override {path!r}: the recorded param is {kind}")
    try:
        return coerce(value, recorded)
    except (Uncoercible, ValueError) as exc:
        kind = type(recorded).__name__
        message = f"override {path!r}: {exc}, and the recorded value is a {kind}"
        raise OverrideError(message) from None


_MISSING = object()


def _lookup(params: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (matched as :func:`apply_overrides` does), or ``_MISSING``."""
    section, _, rest = path.partition("/")
    target: Any = params.get(section, _MISSING)
    if not isinstance(target, dict):
        return _MISSING
    if rest in target:
        return target[rest]
    for part in rest.split("/"):
        if not isinstance(target, dict) or part not in target:
            return _MISSING
        target = target[part]
    return target


def param_paths(params: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every leaf's path, ``"Section/key"`` or ``"Section/a/b"``."""
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from param_paths(value, path + "/")
        elif prefix:
            yield path


def merged_args(args: list[str], changes: list[str]) -> list[str]:
    """``args`` with each of ``changes`` applied: a ``KEY=VALUE`` argument (a Hydra
    override ``model.depth=3``, ``+key=1``, or ``--lr=0.1``) takes the place of the
    arguments that set the same KEY; any other argument is appended."""
    result = list(args)
    for change in changes:
        key = _arg_key(change)
        places = [i for i, arg in enumerate(result) if key is not None and _arg_key(arg) == key]
        if not places:
            result.append(change)
            continue
        result[places[0]] = change
        result = [arg for i, arg in enumerate(result) if i not in places[1:]]
    return result


def _arg_key(arg: str) -> str | None:
    """The KEY of a ``KEY=VALUE`` argument (Hydra's ``+``/``++`` prefixes aside)."""
    key, sep, _ = arg.partition("=")
    if not sep or not key:
        return None
    return key if key.startswith("-") else key.lstrip("+")
