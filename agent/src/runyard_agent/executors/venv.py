"""The ``venv`` executor: the entry point runs as a local process in a cached virtualenv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runyard_agent.environments.venv import VenvLease, lease_venv
from runyard_agent.environments.venv_cache import CacheLimits
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.launch import LaunchRequest
from runyard_agent.package_sources import PackageSources
from runyard_agent.process import TaskProcess
from runyard_agent.task_env import task_command, task_environment


@dataclass(frozen=True)
class VenvLaunch:
    """The command line, directory and environment of a task's entry point, and its venv."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    venv: VenvLease

    def start(self) -> TaskProcess:
        """Start the entry point in its own process group; it holds the venv's in-use lock."""
        try:
            return TaskProcess.start(self.argv, self.cwd, self.env, keep_fds=[self.venv.lock_fd])
        except OSError as exc:
            raise EnvironmentBuildError("start", f"could not start {self.argv[0]}: {exc}") from None
        finally:
            self.venv.release()

    def discard(self) -> None:
        """Let go of the venv: it stays cached for the next task."""
        self.venv.release()


def venv_launch(job: LaunchRequest) -> VenvLaunch:
    """Build (or reuse) the task's virtualenv and describe how its entry point runs."""
    task, settings = job.task, job.settings
    sources = PackageSources.for_task(settings, task.environment.package_index)
    log = sources.redacting(job.note)
    try:
        lease = lease_venv(
            task.environment,
            settings.cache_dir,
            log,
            sources=sources,
            torch=job.torch,
            limits=CacheLimits.from_gib(settings.venv_cache_max_gb, settings.min_free_gb),
        )
    except EnvironmentBuildError as exc:
        # Installers may echo an index URL; the reason reaches the task record.
        raise EnvironmentBuildError(exc.stage, sources.redact(exc.message)) from None
    try:
        argv, cwd = task_command(task.script, job.workdir, lease.python)
    except EnvironmentBuildError:
        lease.release()
        raise
    env = task_environment(
        job.base_env,
        task,
        python=lease.python,
        allocation=job.allocation,
        server=settings.server,
        token=job.token,
    )
    return VenvLaunch(argv, cwd, env, lease)
