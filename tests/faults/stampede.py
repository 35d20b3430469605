"""Hundreds of agents and one server outage: when does each come back? (issue 16)

The agents are real :class:`runyard_agent.worker.Agent` objects (their claim,
heartbeat and registration loops and the SDK transport under them, all waiting by
:mod:`runyard.retry`), each on its own threads with its own ``Client``, in this
process. They reach the server through an :class:`OutageProxy`, whose port closes for
the outage (new connections refused, open ones reset) and then listens again. Each
agent's HTTP session notes the time of every request it sends; the first one sent
after the port listens again is that agent's reconnection. Used by
``tests/faults/test_reconnect_spread.py`` and ``bench/reconnect.py``.
"""

import bisect
import logging
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.client import Client
from runyard_agent.config import AgentSettings
from runyard_agent.resources import Machine
from runyard_agent.worker import Agent
from tests.faults.proxy import OutageProxy

QUEUE = "stampede"
_AGENT_THREADS = {"poll", "heartbeat"}


@dataclass(frozen=True)
class Outcome:
    """Seconds from the end of the outage to each agent's first request after it."""

    outage_s: float
    offsets: list[float]
    agents: int

    def quantile(self, q: float) -> float:
        ordered = sorted(self.offsets)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def busiest(self, width_s: float) -> int:
        """The most first requests that fell in any ``width_s`` window."""
        ordered = sorted(self.offsets)
        return max(
            (bisect.bisect_right(ordered, t + width_s) - i for i, t in enumerate(ordered)),
            default=0,
        )

    def histogram(self, bucket_s: float = 1.0) -> list[tuple[float, int]]:
        """(bucket start, count) over every bucket up to the last reconnection."""
        if not self.offsets:
            return []
        counts = [0] * (int(max(self.offsets) // bucket_s) + 1)
        for offset in self.offsets:
            counts[int(offset // bucket_s)] += 1
        return [(i * bucket_s, n) for i, n in enumerate(counts)]

    def summary(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "reconnected": len(self.offsets),
            "outage_s": self.outage_s,
            "p10_s": round(self.quantile(0.1), 2),
            "median_s": round(statistics.median(self.offsets), 2),
            "p90_s": round(self.quantile(0.9), 2),
            "max_s": round(max(self.offsets), 2),
            "busiest_100ms": self.busiest(0.1),
            "per_second": [count for _, count in self.histogram()],
        }

    def render(self) -> str:
        """The histogram as text, one row per second after the outage."""
        rows = [
            f"{len(self.offsets)} of {self.agents} agents reconnected after a {self.outage_s:g} s "
            f"outage; first request after it: p10 {self.quantile(0.1):.2f} s, median "
            f"{statistics.median(self.offsets):.2f} s, p90 {self.quantile(0.9):.2f} s, max "
            f"{max(self.offsets):.2f} s; busiest 100 ms: {self.busiest(0.1)} agents"
        ]
        for start, count in self.histogram():
            rows.append(f"  {start:5.0f}-{start + 1:<3.0f}s {count:4d} {'#' * count}")
        return "\n".join(rows)


class _Timed:
    """Notes when each request leaves one agent's session (called from several threads)."""

    def __init__(self, send: Callable[..., Any]) -> None:
        self.send = send
        self.times: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.times.append(time.monotonic())
        return self.send(*args, **kwargs)

    def first_after(self, moment: float) -> float | None:
        later = [t for t in list(self.times) if t >= moment]
        return min(later) - moment if later else None


@contextmanager
def _agents(server: str, count: int, root: Path) -> Iterator[list[tuple[Agent, _Timed]]]:
    machine = Machine(gpus=(), cpus=1.0, memory_gb=1.0, cuda=None)
    started: list[tuple[Agent, _Timed, threading.Thread]] = []
    try:
        for i in range(count):
            settings = AgentSettings(
                server=server,
                queues=[QUEUE],
                name=f"sim-{i:03d}",
                cpu_only=True,
                poll_wait_s=5,
                cache_dir=root / "cache",
                torch_backend="cpu",
            )
            client = Client(server, None)
            timed = _Timed(client._http._session.request)
            client._http._session.request = timed  # type: ignore[method-assign]
            agent = Agent(settings, client, machine, base_env={})
            thread = threading.Thread(target=agent.run, name=f"agent-{i}", daemon=True)
            thread.start()
            started.append((agent, timed, thread))
        yield [(agent, timed) for agent, timed, _ in started]
    finally:
        for agent, _, _ in started:
            agent.on_signal()
            agent.on_signal()  # the second: stop now, do not wait for the long-poll
        for _, _, thread in started:
            thread.join(30)
        # Their claim and heartbeat threads end after the call in flight: wait, so none
        # is left retrying (and logging) once the proxy is gone.
        for thread in threading.enumerate():
            if thread.name in _AGENT_THREADS:
                thread.join(30)
        for agent, _, _ in started:
            agent.client.close()


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def reconnect_after_outage(
    target_port: int, root: Path, *, agents: int = 200, outage_s: float = 10.0
) -> Outcome:
    """Start ``agents`` agents on the server at ``target_port`` (behind a proxy), close
    the proxy's port for ``outage_s``, and time each agent's first request after."""
    # Hundreds of agents each warn about every failed claim and heartbeat: only errors.
    quiet = logging.getLogger("runyard_agent")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with OutageProxy(target_port) as proxy, _agents(proxy.url, agents, root) as running:
            _wait(lambda: all(agent.worker_id for agent, _ in running), 120, "registrations")
            time.sleep(3)  # long-polls and heartbeats in flight, as in a steady state
            proxy.close_port()
            time.sleep(outage_s)
            restored = proxy.open_port()
            _wait(lambda: all(timed.first_after(restored) is not None for _, timed in running),
                  60, "every agent's first request after the outage")  # fmt: skip
            firsts = [timed.first_after(restored) for _, timed in running]
    finally:
        quiet.setLevel(level)
    return Outcome(outage_s, [f for f in firsts if f is not None], agents)
