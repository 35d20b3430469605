"""A task's process tree: started in its own session, stopped as a whole.

Stopping follows the usual contract: SIGTERM to the process group, a grace period
for the script to save a checkpoint, then SIGKILL. On Linux the entry point also dies
with the agent (PDEATHSIG): an agent killed with -9 must not leave a copy of the task
running while the server reruns it elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from runyard_agent.executors.launch import Ending, Flush

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_agent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when its parent thread dies.

    The runner thread that starts the process waits for it, so "parent" means the agent.
    ``prctl`` is looked up here, before the fork: the child only makes the call.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    agent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != agent:  # the agent died before the call took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return set_pdeathsig


class TaskProcess:
    """One running entry point and everything it spawned (one process group)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self._stop_lock = threading.Lock()

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        keep_fds: Sequence[int] = (),
    ) -> TaskProcess:
        """Start ``argv`` in a new session, stdout and stderr piped, stdin closed.

        Never through a shell: arguments come from the task record. ``keep_fds`` stay
        open in the process (a lock it holds for as long as it lives).
        """
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_agent(),
            pass_fds=tuple(keep_fds),
        )
        return cls(popen)

    @property
    def pid(self) -> int:
        """The process id, which is also the process group id."""
        return self._popen.pid

    @property
    def stdout(self) -> IO[bytes]:
        """The task's standard output pipe."""
        assert self._popen.stdout is not None
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes]:
        """The task's standard error pipe."""
        assert self._popen.stderr is not None
        return self._popen.stderr

    @property
    def returncode(self) -> int | None:
        """The exit code once the process was waited for (negative: killed by that signal)."""
        return self._popen.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the main process; its exit code, or None when ``timeout`` passed first.

        When it exits, whatever it left running in its group is killed, so no stray
        child keeps the output pipes (and the GPUs) busy.
        """
        try:
            code = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._signal_group(signal.SIGKILL)
        return code

    def terminate(self, grace_s: float) -> int:
        """SIGTERM the whole group, wait up to ``grace_s``, then SIGKILL it; the exit code."""
        with self._stop_lock:
            if self._popen.poll() is None:
                log.info("sending SIGTERM to process group %d", self.pid)
                self._signal_group(signal.SIGTERM)
                code = self.wait(grace_s)
                if code is not None:
                    return code
                log.warning(
                    "process group %d still running %.0fs after SIGTERM: SIGKILL", self.pid, grace_s
                )
            return self.kill()

    def kill(self) -> int:
        """SIGKILL the whole group at once and reap the main process; the exit code."""
        self._signal_group(signal.SIGKILL)
        code = self.wait()
        assert code is not None
        return code

    @property
    def ending(self) -> Ending | None:
        """Always None: a local process ends by its own exit code."""
        return None

    @property
    def state_detail(self) -> str | None:
        """Always None: a started process runs."""
        return None

    def leave(self, flush: Flush) -> bool:
        """False: a local process cannot outlive the agent."""
        return False

    def _signal_group(self, signum: signal.Signals) -> None:
        # The group may be gone already: nothing left to signal.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL`` for a Popen return code."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name}"
