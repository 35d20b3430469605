"""The ``venv`` executor: the entry point runs as a local process in a cached virtualenv."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runyard_agent.environments.repo_install import (
    install_repo_packages,
    list_installed,
    with_hashes,
)
from runyard_agent.environments.venv import VenvLease, lease_venv, uv_binary
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
            checkout=job.workdir,
        )
    except EnvironmentBuildError as exc:
        # Installers may echo an index URL; the reason reaches the task record.
        raise EnvironmentBuildError(exc.stage, sources.redact(exc.message)) from None
    try:
        python = _task_python(job, lease, sources)
        argv, cwd = task_command(task.script, job.workdir, python)
    except EnvironmentBuildError:
        lease.release()
        raise
    if job.record_installed is not None:
        # A task venv adds the repository's packages; the cached venv's list is in its marker.
        installed = (
            list_installed(python, job.workdir) if python != lease.python else lease.installed
        )
        job.record_installed(with_hashes(installed, lease.hashes))
    env = task_environment(
        job.base_env,
        task,
        python=python,
        allocation=job.allocation,
        server=settings.server,
        token=job.token,
        gang=job.gang,
    )
    if python != lease.python:
        # The cached venv's console scripts (its requirements') stay on the PATH.
        env["PATH"] = os.pathsep.join([str(python.parent), str(lease.python.parent), env["PATH"]])
    return VenvLaunch(argv, cwd, env, lease)


def _task_python(job: LaunchRequest, lease: VenvLease, sources: PackageSources) -> Path:
    """The cached venv's python, or a task venv's over it with the repository's packages."""
    folders = job.task.environment.repo_packages
    if not folders:
        return lease.python
    assert lease.interpreter is not None
    env = {"UV_CACHE_DIR": str(job.settings.cache_dir / "uv"), **sources.installer_env("uv")}
    try:
        return install_repo_packages(
            lease.python.parent.parent,
            lease.interpreter,
            job.workdir,
            folders,
            uv_binary(),
            env,
            job.note,
        )
    except EnvironmentBuildError as exc:
        raise EnvironmentBuildError(exc.stage, sources.redact(exc.message)) from None
