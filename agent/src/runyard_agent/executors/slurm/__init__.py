"""The ``slurm`` executor: each claimed task becomes a Slurm batch job.

The agent runs on a login (submit) node. The task's code is checked out into the
work directory (on the shared filesystem), a batch script asks Slurm for what the
task's ``resources`` say plus the operator's partition, account, QoS and extra
``#SBATCH`` lines, and on the compute node :mod:`.node` builds the venv as the
``venv`` executor does and runs the entry point. :mod:`.monitor` reads every job's
state in one ``squeue`` call per poll; :mod:`.job` turns it into what the runner
supervises. A multi-node task is one job over its nodes (:mod:`.rank`). A job left
to Slurm when the agent stopped (second SIGTERM) is found again by its name
(``ry.AGENT.TASK.ATTEMPT``) at the next start: :func:`adopt_jobs`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from runyard_agent.config import AgentSettings
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.launch import Adopted, LaunchRequest
from runyard_agent.executors.slurm import commands, jobdir
from runyard_agent.executors.slurm.commands import SlurmError
from runyard_agent.executors.slurm.job import Note, RecordInstalled, SlurmJob
from runyard_agent.executors.slurm.monitor import SlurmMonitor

log = logging.getLogger(__name__)

_SEQ_PER_AGENT = 10**9
"""Log batch numbers each agent of a job's life uses: the n-th adopter starts at n times this."""

_monitor: SlurmMonitor | None = None
_monitor_lock = threading.Lock()


def monitor(settings: AgentSettings) -> SlurmMonitor:
    """The agent's one monitor, started on first use."""
    global _monitor
    with _monitor_lock:
        if _monitor is None:
            _monitor = SlurmMonitor(settings.slurm_poll_s)
        return _monitor


@dataclass(frozen=True)
class SlurmLaunch:
    """A batch script written to its job directory, ready for ``sbatch``."""

    folder: Path
    request: LaunchRequest

    def start(self) -> SlurmJob:
        """Submit the job; raises EnvironmentBuildError (stage ``submit``) when Slurm refuses."""
        try:
            job_id = commands.sbatch(self.folder / jobdir.SCRIPT)
        except SlurmError as exc:
            self.discard()
            raise EnvironmentBuildError("submit", f"sbatch refused the job: {exc}") from None
        self.request.note(f"submitted to Slurm as job {job_id}")
        settings, note = self.request.settings, self.request.note
        return SlurmJob(job_id, self.folder, monitor(settings), note, self.request.record_installed)

    def discard(self) -> None:
        """Remove the job directory (nothing was submitted)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def slurm_launch(job: LaunchRequest) -> SlurmLaunch:
    """Write the task's job directory: its spec and batch script."""
    settings, task = job.settings, job.task
    if job.gang is not None:
        # Its claims offer to take a multi-node task whole: a rank of a gang never comes.
        raise EnvironmentBuildError("submit", "the slurm executor runs no rank of a gang")
    folder = jobdir.job_dir(settings, task)
    if folder.exists():
        shutil.rmtree(folder)
    if job.lease_token is None or job.worker_id is None:
        raise EnvironmentBuildError("submit", "the slurm executor needs the task's lease")
    spec = jobdir.JobSpec(
        task=task,
        lease_token=job.lease_token,
        task_token=job.token,
        worker_id=job.worker_id,
        workdir=job.workdir,
        settings=jobdir.settings_in_clear(settings),
    )
    jobdir.write_spec(folder, spec)
    python = settings.slurm_python or Path(sys.executable)
    (folder / jobdir.SCRIPT).write_text(jobdir.batch_script(settings, task, folder, python))
    return SlurmLaunch(folder, job)


def adopt_jobs(settings: AgentSettings) -> list[Adopted]:
    """This agent's jobs Slurm still lists (by name), to supervise again."""
    try:
        states = commands.squeue_mine()
    except SlurmError as exc:
        log.error("could not list Slurm jobs to re-adopt (they are not supervised): %s", exc)
        return []
    adopted = []
    for state in states.values():
        parsed = jobdir.parse_job_name(state.name, settings.name)
        if parsed is None:
            continue
        folder = settings.work_root / "slurm" / f"{parsed[0]}.{parsed[1]}"
        try:
            spec = jobdir.read_spec(folder)
        except (OSError, ValueError) as exc:
            if not state.ended:
                log.warning("slurm job %s: no readable spec in %s: %s", state.job_id, folder, exc)
            continue
        resume = jobdir.Resume.model_validate(jobdir.read_json(folder / jobdir.RESUME) or {})
        # Counted before the first batch goes out: an agent killed now still moves the next on.
        resume = resume.model_copy(update={"adoptions": resume.adoptions + 1})
        (folder / jobdir.RESUME).write_text(resume.model_dump_json())
        follow = partial(_follow, state.job_id, folder, settings, resume)
        adopted.append(
            Adopted(
                task=spec.task,
                lease_token=spec.lease_token,
                task_token=spec.task_token,
                worker_id=spec.worker_id,
                workdir=spec.workdir,
                follow=follow,
                first_seq=resume.adoptions * _SEQ_PER_AGENT,
            )
        )
        log.info("re-adopting slurm job %s of task %s", state.job_id, spec.task.id)
    return adopted


def _follow(
    job_id: str,
    folder: Path,
    settings: AgentSettings,
    resume: jobdir.Resume,
    note: Note,
    record_installed: RecordInstalled | None,
) -> SlurmJob:
    return SlurmJob(job_id, folder, monitor(settings), note, record_installed, resume)
