"""How a local run's script ends: normally, ``sys.exit(code)``, an exception, Ctrl-C, SIGTERM.

Python gives an ``atexit`` handler no exit status, so the run learns it on the way
out: ``sys.excepthook`` sees an uncaught exception, a wrapped ``sys.exit`` sees its
code, and SIGTERM (when nobody else handles it) becomes ``SystemExit`` so ``atexit``
still runs. A ``raise SystemExit(n)`` written out by hand is not seen and counts as
a normal end.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, NoReturn

from runyard.models import TaskStatus
from runyard.models.limits import MAX_REASON_CHARS

_REASON_LINES = 30


@dataclass(frozen=True)
class Outcome:
    """The end to report: status, exit code and, for a failure, why."""

    status: TaskStatus
    exit_code: int | None = 0
    reason: str | None = None


class ExitWatch:
    """Installs the hooks that tell how the script ended; :meth:`outcome` reads them."""

    def __init__(self) -> None:
        self._error: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
        self._code: Any = None
        self._signal: int | None = None
        self._previous_hook = sys.excepthook
        self._previous_exit = sys.exit

    def install(self) -> None:
        """Chain ``sys.excepthook``, wrap ``sys.exit`` and, if unhandled, catch SIGTERM."""
        self._previous_hook = sys.excepthook
        self._previous_exit = sys.exit
        sys.excepthook = self._excepthook
        sys.exit = self._exit
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, self._terminate)

    def outcome(self) -> Outcome:
        """How the script ended, as far as the hooks saw."""
        if self._signal is not None:
            return Outcome(
                TaskStatus.ABORTED, 128 + self._signal, f"stopped by signal {self._signal}"
            )
        if self._error is not None:
            return raised(*self._error)
        return exited(self._code)

    def _excepthook(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        self._error = (kind, value, tb)
        self._previous_hook(kind, value, tb)

    def _exit(self, code: Any = None) -> NoReturn:
        self._code = code
        self._previous_exit(code)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum
        raise SystemExit(128 + signum)


def raised(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> Outcome:
    """The outcome of a script (or a Hydra job) that raised ``value``."""
    if issubclass(kind, KeyboardInterrupt):
        return Outcome(TaskStatus.ABORTED, 130, "interrupted (KeyboardInterrupt)")
    if issubclass(kind, SystemExit):
        return exited(value.code if isinstance(value, SystemExit) else None)
    return Outcome(TaskStatus.FAILED, 1, _last_lines(kind, value, tb))


def exited(code: Any) -> Outcome:
    """The outcome of ``sys.exit(code)`` (or of a normal end: code None)."""
    if code is None or code == 0:
        return Outcome(TaskStatus.COMPLETED, 0)
    if isinstance(code, int):
        return Outcome(TaskStatus.FAILED, code, f"the script exited with code {code}")
    return Outcome(TaskStatus.FAILED, 1, str(code)[:MAX_REASON_CHARS] or "sys.exit with a message")


def _last_lines(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> str:
    lines = "".join(traceback.format_exception(kind, value, tb)).rstrip().splitlines()
    return "\n".join(lines[-_REASON_LINES:])[-MAX_REASON_CHARS:]
