"""A loop on its own daemon thread that can be woken early and stopped (the heartbeat,
the stop watch)."""

from __future__ import annotations

import threading


class ThreadLoop:
    """Runs :meth:`_run` on a daemon thread from :meth:`start`; :meth:`nudge` sets
    ``_wake`` (the loop waits on it between rounds), :meth:`stop` sets ``_stop`` too."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (the thread ends after the request in flight, if any)."""
        self._stop.set()
        self._wake.set()

    def nudge(self) -> None:
        """Wake the loop now rather than at its next round."""
        self._wake.set()

    def _run(self) -> None:
        raise NotImplementedError
