"""Child processes that must not outlive the server (embedded Redis, the jobs process)."""

import ctypes
import os
import signal
import sys
from collections.abc import Callable


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux send SIGTERM to the child when the server dies,
    and puts the child in a session of its own.

    Without the first, a server killed with SIGKILL would leave its Redis running on
    the data dir, and the next start would run a second Redis on the same AOF. Without
    the second, a signal to the server's process group (Ctrl-C in a terminal, systemd,
    ``docker stop`` of a shell) would reach Redis and the jobs worker together with the
    server: Redis would exit first and the worker would print connection tracebacks.
    Only the server gets it, and stops the API, the jobs worker and Redis in that order.
    """
    if not sys.platform.startswith("linux"):
        return None

    def prepare_child() -> None:
        os.setsid()
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return prepare_child
