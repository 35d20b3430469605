"""The ``venv`` executor's Python environments, cached by interpreter and requirements.

Layout under ``<cache_dir>/venvs/``: ``<key>/`` is a venv, ``<key>.lock`` its lock,
where ``key`` hashes the interpreter's exact version and the sorted, normalized
requirements. A venv is complete when its ``.runyard-complete`` marker exists; the
marker is written last, so a venv without one (an agent died while building) is
removed and rebuilt, never used.

Built in place, not in a scratch directory renamed afterwards: a venv is not
relocatable (``bin/`` scripts have absolute shebangs, ``activate`` hard-codes its
path), and tasks may run console scripts their requirements installed. Instead an
exclusive ``flock`` per key is held while checking and building, so two tasks asking
for the same environment at once build it once and both use it.
"""

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runyard.models.tasks import Environment
from runyard_agent.environments._locks import file_lock
from runyard_agent.environments._proc import run_streamed
from runyard_agent.environments.interpreters import Interpreter, find_interpreter
from runyard_agent.environments.sdk_overlay import SDK_DISTRIBUTION, attach_sdk
from runyard_agent.errors import EnvironmentBuildError

Installer = Literal["uv", "pip", "auto"]
Log = Callable[[str], None]

MARKER = ".runyard-complete"
REQUIREMENTS_FILE = "runyard-requirements.txt"


def ensure_venv(
    environment: Environment, cache_dir: Path, log: Log, *, installer: Installer = "auto"
) -> Path:
    """Return the python executable of a venv built for ``environment``, building it once.

    ``installer`` picks what installs the requirements: ``uv`` (``uv pip install``),
    ``pip`` (the venv's own pip) or ``auto`` (uv when installed, else pip). The cache
    key ignores it, so compare installers with separate ``cache_dir``s.

    The agent's own ``runyard`` SDK is importable in the venv without network access;
    a ``runyard`` line in the requirements is dropped so the agent's version is used.

    Raises EnvironmentBuildError with stage ``install`` when no interpreter matches
    ``environment.python``, or virtualenv or the installer fails (with its output).
    """
    uv_bin = uv_binary()
    tool = _pick_installer(installer, uv_bin)
    python = find_interpreter(environment.python, uv_bin, log)
    requirements = normalize_requirements(environment.requirements, log)
    key = venv_key(python, requirements)
    root = cache_dir / "venvs" / key
    with file_lock(root.with_name(f"{key}.lock")):
        if (root / MARKER).is_file():
            log(f"venv cache hit {key}")
        else:
            _build(root, python, requirements, tool, uv_bin, cache_dir, log)
        attach_sdk(root, python, uv_bin, cache_dir, log)
    return root / "bin" / "python"


def uv_binary() -> Path | None:
    """The ``uv`` executable from the ``uv`` package, or None when it is not installed."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return Path(find_uv_bin())
    except FileNotFoundError:
        return None


def normalize_requirements(lines: list[str], log: Log) -> list[str]:
    """Sorted, de-duplicated requirement lines with canonical names; comments dropped.

    Lines that are not PEP 508 (a bare URL or path) are kept as written. Raises
    EnvironmentBuildError for a line that is a pip option (``-e``, ``--index-url``...).
    """
    normalized: set[str] = set()
    for line in lines:
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-"):
            raise EnvironmentBuildError("install", f"requirement {line!r} is a pip option")
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            normalized.add(text)
            continue
        if canonicalize_name(requirement.name) == SDK_DISTRIBUTION:
            log(f"requirement {text!r} skipped: the agent provides its own runyard SDK")
            continue
        requirement.name = canonicalize_name(requirement.name)
        normalized.add(str(requirement))
    return sorted(normalized)


def venv_key(python: Interpreter, requirements: list[str]) -> str:
    """The cache key of a venv: a hash of the exact Python version and the requirements."""
    identity = json.dumps({"python": python.version_text, "requirements": requirements})
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def _pick_installer(installer: Installer, uv_bin: Path | None) -> Literal["uv", "pip"]:
    if installer == "auto":
        return "uv" if uv_bin is not None else "pip"
    if installer == "uv" and uv_bin is None:
        raise EnvironmentBuildError("install", "installer 'uv' asked for, but uv is not installed")
    return installer


def _build(
    root: Path,
    python: Interpreter,
    requirements: list[str],
    tool: Literal["uv", "pip"],
    uv_bin: Path | None,
    cache_dir: Path,
    log: Log,
) -> None:
    if root.exists():
        log(f"removing an incomplete venv at {root}")
        shutil.rmtree(root)
    log(f"building venv {root.name}: Python {python.version_text}, {len(requirements)} reqs")
    started = time.monotonic()
    try:
        create = [sys.executable, "-m", "virtualenv", "--no-download", "--no-periodic-update"]
        create += ["--app-data", str(cache_dir / "virtualenv-app-data")]
        create += ["--python", str(python.executable), str(root)]
        run_streamed(create, stage="install", what="virtualenv failed", log=log)
        if requirements:
            _install(root, requirements, tool, uv_bin, log)
        record = {"python": python.version_text, "requirements": requirements}
        (root / MARKER).write_text(json.dumps(record))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    log(f"venv {root.name} built in {time.monotonic() - started:.1f} s")


def _install(
    root: Path, requirements: list[str], tool: Literal["uv", "pip"], uv_bin: Path | None, log: Log
) -> None:
    listing = root / REQUIREMENTS_FILE
    listing.write_text("".join(f"{line}\n" for line in requirements))
    python = root / "bin" / "python"
    if tool == "uv" and uv_bin is not None:
        command = [str(uv_bin), "pip", "install", "--python", str(python), "-r", str(listing)]
    else:
        command = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        command += ["--no-input", "-r", str(listing)]
    log(f"installing {len(requirements)} requirements with {tool}")
    what = f"{tool} could not install the requirements"
    run_streamed(command, stage="install", what=what, log=log)
