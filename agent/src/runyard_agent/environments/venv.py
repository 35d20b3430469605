"""The ``venv`` executor's Python environments, cached by interpreter and requirements.

Layout under ``<cache_dir>/venvs/``: ``<key>/`` is a venv, ``<key>.lock`` its build
lock and ``<key>.use`` its in-use lock (``venv_cache.py``), where ``key`` hashes the
interpreter's exact version, the sorted, normalized requirements (PyTorch builds
already mapped to this machine's) and the named index the task asked for. A venv is
complete when its ``.runyard-complete`` marker exists; the marker is written last, so
a venv without one (an agent died while building) is removed and rebuilt, never used.

Built in place, not in a scratch directory renamed afterwards: a venv is not
relocatable (``bin/`` scripts have absolute shebangs, ``activate`` hard-codes its
path), and tasks may run console scripts their requirements installed. Instead an
exclusive ``flock`` per key is held while checking and building, so two tasks asking
for the same environment at once build it once and both use it.

A task with a ``lock_file`` is built from what ``uv export --frozen`` says the lock
pins (with archive hashes, checked by the installer) in place of its requirements.
Packages are installed with their bytecode compiled (uv's ``--compile-bytecode``; pip
compiles by default): tasks often run with ``PYTHONDONTWRITEBYTECODE=1`` and would
otherwise compile every module they import, on every run.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runyard.models.tasks import Environment, InstalledPackage
from runyard_agent.environments._locks import file_lock
from runyard_agent.environments._proc import run_tool
from runyard_agent.environments.interpreters import Interpreter, find_interpreter
from runyard_agent.environments.lock_export import export_lock, hashed_lines
from runyard_agent.environments.repo_install import list_installed
from runyard_agent.environments.sdk_overlay import SDK_DISTRIBUTION, attach_sdk
from runyard_agent.environments.torch_builds import TorchBuild, choose_build, plan_torch
from runyard_agent.environments.venv_cache import (
    MARKER,
    CacheLimits,
    evict,
    hold_in_use,
    tree_size,
)
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.package_sources import PackageSources

Installer = Literal["uv", "pip", "auto"]
Log = Callable[[str], None]

_UV_INSTALLED = re.compile(r"^Installed (\d+) packages? in", re.MULTILINE)

REQUIREMENTS_FILE = "runyard-requirements.txt"


@dataclass
class VenvLease:
    """A venv ready for a task, and the shared lock that keeps eviction away from it.

    The lock is an open file with ``LOCK_SH`` on ``<key>.use``; hand :attr:`lock_fd` to
    the task's process (it inherits the lock, so the venv stays in use as long as the
    task lives, even past the agent) and :meth:`release` the agent's copy.
    """

    python: Path
    _handle: IO[str] | None
    interpreter: Interpreter | None = None
    hashes: dict[str, list[str]] = field(default_factory=dict)
    """Archive hashes by package name, from the task's lock file."""
    installed: list[InstalledPackage] = field(default_factory=list)
    """What the venv holds, listed when it was built (kept in its marker)."""

    @property
    def lock_fd(self) -> int:
        """The file descriptor holding the shared lock."""
        assert self._handle is not None, "the lease was released"
        return self._handle.fileno()

    def release(self) -> None:
        """Close the agent's copy of the lock (the task's copy, if any, holds on)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def ensure_venv(
    environment: Environment, cache_dir: Path, log: Log, *, installer: Installer = "auto"
) -> Path:
    """The python executable of a venv for ``environment`` from the installer's own indexes.

    :func:`lease_venv` without the lease (released at once), for callers that run no task.
    """
    lease = lease_venv(environment, cache_dir, log, installer=installer)
    lease.release()
    return lease.python


def lease_venv(
    environment: Environment,
    cache_dir: Path,
    log: Log,
    *,
    installer: Installer = "auto",
    sources: PackageSources | None = None,
    torch: TorchBuild | None = None,
    limits: CacheLimits | None = None,
    checkout: Path | None = None,
) -> VenvLease:
    """A venv built for ``environment`` (built once, then a cache hit), held in use.

    ``installer`` picks what installs the requirements: ``uv`` (``uv pip install``),
    ``pip`` (the venv's own pip) or ``auto`` (uv when installed, else pip). The cache
    key ignores it, so compare installers with separate ``cache_dir``s. ``sources`` are
    the operator's indexes (default: the installer's own settings); ``torch`` the
    PyTorch build of this machine (default: CPU). Then least recently used venvs not in
    use are evicted down to ``limits``. ``checkout`` is the task's code, where its
    ``environment.lock_file`` is read.

    The agent's own ``runyard`` SDK is importable in the venv without network access;
    a ``runyard`` line in the requirements is dropped so the agent's version is used.

    Raises EnvironmentBuildError with stage ``install`` when no interpreter matches
    ``environment.python``, or virtualenv or the installer fails (with its output).
    """
    sources = sources or PackageSources()
    torch = torch or choose_build("auto", 0, None)
    uv_bin = uv_binary()
    tool = _pick_installer(installer, uv_bin)
    uv_env = {"UV_CACHE_DIR": str(cache_dir / "uv")}
    python = find_interpreter(environment.python, uv_bin, log)
    wanted, hashes, hashed = wanted_requirements(environment, checkout, uv_bin, uv_env, log)
    plan = plan_torch(normalize_requirements(wanted, log), torch)
    requirements = sorted(plan.requirements)
    key = venv_key(python, requirements, environment.package_index)
    root = cache_dir / "venvs" / key
    for note in plan.notes:
        log(f"torch: {note}")
    with file_lock(root.with_name(f"{key}.lock")):
        marker = root / MARKER
        if marker.is_file():
            os.utime(marker)
            installed = _recorded_installed(marker, root)
            log(f"venv cache hit {key}")
        else:
            build = _Build(root, python, requirements, tool, uv_bin, cache_dir, log, uv_env)
            installed = build.run(sources.with_torch(plan.backends), hashed)
        attach_sdk(root, python, uv_bin, cache_dir, log, uv_env)
        handle = hold_in_use(root)
    if limits is not None:
        evict(cache_dir, limits, log)
    return VenvLease(root / "bin" / "python", handle, python, hashes, installed)


def _recorded_installed(marker: Path, root: Path) -> list[InstalledPackage]:
    """The installed list a venv's marker keeps; listed afresh for a venv built before."""
    try:
        record = json.loads(marker.read_text())
        return [InstalledPackage.model_validate(item) for item in record["installed"]]
    except (OSError, ValueError, KeyError, TypeError):
        return list_installed(root / "bin" / "python")


