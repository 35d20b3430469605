"""One thread that reads the state of every job the agent supervises, in one call per poll.

Each :class:`~runyard_agent.executors.slurm.job.SlurmJob` registers here; every
``slurm_poll_s`` one ``squeue --me`` lists them all and each job hears its own line
(None when Slurm does not list it). A failed poll (slurmctld busy or restarting) is
logged and tried again at the next interval: jobs keep their last state meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from runyard_agent.executors.slurm import commands
from runyard_agent.executors.slurm.commands import JobState, SlurmError

log = logging.getLogger(__name__)

OnState = Callable[[JobState | None], None]


class SlurmMonitor:
    """Polls Slurm for the jobs registered with :meth:`watch`, on its own thread."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self.polls = 0
        self._watched: dict[str, OnState] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slurm-monitor", daemon=True)
        self._thread.start()

    def watch(self, job_id: str, on_state: OnState) -> None:
        """Call ``on_state`` with the job's state after every poll until :meth:`unwatch`."""
        with self._lock:
            self._watched[job_id] = on_state
        self._wake.set()

    def unwatch(self, job_id: str) -> None:
        """Stop reporting the job."""
        with self._lock:
            self._watched.pop(job_id, None)

    def nudge(self) -> None:
        """Poll now rather than at the next interval (a job was signalled)."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_s)
            self._wake.clear()
            with self._lock:
                watched = dict(self._watched)
            if not watched:
                continue
            try:
                states = commands.squeue_mine()
            except SlurmError as exc:
                log.warning("squeue failed, trying again in %gs: %s", self.poll_s, exc)
                continue
            self.polls += 1
            for job_id, on_state in watched.items():
                try:
                    on_state(states.get(job_id))
                except Exception:
                    # One job's bug must not stop the supervision of the others.
                    log.exception("slurm job %s: handling its state failed", job_id)
