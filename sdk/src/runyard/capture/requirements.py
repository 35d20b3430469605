"""Reading a task's requirements from a file: the one parser ``Task.init`` and the CLI share.

``source`` is a ``requirements.txt`` or a ``pyproject.toml``, the latter optionally with
named groups (``pyproject.toml[train,eval]``): the ``[project] dependencies`` plus those
``[project.optional-dependencies]`` (or PEP 735 ``[dependency-groups]``). A pyproject
that builds a package (it has a ``[build-system]``, or a ``setup.py`` beside it) is the
repository's own package: it is named as a folder to install from the checkout, never
as a registry pin. A ``uv.lock`` beside it (or in a folder above it, inside the
repository: a uv workspace) is the lock file the agent installs exactly.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_SOURCE = re.compile(r"^(?P<path>.+?)(?:\[(?P<groups>[^\]]*)\])?$")
LOCK_FILE = "uv.lock"


@dataclass
class RequirementsFile:
    """What a requirements source says: lines, skipped pip options, project and lock file."""

    requirements: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    project_dir: Path | None = None
    """The folder of a pyproject that builds a package: installed from the checkout."""
    lock_file: Path | None = None


def split_source(source: str) -> tuple[str, list[str]]:
    """``"pyproject.toml[train, eval]"`` → ``("pyproject.toml", ["train", "eval"])``."""
    match = _SOURCE.match(source.strip())
    if match is None:
        raise ValueError(f"requirements source {source!r} is empty")
    groups = [g.strip() for g in (match["groups"] or "").split(",") if g.strip()]
    return match["path"], groups


def read_requirements(
    path: Path, groups: list[str], stop_at: Path | None = None
) -> RequirementsFile:
    """The requirements of ``path`` (with ``groups`` for a pyproject).

    ``stop_at`` is the repository root: a ``uv.lock`` is looked for from the pyproject's
    folder up to it. Raises ``OSError`` or ``ValueError`` with the reason when the file
    cannot be read or a group does not exist.
    """
    if path.name == "pyproject.toml":
        return _pyproject(path, groups, stop_at)
    if groups:
        raise ValueError(
            f"{path}: groups ({', '.join(groups)}) are only read from a pyproject.toml"
        )
    found = RequirementsFile()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (found.skipped if line.startswith("-") else found.requirements).append(line)
    return found


def _pyproject(path: Path, groups: list[str], stop_at: Path | None) -> RequirementsFile:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    project: dict[str, Any] = data.get("project", {})
    name = canonicalize_name(str(project.get("name", ""))) if project.get("name") else None
    optional = _table(path, project.get("optional-dependencies", {}), "optional-dependencies")
    dependency_groups = _table(path, data.get("dependency-groups", {}), "dependency-groups")
    lines = _strings(path, project.get("dependencies", []), "[project] dependencies")
    for group in groups:
        if group in optional:
            lines += optional[group]
        elif group in dependency_groups:
            lines += dependency_groups[group]
        else:
            known = sorted({*optional, *dependency_groups}) or ["none"]
            raise ValueError(f"{path}: no group {group!r} (groups: {', '.join(known)})")
    builds = "build-system" in data or (path.parent / "setup.py").is_file()
    return RequirementsFile(
        requirements=_expand_self(lines, name, optional),
        project_dir=path.parent if builds and name else None,
        lock_file=_find_lock(path.parent, stop_at),
    )


def _table(path: Path, value: object, what: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: [{what}] is not a table")
    return {str(k): _strings(path, v, f"[{what}] {k}") for k, v in value.items()}


def _strings(path: Path, value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{path}: {what} is not a list of strings")
    return list(value)


def _expand_self(lines: list[str], name: str | None, optional: dict[str, list[str]]) -> list[str]:
    """``acme[train]`` inside acme's own pyproject means acme's ``train`` group: inline it
    (a pin of the project itself would come from a registry)."""
    result: list[str] = []
    seen: set[str] = set()
    pending = list(lines)
    while pending:
        line = pending.pop(0)
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise ValueError(f"requirement {line!r} is not valid: {exc}") from None
        if name is not None and canonicalize_name(requirement.name) == name:
            for extra in sorted(requirement.extras - seen):
                seen.add(extra)
                pending += optional.get(extra, [])
            continue
        if line not in result:
            result.append(line)
    return result


def _find_lock(folder: Path, stop_at: Path | None) -> Path | None:
    for candidate in [folder, *folder.parents]:
        if (candidate / LOCK_FILE).is_file():
            return candidate / LOCK_FILE
        if stop_at is None or candidate == stop_at or (candidate / ".git").exists():
            return None
    return None
