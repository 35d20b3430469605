"""Everything ``Task.init`` records about a local run, as the :class:`TaskCreate` to send."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runyard.capture.environment import installed_packages, python_version
from runyard.capture.git import GitError, capture_script, find_root
from runyard.capture.origin import original_cwd, script_path
from runyard.capture.requirements import read_requirements, split_source
from runyard.models import Environment, Script, TaskCreate

Warn = Callable[[str], None]
RequirementsSource = str | Sequence[str] | None


def capture_run(
    project: str,
    name: str,
    tags: Sequence[str],
    requirements: RequirementsSource,
    warn: Warn,
) -> TaskCreate:
    """The spec of the running script: code, argv, Python, requirements.

    Problems (no git, an unreadable requirements file) become warnings: the run is
    recorded with what could be captured, and the script goes on.
    """
    script = _script(warn)
    environment = _environment(requirements, script, warn)
    return TaskCreate(
        project=project, name=name, tags=list(tags), script=script, environment=environment
    )


def code_root() -> Path | None:
    """The root of the git work tree the running script is in; None outside git."""
    path = script_path()
    return find_root(path.parent) if path is not None else None


def _script(warn: Warn) -> Script:
    path = script_path()
    if path is None:
        warn(
            "not started from a script file (interactive or -c): the code is not recorded, "
            "so an agent cannot rerun this task"
        )
        return Script(args=list(sys.argv[1:]))
    try:
        script, warnings = capture_script(path, list(sys.argv[1:]), original_cwd())
    except (GitError, OSError, subprocess.SubprocessError, ValueError) as exc:
        warn(f"the code could not be recorded ({exc}); an agent cannot rerun this task")
        return Script(args=list(sys.argv[1:]))
    for warning in warnings:
        warn(warning)
    return script


def _environment(source: RequirementsSource, script: Script, warn: Warn) -> Environment:
    root = code_root() if script.repository else None
    if source is None:
        packages = installed_packages(root)
        if packages.unpinned:
            warn(
                "not recorded as requirements, since agents cannot install them from a pin: "
                + ", ".join(packages.unpinned)
            )
        return Environment(
            python=python_version(),
            requirements=packages.requirements,
            repo_packages=packages.repo_packages,
        )
    if not isinstance(source, str):
        return Environment(python=python_version(), requirements=list(source))
    path_text, groups = split_source(source)
    path = _requirements_path(path_text, root)
    try:
        found = read_requirements(path, groups, stop_at=root)
    except (OSError, ValueError) as exc:
        warn(f"requirements file {path} could not be read ({exc}); recorded no requirements")
        return Environment(python=python_version())
    if found.skipped:
        warn(f"pip options in {path} are not recorded: {', '.join(found.skipped)}")
    project = _relative(found.project_dir, root)
    return Environment(
        python=python_version(),
        requirements=found.requirements,
        repo_packages=[project] if project else [],
        lock_file=_relative(found.lock_file, root),
    )


def _relative(path: Path | None, root: Path | None) -> str | None:
    """``path`` relative to the repository root; None when either is unknown or it is outside."""
    if path is None or root is None or not path.resolve().is_relative_to(root):
        return None
    return path.resolve().relative_to(root).as_posix()


def _requirements_path(source: str, root: Path | None) -> Path:
    """``source`` relative to the repository root (the script's folder outside git)."""
    path = Path(source)
    if path.is_absolute():
        return path
    script = script_path()
    here = script.parent if script is not None else original_cwd()
    return (root or here) / path
