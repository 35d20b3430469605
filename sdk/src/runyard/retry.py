"""How long a retry loop waits after a failure: exponential backoff with full jitter.

Every retry loop of the SDK and the agent (the HTTP transport, registration, claims,
heartbeats, reports, log shipping, a local run's metrics) waits by this one rule. After the
``n``-th failure in a row (``n`` from 0) a loop waits a time drawn uniformly from
``[0, min(cap_s, base_s * 2**n)]``: AWS's "full jitter"
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). The
ceiling grows while an outage lasts, and the draw spreads the clients that failed
together over the whole window, so when a server comes back its 200 agents return
one by one instead of in one wave. (A doubling delay without jitter keeps them in
lockstep for good: they all failed at the same moment and all wait the same time.)

One backoff per loop: a loop that retries by itself sends each attempt with the
transport's ``retries=0`` (see :mod:`runyard.client._http`). Transport retries nested
under it would start again from the shortest wait at each call of the loop, which
brings agents that lost the server together back within the first second.

Why not ``tenacity`` or ``backoff``: these loops are not "call f until it works".
Each waits on its own ``threading.Event`` (a drain or stop cuts the wait short),
treats each failure differently (a stale lease, a refused token), logs the wait it
chose and, for heartbeats, keeps going after a success. What they share is the
delay rule, these few lines; a dependency for it would sit in the import path of
every task that imports the SDK.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Uniform = Callable[[float, float], float]
"""Draws a float from ``[low, high]``; ``random.uniform`` or a seeded ``Random().uniform``."""


def full_jitter(failures: int, base_s: float, cap_s: float, uniform: Uniform) -> float:
    """The wait after ``failures`` + 1 failures in a row: uniform in ``[0, ceiling]``."""
    return uniform(0.0, ceiling(failures, base_s, cap_s))


def ceiling(failures: int, base_s: float, cap_s: float) -> float:
    """The longest wait after ``failures`` + 1 failures in a row: ``min(cap, base * 2**n)``."""
    # The exponent is bounded so a loop failing for days never overflows a float.
    return min(cap_s, base_s * 2.0 ** min(failures, 64))


class Backoff:
    """The waits of one retry loop: :meth:`next` after each failure, :meth:`reset` after
    a success. ``cap_s`` may change between failures (a heartbeat learns its interval).

    ``uniform`` is injectable so tests can make the draws known.
    """

    def __init__(self, base_s: float, cap_s: float, uniform: Uniform = random.uniform) -> None:
        if base_s < 0 or cap_s < base_s:
            raise ValueError(f"backoff needs 0 <= base_s <= cap_s, not {base_s} and {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._uniform = uniform

    def next(self) -> float:
        """Count one more failure; the seconds to wait before the next attempt."""
        wait = full_jitter(self.failures, self.base_s, self.cap_s, self._uniform)
        self.failures += 1
        return wait

    def reset(self) -> None:
        """An attempt succeeded: the next failure waits at most ``base_s`` again."""
        self.failures = 0
