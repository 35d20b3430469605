"""The ``venv`` executor: the entry point runs as a local process in a cached virtualenv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runyard_agent import environments
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.launch import LaunchRequest
from runyard_agent.process import TaskProcess
from runyard_agent.task_env import task_command, task_environment


@dataclass(frozen=True)
class VenvLaunch:
    """The command line, directory and environment of a task's entry point."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]

    def start(self) -> TaskProcess:
        """Start the entry point in its own process group."""
        try:
            return TaskProcess.start(self.argv, self.cwd, self.env)
        except OSError as exc:
            raise EnvironmentBuildError("start", f"could not start {self.argv[0]}: {exc}") from None

    def discard(self) -> None:
        """Nothing to release: the venv stays cached for the next task."""


def venv_launch(job: LaunchRequest) -> VenvLaunch:
    """Build (or reuse) the task's virtualenv and describe how its entry point runs."""
    task, settings = job.task, job.settings
    python = environments.ensure_venv(task.environment, settings.cache_dir, job.note)
    argv, cwd = task_command(task.script, job.workdir, python)
    env = task_environment(
        job.base_env,
        task,
        python=python,
        allocation=job.allocation,
        server=settings.server,
        token=job.token,
    )
    return VenvLaunch(argv, cwd, env)
