"""Making the agent's own ``runyard`` SDK importable inside a task's venv, offline.

The SDK and its runtime dependencies are gathered in an *overlay* directory under
``<cache_dir>/sdk/<key>``, and a ``.pth`` file in the venv's site-packages appends
that directory to ``sys.path``. Appended, not prepended: a package the task pins
itself (another pydantic, say) is found first in site-packages and wins.

- Same Python ``major.minor`` as the agent: the overlay holds symlinks to the
  agent's installed packages (``pydantic_core`` is compiled for that ABI), found
  from ``importlib.metadata`` by walking ``runyard``'s runtime requirements.
- Another ``major.minor``: the overlay links the pure-Python ``runyard`` package and
  gets its dependencies with ``uv pip install --offline --target`` from uv's cache
  (the agent's own, ``<cache_dir>/uv``, which earlier builds filled).
  If that fails the venv is still usable and a warning says what to add.

The overlay holds no ``.dist-info``, so pip and uv never see these packages as
installed in the venv and install the task's own versions normally.
"""

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from runyard_agent.environments._locks import publish_dir
from runyard_agent.environments._proc import run_tool
from runyard_agent.environments.interpreters import Interpreter
from runyard_agent.errors import EnvironmentBuildError

SDK_DISTRIBUTION = "runyard"
PTH_NAME = "zz_runyard_agent_sdk.pth"

Log = Callable[[str], None]


def attach_sdk(
    venv_root: Path,
    python: Interpreter,
    uv_bin: Path | None,
    cache_dir: Path,
    log: Log,
    uv_env: dict[str, str],
) -> None:
    """Point the venv at an overlay holding the agent's ``runyard`` (rewritten if it moved).

    ``uv_env`` is the environment uv runs with (its cache directory).
    """
    same_abi = python.version[:2] == sys.version_info[:2]
    overlay = _overlay(python, same_abi, uv_bin, cache_dir / "sdk", log, uv_env)
    major, minor = python.version[:2]
    site_packages = venv_root / "lib" / f"python{major}.{minor}" / "site-packages"
    pth = site_packages / PTH_NAME
    content = f"{overlay}\n"
    if pth.is_file() and pth.read_text() == content:
        return
    scratch = pth.with_name(f".{PTH_NAME}.{os.getpid()}")
    scratch.write_text(content)
    os.replace(scratch, pth)


def sdk_distributions() -> list[importlib.metadata.Distribution]:
    """``runyard`` and, transitively, every distribution it needs at run time."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [SDK_DISTRIBUTION]
    while pending:
        name = canonicalize_name(pending.pop())
        if name in found:
            continue
        found[name] = dist = importlib.metadata.distribution(name)
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())


def _top_level_names(dist: importlib.metadata.Distribution) -> Iterator[str]:
    yield canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    for file in dist.files or []:
        first = file.parts[0]
        if len(file.parts) > 1 and not first.endswith((".dist-info", ".data")) and first != "..":
            yield first
        elif len(file.parts) == 1 and file.suffix in (".py", ".so"):
            yield first.split(".", 1)[0]


def _import_locations(dists: list[importlib.metadata.Distribution]) -> dict[str, Path]:
    """Top-level module name → the agent's file or package directory for it."""
    locations: dict[str, Path] = {}
    for dist in dists:
        for name in _top_level_names(dist):
            spec = importlib.util.find_spec(name) if name.isidentifier() else None
            if spec is None or name in locations:
                continue
            if spec.submodule_search_locations:
                locations[name] = Path(next(iter(spec.submodule_search_locations)))
            elif spec.origin:
                locations[name] = Path(spec.origin)
    return locations


def _overlay(
    python: Interpreter,
    same_abi: bool,
    uv_bin: Path | None,
    root: Path,
    log: Log,
    uv_env: dict[str, str],
) -> Path:
    dists = sdk_distributions() if same_abi else [importlib.metadata.distribution(SDK_DISTRIBUTION)]
    locations = _import_locations(dists)
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)
    identity = repr((python.version[:2], versions, sorted(locations.items())))
    overlay = root / hashlib.sha256(identity.encode()).hexdigest()[:24]
    if overlay.is_dir():
        return overlay
    with publish_dir(overlay) as scratch:
        scratch.chmod(0o755)
        for location in locations.values():
            (scratch / location.name).symlink_to(location)
        if not same_abi:
            _install_dependencies_offline(python, uv_bin, scratch, log, uv_env)
    sdk = importlib.metadata.version(SDK_DISTRIBUTION)
    log(f"runyard SDK {sdk}: prepared for Python {python.version_text} venvs")
    return overlay


def _install_dependencies_offline(
    python: Interpreter, uv_bin: Path | None, target: Path, log: Log, uv_env: dict[str, str]
) -> None:
    sdk = importlib.metadata.distribution(SDK_DISTRIBUTION)
    needed = [
        line
        for line in sdk.requires or []
        if (marker := Requirement(line).marker) is None or marker.evaluate({"extra": ""})
    ]
    advice = (
        f"`import runyard` may fail in this Python {python.version_text} venv: "
        f"add {', '.join(needed)} to the task's requirements"
    )
    if uv_bin is None:
        log(f"WARNING: uv is not installed, so the SDK's dependencies were not added; {advice}")
        return
    command = [str(uv_bin), "pip", "install", "--offline", "--quiet", "--target", str(target)]
    command += ["--python", str(python.executable), *needed]
    try:
        run_tool(command, stage="install", what="uv pip install --offline", env=uv_env)
    except EnvironmentBuildError as exc:
        log(f"WARNING: the SDK's dependencies are not in uv's cache ({exc.message}); {advice}")
        return
    # Without metadata, pip and uv in the venv never count these as installed there.
    for metadata in [*target.glob("*.dist-info"), target / "bin"]:
        shutil.rmtree(metadata, ignore_errors=True)
