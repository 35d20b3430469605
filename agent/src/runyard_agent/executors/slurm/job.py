"""A submitted Slurm job, supervised like a local process (:class:`TaskHandle`).

The batched monitor tells it its state after each poll: a pending job writes
``pending in Slurm: <reason>`` into the task's console whenever the reason changes
(and says it as :attr:`SlurmJob.state_detail`, which each heartbeat puts on the task record),
a started one ``running in Slurm``, an ended one reads the exit code the job wrote,
copies the rest of its output and ends. Stopping is ``scancel --signal=TERM``, the
grace, then ``scancel``; a job ended by Slurm itself (time limit, node failure,
preemption, someone's ``scancel``) says how in :attr:`SlurmJob.ending`.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from runyard.models import FailureKind, InstalledPackage
from runyard.models.limits import MAX_STATE_DETAIL_CHARS
from runyard_agent.executors.launch import Ending, Flush
from runyard_agent.executors.slurm import commands, jobdir
from runyard_agent.executors.slurm.commands import JobState
from runyard_agent.executors.slurm.follow import FileFollower
from runyard_agent.executors.slurm.monitor import SlurmMonitor

log = logging.getLogger(__name__)

Note = Callable[[str], None]
RecordInstalled = Callable[[list[InstalledPackage]], object]

_MISSING_POLLS = 3
_END_WAIT_S = 120.0
_KILLED = -9
# Slurm ended these jobs for reasons that are not the task's: the task is run again.
_REQUEUE = {
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "it was preempted",
    "BOOT_FAIL": "its node failed to boot",
}
_FAIL = {
    "TIMEOUT": "it reached its time limit",
    "OUT_OF_MEMORY": "it ran out of memory",
    "DEADLINE": "it reached its deadline",
}


class SlurmJob:
    """One job of one task; the monitor calls :meth:`on_state` after each poll."""

    def __init__(
        self,
        job_id: str,
        folder: Path,
        monitor: SlurmMonitor,
        note: Note,
        record_installed: RecordInstalled | None,
        resume: jobdir.Resume | None = None,
    ) -> None:
        self.job_id = job_id
        self.folder = folder
        self.monitor = monitor
        self.note = note
        self.record_installed = record_installed
        self._resume = resume or jobdir.Resume()
        offsets = self._resume.offsets
        self._out = FileFollower(folder / jobdir.STDOUT, offsets.get(jobdir.STDOUT, 0))
        self._err = FileFollower(folder / jobdir.STDERR, offsets.get(jobdir.STDERR, 0))
        self._notes_at = offsets.get(jobdir.NOTES, 0)
        self._installed_sent = offsets.get(jobdir.INSTALLED, 0) > 0
        self._returncode: int | None = None
        self._ending: Ending | None = None
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._cancelled = False
        self._running = False
        self._reason = ""
        self._pending: str | None = None
        self._missing = 0
        monitor.watch(job_id, self.on_state)

    @property
    def pid(self) -> int:
        """The Slurm job id (in the agent's log lines)."""
        return int(self.job_id)

    @property
    def stdout(self) -> IO[bytes]:
        """The job's standard output, followed on the shared filesystem."""
        return self._out.read_end

    @property
    def stderr(self) -> IO[bytes]:
        """The job's standard error, followed on the shared filesystem."""
        return self._err.read_end

    @property
    def returncode(self) -> int | None:
        """The entry point's exit code once the job ended (-9 when Slurm killed it first)."""
        return self._returncode

    @property
    def ending(self) -> Ending | None:
        """How Slurm ended the job, when it was not the entry point's own exit."""
        return self._ending

    @property
    def state_detail(self) -> str | None:
        """``pending in Slurm: <reason> (job N)`` while Slurm holds the job back, else None."""
        return None if self._ended.is_set() else self._pending

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the job to end; its exit code, or None when ``timeout`` passed first."""
        self._ended.wait(timeout)
        return self._returncode

    def terminate(self, grace_s: float) -> int:
        """``scancel --signal=TERM``, up to ``grace_s`` to end, then ``scancel``; the exit
        code once Slurm says the job ended."""
        self._cancelled = True
        if self._running:
            log.info("slurm job %s: SIGTERM, cancelled after %gs", self.job_id, grace_s)
            commands.scancel(self.job_id, "TERM")
            self.monitor.nudge()
            code = self.wait(grace_s)
            if code is not None:
                return code
        commands.scancel(self.job_id)
        self.monitor.nudge()
        code = self.wait(_END_WAIT_S)
        if code is None:
            log.error("slurm job %s did not end %gs after scancel", self.job_id, _END_WAIT_S)
            return _KILLED
        return code

    def kill(self) -> int:
        """``scancel`` the job now, without waiting for Slurm to confirm: its lease is
        gone and nothing more of it is reported (the heartbeat thread calls this)."""
        self._cancelled = True
        commands.scancel(self.job_id)
        self.monitor.nudge()
        return self._returncode if self._returncode is not None else _KILLED

    def leave(self, flush: Flush) -> bool:
        """Stop following the job; it runs on, for the next agent to re-adopt (by its name)."""
        self.monitor.unwatch(self.job_id)
        self._out.stop()
        self._err.stop()
        if flush():
            offsets = {
                jobdir.STDOUT: self._out.offset,
                jobdir.STDERR: self._err.offset,
                jobdir.NOTES: self._notes_at,
                jobdir.INSTALLED: int(self._installed_sent),
            }
            self._resume = self._resume.model_copy(update={"offsets": offsets})
        else:
            log.warning(
                "slurm job %s: its output was not all delivered; the next agent sends it "
                "again from where this one started", self.job_id,
            )  # fmt: skip
        (self.folder / jobdir.RESUME).write_text(self._resume.model_dump_json())
        self._ended.set()
        return True

    def on_state(self, state: JobState | None) -> None:
        """The job's line of the latest poll (None: Slurm does not list it)."""
        if state is None:
            self._missing += 1
            if self._missing >= _MISSING_POLLS:
                self._end(None)
            return
        self._missing = 0
        if state.ended:
            self._end(state)
            return
        if state.state == "PENDING" and state.reason != self._reason:
            self._reason = state.reason
            pending = f"pending in Slurm: {state.reason} (job {self.job_id})"
            self.note(pending)
            # A reason may list many nodes (ReqNodeNotAvail, UnavailableNodes:...).
            self._pending = pending[:MAX_STATE_DETAIL_CHARS]
        elif state.state == "RUNNING" and not self._running:
            self._running = True
            self._pending = None
            self._out.start()
            self._err.start()
            self.note(f"running in Slurm: job {self.job_id} on {state.nodes}")
        if self._running:
            # Only a started job builds its environment: a pending one costs no file reads.
            self._read_notes()
            self._send_installed()

    def _end(self, state: JobState | None) -> None:
        with self._lock:
            if self._ended.is_set():
                return
            self.monitor.unwatch(self.job_id)
            code = _exit_code(self.folder)
            failed = jobdir.read_json(self.folder / jobdir.FAILED)
            self._ending = ending_for(self.job_id, state, code, failed, cancelled=self._cancelled)
            self._out.finish()
            self._err.finish()
            self._read_notes()
            self._send_installed()
            self._returncode = code if code is not None else _KILLED
            shutil.rmtree(self.folder, ignore_errors=True)
            self._ended.set()

    def _read_notes(self) -> None:
        try:
            with (self.folder / jobdir.NOTES).open("rb") as notes:
                notes.seek(self._notes_at)
                data = notes.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self._notes_at += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            self.note(line)

    def _send_installed(self) -> None:
        if self._installed_sent or self.record_installed is None:
            return
        listed = jobdir.read_json(self.folder / jobdir.INSTALLED)
        if listed is not None:
            self._installed_sent = True
            self.record_installed([InstalledPackage.model_validate(p) for p in listed])


def _exit_code(folder: Path) -> int | None:
    try:
        return int((folder / jobdir.EXIT_CODE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def ending_for(
    job_id: str,
    state: JobState | None,
    code: int | None,
    failed: dict[str, str] | None,
    *,
    cancelled: bool,
) -> Ending | None:
    """What to report for a job that ended in ``state`` (None: Slurm forgot it)."""
    if failed is not None:
        return Ending(f"{failed['stage']}: {failed['message']}", kind=FailureKind.ENVIRONMENT)
    if state is None:
        if code is not None:
            return None
        return Ending(f"Slurm no longer lists job {job_id} and it left no exit code")
    name, reason = state.state, "" if state.reason in ("", "None") else f", {state.reason}"
    if name in _REQUEUE:
        why = f"Slurm ended job {job_id}: {_REQUEUE[name]} ({name}{reason})"
        return Ending(f"{why}; the task goes back to its queue", requeue=True)
    if name in _FAIL:
        return Ending(f"Slurm ended job {job_id}: {_FAIL[name]} ({name}{reason})")
    if name == "CANCELLED" and not cancelled:
        return Ending(f"job {job_id} was cancelled in Slurm from outside Runyard (scancel)")
    if code is None and not cancelled:
        return Ending(
            f"Slurm job {job_id} ended ({name}{reason}) before the task's process did; "
            "see its stderr"
        )
    return None
