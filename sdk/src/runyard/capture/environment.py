"""The Python environment of a run: interpreter version and pinned requirements.

By default the requirements are what the running interpreter really has installed
(``importlib.metadata``), pinned to their exact versions. A distribution installed
from a local folder (editable or not) cannot be installed elsewhere from a pin, so it
is left out and named in a note, unless its files live inside the run's repository:
that is the repository's own package (editable, or a stale ``*.egg-info`` on
``sys.path``), recorded as a folder the agent installs from the checkout and never as
a pin a registry would answer (another package of that name). One installed from a
VCS URL is kept as a direct reference to its commit. ``runyard`` itself is left out
(agents bring their own), and so are the packaging tools a venv is seeded with.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from runyard.models.tasks import PACKAGING_TOOLS

SDK_DISTRIBUTION = "runyard"


@dataclass
class Packages:
    """Requirement lines to rebuild the environment, and what could not be pinned."""

    requirements: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)
    repo_packages: list[str] = field(default_factory=list)
    """Folders (relative to the repository root) of distributions installed from it."""


def python_version() -> str:
    """The running interpreter as ``major.minor.micro``."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def canonical(name: str) -> str:
    """A distribution name normalized as PEP 503 does (``Foo_Bar`` → ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages(repo_root: Path | None = None) -> Packages:
    """Every distribution the running interpreter can import, pinned, sorted by name;
    those whose files or source folder lie in ``repo_root`` as its own packages."""
    packages = Packages()
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonical(name) in seen:
            continue  # an earlier entry on sys.path shadows this one
        seen.add(canonical(name))
        if canonical(name) == SDK_DISTRIBUTION or canonical(name) in PACKAGING_TOOLS:
            continue
        folder = _repo_folder(dist, repo_root) if repo_root is not None else None
        if folder is not None:
            if folder not in packages.repo_packages:
                packages.repo_packages.append(folder)
            continue
        line, note = _requirement(name, dist)
        if line:
            packages.requirements.append(line)
        if note:
            packages.unpinned.append(note)
    packages.requirements.sort(key=str.lower)
    packages.unpinned.sort(key=str.lower)
    packages.repo_packages.sort()
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


_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def _repo_folder(dist: importlib.metadata.Distribution, root: Path) -> str | None:
    """The folder of ``root`` (relative, ``.`` for the root) that ``dist`` was installed
    from, or whose metadata it reads (a stale egg-info); None for a package from elsewhere."""
    origin = _direct_url(dist) or {}
    url = str(origin.get("url", ""))
    if url.startswith("file:"):
        source = Path(unquote(urlparse(url).path))
    else:
        metadata = getattr(dist, "_path", None)  # PathDistribution: its .dist-info/.egg-info
        if not isinstance(metadata, Path):
            return None
        source = metadata.parent
        # Installed into the environment (a ``.venv`` inside the repository, say): a pin.
        if source.resolve().is_relative_to(Path(sys.prefix).resolve()):
            return None
    source = source.resolve()
    if not source.is_relative_to(root):
        return None
    for folder in [source, *source.parents]:
        if any((folder / name).is_file() for name in _PROJECT_FILES):
            return folder.relative_to(root).as_posix()
        if folder == root:
            break
    return None


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
