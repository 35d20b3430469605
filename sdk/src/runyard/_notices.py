"""What the SDK tells the user while their script runs: each kind of trouble once."""

from __future__ import annotations

import sys
import threading
import warnings


class RunyardWarning(UserWarning):
    """Category of the SDK's warnings, to filter them with the :mod:`warnings` module."""


class Notices:
    """Warnings keyed by kind, each shown at most once per process."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def once(self, key: str, message: str) -> bool:
        """Warn ``message`` unless a warning of kind ``key`` was already shown."""
        with self._lock:
            if key in self._said:
                return False
            self._said.add(key)
        # Attributed to "runyard", not a line of the SDK the user has no use for.
        warnings.warn_explicit(message, RunyardWarning, "runyard", 0)
        return True

    def seen(self, key: str) -> bool:
        """Whether a warning of kind ``key`` was shown."""
        with self._lock:
            return key in self._said

    def unreachable(self, exc: Exception) -> None:
        """The one warning that the server cannot be reached and the script goes on."""
        self.once(
            "unreachable",
            f"{str(exc).rstrip('.')}. The script goes on: metrics and console output are "
            "kept and sent when the server answers again (this warning is shown once)",
        )

    @staticmethod
    def from_server(said: list[str]) -> None:
        """Warn each of the server's ``warnings`` on a reply (e.g. no live worker serves
        the queue a task went to)."""
        for message in said:
            warnings.warn_explicit(message, RunyardWarning, "runyard", 0)

    @staticmethod
    def info(message: str) -> None:
        """A one-line status message on stderr, e.g. where the run is recorded."""
        print(f"runyard: {message}", file=sys.stderr, flush=True)
