"""A task's ``uv.lock`` as the exact requirements its venv is built from.

``uv export --frozen`` reads the lock as committed (never re-resolving it) and writes
every locked package as ``name==version ; markers`` with the hashes of its archives.
The repository's own workspace members are left out: they are installed editable from
the checkout (``repo_install``), not from a registry. Optional dependencies are all
exported, so whichever group a run used is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runyard_agent.environments._proc import run_tool
from runyard_agent.errors import EnvironmentBuildError


@dataclass(frozen=True)
class LockedRequirements:
    """The locked requirement lines, and the archive hashes of each package (by name)."""

    requirements: list[str]
    hashes: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Lines that are not registry packages (a path dependency outside the workspace)."""


def export_lock(lock_file: Path, uv_bin: Path | None, env: dict[str, str]) -> LockedRequirements:
    """The requirements ``lock_file`` pins. Raises EnvironmentBuildError (stage ``install``)
    when it is missing, uv is not installed, or the lock does not match its pyproject."""
    if not lock_file.is_file():
        raise EnvironmentBuildError("install", f"lock file {lock_file.name} is not in the checkout")
    if uv_bin is None:
        raise EnvironmentBuildError("install", "a uv.lock needs uv to read it; uv is not installed")
    command = [str(uv_bin), "export", "--frozen", "--no-emit-workspace", "--all-extras"]
    command += ["--no-header", "--format", "requirements-txt", "--quiet"]
    output = run_tool(
        [*command, "--project", str(lock_file.parent)],
        stage="install",
        what=f"uv could not export {lock_file.name}",
        env=env,
    )
    return parse_export(output)


def parse_export(text: str) -> LockedRequirements:
    """``uv export`` output (continuation lines, ``--hash=`` options) as requirements."""
    requirements: list[str] = []
    hashes: dict[str, list[str]] = {}
    skipped: list[str] = []
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        words = entry.split()
        spec = " ".join(word for word in words if not word.startswith("--hash="))
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            skipped.append(spec)
            continue
        requirements.append(spec)
        hashes[canonicalize_name(requirement.name)] = [
            word.removeprefix("--hash=") for word in words if word.startswith("--hash=")
        ]
    return LockedRequirements(requirements, hashes, skipped)


def hashed_lines(locked: LockedRequirements, normalize: Callable[[str], str]) -> dict[str, str]:
    """Each locked line as ``normalize`` writes it → that line with its ``--hash=`` options.

    A line the build then changes (a PyTorch build mapped to this machine's) is not in
    this map, so it is installed without the hashes of another build's archives."""
    hashed = {}
    for line in locked.requirements:
        name = canonicalize_name(Requirement(line).name)
        digests = " ".join(f"--hash={digest}" for digest in locked.hashes.get(name, []))
        hashed[normalize(line)] = f"{normalize(line)} {digests}".strip()
    return hashed
