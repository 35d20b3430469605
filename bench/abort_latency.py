"""Abort latency bench: from a user's abort to the task's SIGTERM, with the default lease.

    .venv/bin/python bench/abort_latency.py [--quick] [--out PATH]

Starts its own embedded Redis, a ``runyard-server`` with the default 30 s lease (agents
heartbeat every 10 s) and one real ``runyard-agent``, then N times: runs a task that
writes the time it gets SIGTERM, waits a random 0 to 1 s once it runs (so aborts fall at
any point between heartbeats), aborts it over HTTP and reads when the signal came.
Before the stop watch (``store/stops.py``) the agent heard of an abort only at its
next heartbeat: up to 10 s, about 5 s on average. Writes JSON (default
bench/results/abort_latency.json).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _agent_procs import Agent, make_repo, submit, wait_final
from _harness import bench_main, check, log, running_stack, summary_ms
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
TARGETS: list[tuple[str, str, float, str]] = [
    ("abort → SIGTERM p50 (ms)", "latency_ms.p50", 500.0, "le"),
    ("abort → SIGTERM p99 (ms)", "latency_ms.p99", 1500.0, "le"),
]


def _wait_mark(mark: Path, ready: bool, timeout: float = 60.0) -> str:
    """The mark's text once the task wrote "ready" (``ready``) or its SIGTERM time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = mark.read_text() if mark.exists() else ""
        if (text == "ready") if ready else (text not in ("", "ready")):
            return text
        time.sleep(0.005)
    raise TimeoutError(f"{mark}: still {mark.read_text() if mark.exists() else 'absent'!r}")


def run(quick: bool) -> dict[str, Any]:
    aborts = 5 if quick else 20
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="runyard-bench-abort-") as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        with running_stack(root) as stack:
            server = f"http://127.0.0.1:{stack.port}"
            agent = Agent(server, root, "abort-bench", "--queue", "bench", "--cpu-only")
            try:
                for i in range(aborts):
                    mark = root / f"mark{i}"
                    task_id, _ = submit(
                        stack.api, repo, "termed.py", "bench", [], f"abort{i}", [str(mark)]
                    )
                    _wait_mark(mark, ready=True)
                    time.sleep(random.uniform(0, 1))
                    asked = time.time()
                    url = f"{stack.api}/tasks/{task_id}/abort"
                    check(requests.post(url, timeout=30), "abort")
                    samples.append(float(_wait_mark(mark, ready=False)) - asked)
                    status = wait_final(stack.api, task_id, 60)["status"]
                    if status != "aborted":
                        raise RuntimeError(f"task {task_id} ended {status}, not aborted")
                    log(f"abort {i + 1}/{aborts}: {samples[-1] * 1e3:.0f} ms")
            finally:
                agent.stop()
    return {"aborts": aborts, "lease_s": 30.0, "latency_ms": summary_ms(samples)}


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    ms = results["latency_ms"]
    lines = [
        f"abort → SIGTERM over {results['aborts']} aborts, {results['lease_s']:g} s lease:",
        f"  p50 {ms['p50']:.0f} ms   p99 {ms['p99']:.0f} ms   max {ms['max']:.0f} ms",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "abort_latency.json",
        quick_help="5 aborts instead of 20",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
