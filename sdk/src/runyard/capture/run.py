"""Everything ``Task.init`` records about a local run, as the :class:`TaskCreate` to send."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runyard.capture.environment import installed_packages, python_version, requirements_from_file
from runyard.capture.git import GitError, capture_script, find_root
from runyard.capture.origin import original_cwd, script_path
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
    environment = Environment(
        python=python_version(), requirements=_requirements(requirements, script, warn)
    )
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


def _requirements(source: RequirementsSource, script: Script, warn: Warn) -> list[str]:
    if source is None:
        packages = installed_packages()
        if packages.unpinned:
            warn(
                "not recorded as requirements, since agents cannot install them from a pin: "
                + ", ".join(packages.unpinned)
            )
        return packages.requirements
    if not isinstance(source, str):
        return list(source)
    path = _requirements_path(source, script)
    try:
        lines, skipped = requirements_from_file(path)
    except (OSError, ValueError) as exc:
        warn(f"requirements file {path} could not be read ({exc}); recorded no requirements")
        return []
    if skipped:
        warn(f"pip options in {path} are not recorded: {', '.join(skipped)}")
    return lines


def _requirements_path(source: str, recorded: Script) -> Path:
    """``source`` relative to the repository root (the script's folder outside git)."""
    path = Path(source)
    if path.is_absolute():
        return path
    script = script_path()
    here = script.parent if script is not None else original_cwd()
    root = find_root(here) if recorded.repository else None
    return (root or here) / path
