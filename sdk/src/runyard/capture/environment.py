"""The Python environment of a run: interpreter version and pinned requirements.

By default the requirements are what the running interpreter really has installed
(``importlib.metadata``), pinned to their exact versions. A distribution installed
from a local folder (editable or not) cannot be installed elsewhere from a pin, so it
is left out and named in a note; one installed from a VCS URL is kept as a direct
reference to its commit. ``runyard`` itself is left out: agents bring their own.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SDK_DISTRIBUTION = "runyard"


@dataclass
class Packages:
    """Requirement lines to rebuild the environment, and what could not be pinned."""

    requirements: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)


def python_version() -> str:
    """The running interpreter as ``major.minor.micro``."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def canonical(name: str) -> str:
    """A distribution name normalized as PEP 503 does (``Foo_Bar`` → ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> Packages:
    """Every distribution the running interpreter can import, pinned, sorted by name."""
    packages = Packages()
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonical(name) in seen:
            continue  # an earlier entry on sys.path shadows this one
        seen.add(canonical(name))
        if canonical(name) == SDK_DISTRIBUTION:
            continue
        line, note = _requirement(name, dist)
        if line:
            packages.requirements.append(line)
        if note:
            packages.unpinned.append(note)
    packages.requirements.sort(key=str.lower)
    packages.unpinned.sort(key=str.lower)
    return packages


def _requirement(name: str, dist: importlib.metadata.Distribution) -> tuple[str, str]:
    """``(requirement line, note)``: one of them is empty."""
    origin = _direct_url(dist)
    if origin is None:
        return f"{name}=={dist.version}", ""
    url = str(origin.get("url", ""))
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("commit_id") and not url.startswith("file:"):
        return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs['commit_id']}", ""
    if "archive_info" in origin and url.startswith(("http://", "https://")):
        return f"{name} @ {url}", ""
    dir_info = origin.get("dir_info")
    editable = isinstance(dir_info, dict) and dir_info.get("editable")
    kind = "editable install" if editable else "local install"
    return "", f"{name} ({kind} of {url.removeprefix('file://')})"


def _direct_url(dist: importlib.metadata.Distribution) -> dict[str, object] | None:
    """PEP 610 ``direct_url.json``: present when installed from a URL or a folder."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def requirements_from_file(path: Path) -> tuple[list[str], list[str]]:
    """Requirement lines of a ``requirements.txt`` or a ``pyproject.toml``, and skipped lines.

    pip options (``-r``, ``-e``, ``--index-url``...) are skipped: a task's requirements
    are package specifiers only. Raises ``OSError`` or ``ValueError`` with the reason
    when the file cannot be read.
    """
    if path.name == "pyproject.toml":
        with path.open("rb") as handle:
            project = tomllib.load(handle).get("project", {})
        deps = project.get("dependencies", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise ValueError(f"{path}: [project] dependencies is not a list of strings")
        return list(deps), []
    lines: list[str] = []
    skipped: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (skipped if line.startswith("-") else lines).append(line)
    return lines, skipped
