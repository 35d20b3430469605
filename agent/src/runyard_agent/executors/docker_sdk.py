"""The agent's support directory for containers: its ``runyard`` SDK and the venv builder.

Containers cannot follow the symlinks of the ``venv`` executor's SDK overlay (they
point into the agent's own site-packages), so this directory holds *copies*, under
``<cache_dir>/docker/sdk/<key>/`` and mounted read-only at ``/runyard/sdk``:

- ``pkg/runyard/``: the SDK itself, pure Python, importable by any Python 3.11+;
- ``deps/``: the SDK's runtime dependencies (pydantic, requests, ...) copied from the
  agent's environment. ``pydantic_core`` is compiled, so they only serve containers
  whose Python has the agent's ``major.minor`` (``sdk_python`` in the build spec);
  other containers install them with pip when their venv is built;
- ``build_venv.py``: the script that builds a task's venv inside its container.

The directory is written to a scratch name and renamed into place, so agents sharing
a cache directory never see half of one. ``key`` changes with any of its contents.
"""

import hashlib
import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from runyard_agent.environments._locks import publish_dir
from runyard_agent.environments.sdk_overlay import (
    SDK_DISTRIBUTION,
    _import_locations,
    sdk_distributions,
)

BUILD_SCRIPT = Path(__file__).with_name("_build_venv.py")
CONTAINER_PATH = "/runyard/sdk"


@dataclass(frozen=True)
class SdkSupport:
    """A ready support directory and what the venv builder needs to know about it."""

    path: Path
    key: str
    python: str
    requires: list[str]


def sdk_support(cache_dir: Path) -> SdkSupport:
    """The support directory for this agent's SDK, created once per version and layout."""
    dists = sdk_distributions()
    locations = _import_locations(dists)
    sdk_location = locations.pop(SDK_DISTRIBUTION)
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    identity = repr((python, versions, BUILD_SCRIPT.read_bytes(), _sdk_fingerprint(sdk_location)))
    key = hashlib.sha256(identity.encode()).hexdigest()[:24]
    requires = _sdk_requires()
    path = cache_dir / "docker" / "sdk" / key
    if not path.is_dir():
        _write(path, sdk_location, locations)
    return SdkSupport(path=path, key=key, python=python, requires=requires)


def _sdk_requires() -> list[str]:
    dist = importlib.metadata.distribution(SDK_DISTRIBUTION)
    return [
        line
        for line in dist.requires or []
        if (marker := Requirement(line).marker) is None or marker.evaluate({"extra": ""})
    ]


def _sdk_fingerprint(location: Path) -> str:
    """Sizes and mtimes of the SDK's files: an editable install changes without a new version."""
    digest = hashlib.sha256()
    for file in sorted(location.rglob("*.py")):
        stat = file.stat()
        digest.update(f"{file.relative_to(location)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _write(path: Path, sdk_location: Path, deps: dict[str, Path]) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with publish_dir(path) as scratch:
        shutil.copytree(sdk_location, scratch / "pkg" / sdk_location.name, ignore=ignore)
        (scratch / "deps").mkdir()
        for location in deps.values():
            if location.is_dir():
                shutil.copytree(location, scratch / "deps" / location.name, ignore=ignore)
            else:
                shutil.copy2(location, scratch / "deps" / location.name)
        shutil.copy2(BUILD_SCRIPT, scratch / "build_venv.py")
        _make_readable(scratch)


def _make_readable(root: Path) -> None:
    # Containers may run as another uid than the files' owner.
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
