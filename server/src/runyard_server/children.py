"""Child processes that must not outlive the server (embedded Redis, the jobs process)."""

import ctypes
import signal
import sys
from collections.abc import Callable


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux send SIGTERM to the child when the server dies.

    Without it, a server killed with SIGKILL would leave its Redis running on the
    data dir, and the next start would run a second Redis on the same AOF.
    """
    if not sys.platform.startswith("linux"):
        return None

    def set_pdeathsig() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_pdeathsig
