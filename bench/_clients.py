"""Client processes of the dispatch bench (started with multiprocessing "spawn").

``run_claimers``: (a)'s idle long-polling agents, asyncio + one httpx.AsyncClient.
``run_cycler``: one of (b)'s create→enqueue→claim→complete loops, a requests.Session.
Both bound every loop by count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import httpx
import requests
from _harness import claim_body, typical_body, worker_body


def run_claimers(
    api: str,
    count: int,
    queue: str,
    wait_s: float,
    max_runtime_s: float,
    out: Queue[tuple[Any, ...]],
    stop: Event,
) -> None:
    """Register ``count`` workers on ``queue`` and keep each long-polling ``claim``.

    Reports on ``out``: ("ready", n), ("claimed", task_id, t1) the moment a claim
    response with a task arrives, ("done", task_id, status) after it is completed,
    and ("error", text) for any non-2xx answer.
    """
    asyncio.run(_claimers(api, count, queue, wait_s, max_runtime_s, out, stop))


async def _claimers(
    api: str,
    count: int,
    queue: str,
    wait_s: float,
    max_runtime_s: float,
    out: Queue[tuple[Any, ...]],
    stop: Event,
) -> None:
    limits = httpx.Limits(max_connections=count + 8, max_keepalive_connections=count + 8)
    timeout = httpx.Timeout(wait_s + 15.0, connect=10.0)
    deadline = time.monotonic() + max_runtime_s
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=timeout) as client:
        gate = asyncio.Semaphore(16)

        async def register(i: int) -> str:
            async with gate:
                response = await client.post("/workers", json=worker_body(f"claimer-{i}", [queue]))
            response.raise_for_status()
            worker_id: str = response.json()["id"]
            return worker_id

        workers = await asyncio.gather(*(register(i) for i in range(count)))
        body = claim_body([queue], wait_s)
        max_polls = int(max_runtime_s / 0.5) + 10

        async def poll(worker_id: str) -> None:
            for _ in range(max_polls):
                try:
                    response = await client.post(f"/workers/{worker_id}/claim", json=body)
                except httpx.HTTPError as exc:
                    out.put(("error", f"claim: {exc!r}"))
                    await asyncio.sleep(0.5)
                    continue
                t1 = time.perf_counter()
                if response.status_code != 200:
                    out.put(("error", f"claim: HTTP {response.status_code} {response.text[:200]}"))
                    await asyncio.sleep(0.5)
                    continue
                claim = response.json()
                if claim.get("task") is None:
                    continue
                task_id = claim["task"]["id"]
                out.put(("claimed", task_id, t1))
                done = await client.post(
                    f"/tasks/{task_id}/completed", json={"lease_token": claim["lease_token"]}
                )
                out.put(("done", task_id, done.status_code))

        polls = [asyncio.create_task(poll(w)) for w in workers]
        out.put(("ready", len(workers)))
        while not stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, return_exceptions=True)

        async def leave(worker_id: str) -> None:
            async with gate:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(f"/workers/{worker_id}")

        await asyncio.gather(*(leave(w) for w in workers))


def run_cycler(
    api: str,
    index: int,
    queue: str,
    start_at: Any,
    go: Event,
    warmup_s: float,
    duration_s: float,
    out: Queue[tuple[Any, ...]],
) -> None:
    """Full cycles on ``queue`` until the window ends; counts only cycles that end in
    [start + warmup, start + warmup + duration]. Reports ("cycles", index, stats)."""
    session = requests.Session()
    errors: list[str] = []
    try:
        reply = session.post(f"{api}/workers", json=worker_body(f"cycler-{index}", [queue]))
        reply.raise_for_status()
        worker_id = reply.json()["id"]
    except requests.RequestException as exc:
        out.put(("cycles", index, {"error": f"register: {exc!r}"}))
        return
    draft = typical_body(None, index)
    enqueue = {"queue": queue, "create_queue": True}
    claim = claim_body([queue], 0)
    out.put(("ready", index, None))
    if not go.wait(60):
        out.put(("cycles", index, {"error": "never started"}))
        return
    window_start = start_at.value + warmup_s
    window_end = window_start + duration_s
    cycles = requests_done = empty = 0
    cycle_s: list[float] = []
    for _ in range(1_000_000):
        now = time.monotonic()
        if now >= window_end:
            break
        counted = now >= window_start
        t0 = time.perf_counter()
        n, ok, got = _cycle(session, api, worker_id, draft, enqueue, claim, errors)
        if counted and time.monotonic() <= window_end:
            requests_done += n
            if ok:
                cycles += 1
                cycle_s.append(time.perf_counter() - t0)
            elif not got:
                empty += 1
        if len(errors) > 50:
            break
    session.close()
    stats = {
        "cycles": cycles,
        "requests": requests_done,
        "empty_claims": empty,
        "errors": errors[:5],
        "error_count": len(errors),
        "cycle_s": cycle_s,
    }
    out.put(("cycles", index, stats))


def _cycle(
    session: requests.Session,
    api: str,
    worker_id: str,
    draft: dict[str, Any],
    enqueue: dict[str, Any],
    claim: dict[str, Any],
    errors: list[str],
) -> tuple[int, bool, bool]:
    """One create→enqueue→claim→complete; (requests made, completed?, claimed a task?)."""
    steps = 0
    try:
        created = session.post(f"{api}/tasks", json=draft)
        steps += 1
        if created.status_code != 201:
            errors.append(f"create: {created.status_code} {created.text[:200]}")
            return steps, False, False
        task_id = created.json()["id"]
        queued = session.post(f"{api}/tasks/{task_id}/enqueue", json=enqueue)
        steps += 1
        if queued.status_code != 200:
            errors.append(f"enqueue: {queued.status_code} {queued.text[:200]}")
            return steps, False, False
        claimed = session.post(f"{api}/workers/{worker_id}/claim", json=claim)
        steps += 1
        if claimed.status_code != 200:
            errors.append(f"claim: {claimed.status_code} {claimed.text[:200]}")
            return steps, False, False
        got = claimed.json()
        if got.get("task") is None:
            return steps, False, False
        token = {"lease_token": got["lease_token"]}
        done = session.post(f"{api}/tasks/{got['task']['id']}/completed", json=token)
        steps += 1
        if done.status_code != 200:
            errors.append(f"completed: {done.status_code} {done.text[:200]}")
            return steps, False, True
        return steps, True, True
    except requests.RequestException as exc:
        errors.append(repr(exc))
        return steps, False, False
