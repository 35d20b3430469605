"""Abort latency bench: from a user's abort to the task's SIGTERM, with the default lease.

    .venv/bin/python bench/abort_latency.py [--quick] [--out PATH]

Starts its own embedded Redis, a ``runyard-server`` with the default 30 s lease (agents
heartbeat every 10 s) and one real ``runyard-agent``, then N times: runs a task that
writes the time it gets SIGTERM, waits a random 0 to 1 s once it runs (so aborts fall at
any point between heartbeats), aborts it over HTTP and reads when the signal came.
Before the stop watch (``store/stops.py``) the agent heard of an abort only at its
next heartbeat: up to 10 s, about 5 s on average.

Then, on a fresh stack, W workers each claim a task and hold a stop watch on it (one
connection each, from this process): abort → answer of one watch while the others
wait, none of which may answer early. Writes JSON (default
bench/results/abort_latency.json).
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _agent_procs import Agent, make_repo, submit, wait_final
from _harness import bench_main, check, claim_body, log, running_stack, summary_ms, typical_body
from _pollers import REGISTER_CONNECTIONS, Connection, _register
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
TARGETS: list[tuple[str, str, float, str]] = [
    ("abort → SIGTERM p50 (ms)", "latency_ms.p50", 500.0, "le"),
    ("abort → SIGTERM p99 (ms)", "latency_ms.p99", 1500.0, "le"),
    ("abort → its watch answered (ms), others held", "watches.abort_to_answer_ms", 100.0, "le"),
    ("other watches answered early", "watches.answered_early", 0.0, "le"),
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


async def _lanes(count: int, host: str, port: int, each: Any) -> None:
    """``each(connection, i)`` for i below ``count``, over a few connections."""

    async def lane(first: int) -> None:
        connection = await Connection.open(host, port)
        try:
            for i in range(first, count, REGISTER_CONNECTIONS):
                await each(connection, i)
        finally:
            connection.close()

    await asyncio.gather(*(lane(n) for n in range(REGISTER_CONNECTIONS)))


async def _watches(api: str, count: int) -> dict[str, Any]:
    parts = urlsplit(api)
    host, port, prefix = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    workers = await _register(host, port, prefix, count, "watch")
    held: list[dict[str, str]] = [{} for _ in workers]

    async def create_and_claim(connection: Connection, i: int) -> None:
        status, _ = await connection.post(f"{prefix}/tasks", typical_body("watch", i))
        assert status == 201, status
        path = f"{prefix}/workers/{workers[i]}/claim"
        status, claim = await connection.post(path, claim_body(["watch"], 0))
        assert status == 200 and claim["task"] is not None, (status, claim)
        held[i] = {"task_id": claim["task"]["id"], "lease_token": claim["lease_token"]}

    await _lanes(count, host, port, create_and_claim)
    connections: list[Connection] = []
    watches: list[asyncio.Task[tuple[int, Any]]] = []
    opened = time.perf_counter()
    for worker, task in zip(workers, held, strict=True):
        connection = await Connection.open(host, port)
        body = {"running": [task], "wait_s": 30}
        path = f"{prefix}/workers/{worker}/stops"
        watches.append(asyncio.create_task(connection.post(path, body)))
        connections.append(connection)
    await asyncio.sleep(5)  # every watch sent, read once and held
    log(f"{count} watches held {time.perf_counter() - opened:.1f} s after the first was sent")
    aborter = await Connection.open(host, port)
    asked = time.perf_counter()
    await aborter.post(f"{prefix}/tasks/{held[0]['task_id']}/abort", {})
    replied_ms = (time.perf_counter() - asked) * 1e3
    status, news = await watches[0]
    answered_ms = (time.perf_counter() - asked) * 1e3
    assert status == 200 and news["abort"] == [held[0]["task_id"]], (status, news)
    early = sum(watch.done() for watch in watches[1:])
    for watch in watches:
        watch.cancel()
    await asyncio.gather(*watches, return_exceptions=True)
    for connection in [aborter, *connections]:
        connection.close()
    return {
        "count": count,
        "abort_to_answer_ms": round(answered_ms, 1),
        "abort_reply_ms": round(replied_ms, 1),
        "answered_early": early,
    }


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
    count = 200 if quick else 1000
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-watches-") as tmp,
        # No agent heartbeats here: leases long enough to outlast the set-up.
        running_stack(Path(tmp), ("--lease", "600", "--first-lease", "600")) as stack,
    ):
        log(f"{count} held stop watches")
        watches = asyncio.run(_watches(stack.api, count))
    return {
        "aborts": aborts,
        "lease_s": 30.0,
        "latency_ms": summary_ms(samples),
        "watches": watches,
    }


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    ms, w = results["latency_ms"], results["watches"]
    lines = [
        f"abort → SIGTERM over {results['aborts']} aborts, {results['lease_s']:g} s lease:",
        f"  p50 {ms['p50']:.0f} ms   p99 {ms['p99']:.0f} ms   max {ms['max']:.0f} ms",
        f"{w['count']} held stop watches: "
        f"one answered {w['abort_to_answer_ms']} ms after its abort was sent "
        f"(the abort's own reply: {w['abort_reply_ms']} ms) "
        f"({w['answered_early']} others answered early)",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "abort_latency.json",
        quick_help="5 aborts and 200 watches instead of 20 and 1,000",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
