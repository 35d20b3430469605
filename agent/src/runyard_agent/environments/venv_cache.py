"""Keeping the venv cache bounded: least recently used venvs go first, never one in use.

Each venv ``<key>/`` under ``<cache_dir>/venvs/`` has two lock files beside it:
``<key>.lock`` (held exclusively while the venv is checked or built) and ``<key>.use``
(held shared by every task running in it: the task's process inherits the lock, so
it stays held as long as the task lives). A venv's last use is the time of its
completion marker, touched at every cache hit; its size is recorded in the marker
when it is built.

Eviction takes both locks without waiting; a venv whose locks are held is skipped,
so a venv being built or used is never removed. The marker is removed first, so a
venv half-removed by a crash counts as incomplete and is rebuilt, never used.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MARKER = ".runyard-complete"
_GIB = 1024**3

Log = Callable[[str], None]


@dataclass(frozen=True)
class CacheLimits:
    """How big the venv cache may grow: a size cap and a free-space floor (None: no limit)."""

    max_bytes: int | None = None
    min_free_bytes: int | None = None

    @classmethod
    def from_gib(cls, max_gb: float | None, min_free_gb: float | None) -> CacheLimits | None:
        """Limits in GiB, as the agent's settings give them; None when neither is set."""
        if max_gb is None and min_free_gb is None:
            return None
        return cls(
            max_bytes=int(max_gb * _GIB) if max_gb is not None else None,
            min_free_bytes=int(min_free_gb * _GIB) if min_free_gb is not None else None,
        )


@dataclass(frozen=True)
class CachedVenv:
    """One complete venv in the cache."""

    key: str
    path: Path
    size_bytes: int
    last_used: float
    requirements: list[str]

    @property
    def in_use(self) -> bool:
        """Whether a task runs in it, or it is being checked or built, right now."""
        with _try_locks(self.path) as locked:
            return not locked


def hold_in_use(root: Path) -> IO[str]:
    """Open ``root``'s in-use lock and hold it shared; close the file to let go."""
    handle = root.with_name(f"{root.name}.use").open("a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def tree_size(root: Path) -> int:
    """Bytes on disk under ``root`` (files and symlinks themselves; hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            stat = os.lstat(os.path.join(directory, name))
            if (stat.st_dev, stat.st_ino) in seen:
                continue
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


def list_venvs(cache_dir: Path) -> list[CachedVenv]:
    """The complete venvs in the cache, least recently used first."""
    venvs = cache_dir / "venvs"
    found = []
    for marker in venvs.glob(f"*/{MARKER}"):
        root = marker.parent
        try:
            record = json.loads(marker.read_text())
            last_used = marker.stat().st_mtime
        except (OSError, ValueError):
            continue
        size = record.get("size_bytes")
        found.append(
            CachedVenv(
                key=root.name,
                path=root,
                size_bytes=size if isinstance(size, int) else tree_size(root),
                last_used=last_used,
                requirements=list(record.get("requirements", [])),
            )
        )
    return sorted(found, key=lambda venv: venv.last_used)


def evict(cache_dir: Path, limits: CacheLimits, log: Log) -> list[CachedVenv]:
    """Remove least recently used venvs until ``limits`` hold; the venvs removed.

    Venvs in use are skipped; when only those are left the limits may stay exceeded.
    """
    venvs = list_venvs(cache_dir)
    total = sum(venv.size_bytes for venv in venvs)
    removed = []
    for venv in venvs:
        if not _over(limits, total, cache_dir):
            break
        if remove_venv(venv):
            total -= venv.size_bytes
            removed.append(venv)
            log(f"venv cache: evicted {venv.key} ({venv.size_bytes / _GIB:.2f} GiB, least used)")
    return removed


def remove_venv(venv: CachedVenv) -> bool:
    """Remove ``venv`` unless it is in use or being built; whether it was removed."""
    with _try_locks(venv.path) as locked:
        if not locked:
            return False
        (venv.path / MARKER).unlink(missing_ok=True)
        shutil.rmtree(venv.path, ignore_errors=True)
        return True


def _over(limits: CacheLimits, total: int, cache_dir: Path) -> bool:
    if limits.max_bytes is not None and total > limits.max_bytes:
        return True
    if limits.min_free_bytes is not None:
        return shutil.disk_usage(cache_dir).free < limits.min_free_bytes
    return False


@contextmanager
def _try_locks(root: Path) -> Iterator[bool]:
    """Take ``root``'s build and in-use locks exclusively without waiting; True if both."""
    with ExitStack() as stack:
        for suffix in ("lock", "use"):
            handle = stack.enter_context(root.with_name(f"{root.name}.{suffix}").open("a"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        yield True