def wanted_requirements(
    environment: Environment,
    checkout: Path | None,
    uv_bin: Path | None,
    uv_env: dict[str, str],
    log: Log,
) -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """The requirement lines to install, the archive hashes by package name, and the lines
    with their ``--hash`` options: from the lock file when the task has one."""
    if environment.lock_file is None:
        return environment.requirements, {}, {}
    if checkout is None:
        raise EnvironmentBuildError("install", "a lock file is read from the task's checkout")
    locked = export_lock(checkout / environment.lock_file, uv_bin, uv_env)
    log(
        f"{environment.lock_file}: installing the {len(locked.requirements)} packages it "
        "locks, in place of the requirements"
    )
    for line in locked.skipped:
        log(f"{environment.lock_file}: not a registry package, not installed: {line}")

    def normalize(line: str) -> str:
        return (normalize_requirements([line], log) or [line])[0]

    return locked.requirements, locked.hashes, hashed_lines(locked, normalize)


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


def venv_key(python: Interpreter, requirements: list[str], index: str | None = None) -> str:
    """The cache key of a venv: a hash of the exact Python version, the requirements and
    the named index the task asked for."""
    record: dict[str, object] = {"python": python.version_text, "requirements": requirements}
    if index is not None:
        record["index"] = index
    identity = json.dumps(record)
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def _pick_installer(installer: Installer, uv_bin: Path | None) -> Literal["uv", "pip"]:
    if installer == "auto":
        return "uv" if uv_bin is not None else "pip"
    if installer == "uv" and uv_bin is None:
        raise EnvironmentBuildError("install", "installer 'uv' asked for, but uv is not installed")
    return installer


@dataclass(frozen=True)
class _Build:
    root: Path
    python: Interpreter
    requirements: list[str]
    tool: Literal["uv", "pip"]
    uv_bin: Path | None
    cache_dir: Path
    log: Log
    uv_env: dict[str, str]

    def run(self, sources: PackageSources, hashed: dict[str, str]) -> list[InstalledPackage]:
        """Create the venv and install the requirements; the marker is written last.

        Returns what the venv holds, which the marker keeps too."""
        root, log = self.root, self.log
        if root.exists():
            log(f"removing an incomplete venv at {root}")
            shutil.rmtree(root)
        started = time.monotonic()
        try:
            create = [sys.executable, "-m", "virtualenv", "--no-download", "--no-periodic-update"]
            create += ["--app-data", str(self.cache_dir / "virtualenv-app-data")]
            create += ["--python", str(self.python.executable), str(root)]
            run_tool(create, stage="install", what="virtualenv failed")
            if self.requirements:
                self._install(sources, hashed)
            installed = list_installed(root / "bin" / "python")
            record = {
                "python": self.python.version_text,
                "requirements": self.requirements,
                "size_bytes": tree_size(root),
                "installed": [package.model_dump(mode="json") for package in installed],
            }
            (root / MARKER).write_text(json.dumps(record))
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        log(
            f"venv {root.name} built in {time.monotonic() - started:.1f} s "
            f"(Python {self.python.version_text}, {len(self.requirements)} requirements)"
        )
        return installed

    def _install(self, sources: PackageSources, hashed: dict[str, str]) -> None:
        """Install the requirements; ``hashed`` maps a line to it with its ``--hash`` options."""
        listing = self.root / REQUIREMENTS_FILE
        listing.write_text("".join(f"{hashed.get(line, line)}\n" for line in self.requirements))
        python = self.root / "bin" / "python"
        if self.tool == "uv" and self.uv_bin is not None:
            command = [str(self.uv_bin), "pip", "install", "--compile-bytecode"]
            command += ["--python", str(python)]
            env = {**self.uv_env, **sources.installer_env("uv")}
        else:
            command = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
            command += ["--no-input", "--cache-dir", str(self.cache_dir / "pip")]
            env = sources.installer_env("pip")
        self.log(
            f"installing {len(self.requirements)} requirements with {self.tool}; "
            f"{sources.describe()}"
        )
        started = time.monotonic()
        what = f"{self.tool} could not install the requirements"
        output = run_tool([*command, "-r", str(listing)], stage="install", what=what, env=env)
        count = installed_count(output)
        self.log(
            f"installed {count if count is not None else 'the'} packages with {self.tool} "
            f"in {time.monotonic() - started:.1f} s"
        )


def installed_count(output: str) -> int | None:
    """How many packages uv's or pip's output says it installed; None when it does not say."""
    found = _UV_INSTALLED.search(output)
    if found:
        return int(found[1])
    for line in output.splitlines():
        if line.startswith("Successfully installed "):
            return len(line.split()) - 2
    return None
