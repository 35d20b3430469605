"""argparse captured by default: every namespace the script parses is connected.

``Task.init`` wraps ``argparse.ArgumentParser.parse_known_args`` (which ``parse_args``
calls) so the parsed namespace goes through ``connect`` as section ``Args``: locally
it is recorded, under an agent the task's values replace the parsed ones in place.
Only the outermost parse connects (argparse parses subcommands with nested calls).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Sequence
from typing import Any

Connect = Callable[[argparse.Namespace], object]

_original = argparse.ArgumentParser.parse_known_args
_connect: Connect | None = None
_depth = threading.local()


def install(connect: Connect) -> None:
    """Connect every namespace parsed from now on with ``connect`` (idempotent)."""
    global _connect
    _connect = connect
    argparse.ArgumentParser.parse_known_args = _parse_known_args  # type: ignore[method-assign,assignment]


def _parse_known_args(
    self: argparse.ArgumentParser,
    args: Sequence[str] | None = None,
    namespace: argparse.Namespace | None = None,
) -> tuple[argparse.Namespace, list[str]]:
    depth = getattr(_depth, "value", 0)
    _depth.value = depth + 1
    try:
        parsed: tuple[Any, list[str]] = _original(self, args, namespace)
    finally:
        _depth.value = depth
    if depth == 0 and _connect is not None:
        _connect(parsed[0])
    return parsed
