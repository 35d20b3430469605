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
    batch: int = 0,
) -> None:
    """Full cycles on ``queue`` until the window ends; counts only cycles that end in
    [start + warmup, start + warmup + duration]. Reports ("cycles", index, stats).

    ``batch`` 0: the four-request protocol, create → claim → started → completed. Else
    tasks are created ``batch`` at a time (``POST /tasks:batch``) and each completed
    report rides on the next claim (``ended``).
    """
    session = requests.Session()
    errors: list[str] = []
    try:
        reply = session.post(f"{api}/workers", json=worker_body(f"cycler-{index}", [queue]))
        reply.raise_for_status()
        worker_id = reply.json()["id"]
    except requests.RequestException as exc:
        out.put(("cycles", index, {"error": f"register: {exc!r}"}))
        return
    out.put(("ready", index, None))
    if not go.wait(60):
        out.put(("cycles", index, {"error": "never started"}))
        return
    window = (start_at.value + warmup_s, start_at.value + warmup_s + duration_s)
    create = typical_body(queue, index)
    cycler = _BatchCycler(session, api, worker_id, queue, index, batch) if batch else None
    cycles = requests_done = empty = 0
    cycle_s: list[float] = []
    for _ in range(1_000_000):
        now = time.monotonic()
        if now >= window[1]:
            break
        counted = now >= window[0]
        t0 = time.perf_counter()
        if cycler is not None:
            n, done, got = cycler.step(errors)
        else:
            n, ok, got = _cycle(session, api, worker_id, create, errors)
            done = int(ok)
        if counted and time.monotonic() <= window[1]:
            requests_done += n
            cycles += done
            if cycler is None and done:
                cycle_s.append(time.perf_counter() - t0)
            elif not got:
                empty += 1
        if len(errors) > 50:
            break
    if cycler is not None:
        cycler.finish(errors)
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


def _post(
    session: requests.Session, url: str, body: Any, want: int, what: str, errors: list[str]
) -> Any:
    """The JSON answer when the status is ``want``, else None with the error noted."""
    try:
        response = session.post(url, json=body)
    except requests.RequestException as exc:
        errors.append(f"{what}: {exc!r}")
        return None
    if response.status_code != want:
        errors.append(f"{what}: {response.status_code} {response.text[:200]}")
        return None
    return response.json()


def _cycle(
    session: requests.Session,
    api: str,
    worker_id: str,
    create: dict[str, Any],
    errors: list[str],
) -> tuple[int, bool, bool]:
    """One create → claim → started → completed; (requests made, completed?, claimed?)."""
    if _post(session, f"{api}/tasks", create, 201, "create", errors) is None:
        return 1, False, False
    claim = CLAIM[create["queue"]]
    claimed = _post(session, f"{api}/workers/{worker_id}/claim", claim, 200, "claim", errors)
    if claimed is None or claimed.get("task") is None:
        return 2, False, False
    url = f"{api}/tasks/{claimed['task']['id']}"
    token = {"lease_token": claimed["lease_token"]}
    if _post(session, f"{url}/started", token, 200, "started", errors) is None:
        return 3, False, True
    done = _post(session, f"{url}/completed", token, 200, "completed", errors)
    return 4, done is not None, True


class _ClaimBodies(dict[str, dict[str, Any]]):
    def __missing__(self, queue: str) -> dict[str, Any]:
        self[queue] = claim_body([queue], 0)
        return self[queue]


CLAIM = _ClaimBodies()


class _BatchCycler:
    """Claims carrying the previous task's completed report; a batch create when the
    queue is empty. A cycle counts when its completed report is taken."""

    def __init__(
        self,
        session: requests.Session,
        api: str,
        worker_id: str,
        queue: str,
        index: int,
        batch: int,
    ) -> None:
        self.session, self.api, self.queue = session, api, queue
        self.claim_url = f"{api}/workers/{worker_id}/claim"
        self.tasks = {"tasks": [typical_body(queue, index * 100_000 + i) for i in range(batch)]}
        self.ended: list[dict[str, Any]] = []

    def step(self, errors: list[str]) -> tuple[int, int, bool]:
        """One claim (and a batch create when it found nothing): (requests, cycles, got)."""
        body = {**CLAIM[self.queue], "ended": self.ended}
        claimed = _post(self.session, self.claim_url, body, 200, "claim", errors)
        if claimed is None:
            return 1, 0, False
        done = len(self.ended) - len(claimed.get("refused", []))
        self.ended = []
        if claimed.get("task") is not None:
            task = claimed["task"]
            report = {"task_id": task["id"], "lease_token": claimed["lease_token"]}
            self.ended = [{**report, "status": "completed", "exit_code": 0}]
            return 1, done, True
        _post(self.session, f"{self.api}/tasks:batch", self.tasks, 201, "batch", errors)
        return 2, done, False

    def finish(self, errors: list[str]) -> None:
        """Report the last task held (outside the window)."""
        for report in self.ended:
            url = f"{self.api}/tasks/{report['task_id']}/completed"
            token = {"lease_token": report["lease_token"]}
            _post(self.session, url, token, 200, "completed", errors)
