"""Request CPU bench: what the API's hot routes cost in CPU, in process, without a network.

    .venv/bin/python bench/request_cpu.py [--cycles N]

Starts an embedded Redis and the app (``create_app``) on uvloop, and calls it as ASGI:
no HTTP parsing, no sockets, so what is left is this project's part of a request
(middleware, FastAPI, models, the store and redis-py). It runs ``--cycles`` times the
agent protocol create → claim → started → completed and ``POST /tasks:batch`` of 100
tasks, and prints the CPU µs (``time.process_time``: thread pools included) of each
request: the mean of the cheapest block of 25, which holds still on a machine busy with
other work where rates and wall times do not. Then each middleware's µs over a trivial
app. To compare two trees, run it in each (or here with ``PYTHONPATH=OTHER/server/src``
putting another tree's server first, if that tree has ``api.edge``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import claim_body, typical_body, worker_body

from runyard.models import API_PREFIX
from runyard_server.api.body_limit import BodyLimitMiddleware
from runyard_server.api.edge import EdgeMiddleware
from runyard_server.api.long_poll import LongPollMiddleware
from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.main import create_app

BLOCK = 25
HEADERS = [
    (b"host", b"localhost:8008"),
    (b"user-agent", b"python-requests/2.32"),
    (b"accept", b"*/*"),
    (b"content-type", b"application/json"),
]

App = Callable[..., Awaitable[None]]


async def call(app: App, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request to ``app``; its status and JSON answer."""
    raw = b"" if body is None else json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": API_PREFIX + path,
        "raw_path": (API_PREFIX + path).encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*HEADERS, (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    out: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await app(scope, receive, send)
    answer = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
    return out[0]["status"], json.loads(answer) if answer else None


def cheapest_block_us(samples: list[float]) -> float:
    """The mean of the cheapest block of ``BLOCK`` consecutive samples, in µs."""
    blocks = range(0, len(samples) - BLOCK + 1, BLOCK)
    return min(statistics.fmean(samples[i : i + BLOCK]) for i in blocks) * 1e6


async def routes(app: App, cycles: int) -> dict[str, float]:
    _, worker = await call(app, "POST", "/workers", worker_body("bench", ["q"]))
    create, claim = typical_body("q"), claim_body(["q"], 0)
    cpu: dict[str, list[float]] = {"create": [], "claim": [], "started": [], "completed": []}

    async def timed(route: str, method: str, path: str, body: Any, want: int) -> Any:
        began = time.process_time()
        status, answer = await call(app, method, path, body)
        cpu[route].append(time.process_time() - began)
        if status != want:
            raise RuntimeError(f"{route}: HTTP {status} {answer}")
        return answer

    for _ in range(cycles + 2 * BLOCK):  # the first two blocks warm up
        await timed("create", "POST", "/tasks", create, 201)
        got = await timed("claim", "POST", f"/workers/{worker['id']}/claim", claim, 200)
        token = {"lease_token": got["lease_token"]}
        await timed("started", "POST", f"/tasks/{got['task']['id']}/started", token, 200)
        await timed("completed", "POST", f"/tasks/{got['task']['id']}/completed", token, 200)
    result = {route: cheapest_block_us(samples[2 * BLOCK :]) for route, samples in cpu.items()}
    batch = {"tasks": [typical_body("b", i) for i in range(100)]}
    spent = []
    for _ in range(12):
        began = time.process_time()
        status, answer = await call(app, "POST", "/tasks:batch", batch)
        spent.append(time.process_time() - began)
        if status != 201:
            raise RuntimeError(f"batch: HTTP {status} {answer}")
    result["batch, per task"] = statistics.median(spent[2:]) / 100 * 1e6
    return result


async def middleware(settings: Settings) -> dict[str, float]:
    """µs each middleware adds to a POST that is not a claim, over a trivial app."""

    async def trivial(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    class State:
        dispatcher = None

    class Owner:
        state = State()

    async def cost(app: App, n: int = 20_000) -> float:
        best = float("inf")
        for _ in range(5):
            began = time.process_time()
            for _ in range(n):
                await call(app, "POST", "/tasks/" + "0" * 32 + "/started", {"lease_token": "x"})
            best = min(best, (time.process_time() - began) / n * 1e6)
        return best

    bare = await cost(trivial)

    def owned(app: App) -> App:
        async def with_owner(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "app": Owner}, receive, send)

        return with_owner

    made = {
        "edge (id, log, security headers, same origin)": EdgeMiddleware(trivial, settings),
        "long poll (not a claim)": LongPollMiddleware(trivial),
        "body limit": BodyLimitMiddleware(trivial),
    }
    return {name: await cost(owned(app)) - bare for name, app in made.items()}


async def run(cycles: int) -> None:
    with tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            settings = Settings(redis_url=redis.url, data_dir=Path(tmp) / "server")
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                measured = await routes(app, cycles)
        finally:
            redis.stop()
    for route, us in measured.items():
        print(f"{route:<18} {us:7.0f} µs CPU")
    print(f"{'4-request cycle':<18} {sum(measured[r] for r in list(measured)[:4]):7.0f} µs CPU")
    for name, us in (await middleware(settings)).items():
        print(f"middleware: {name:<46} {us:5.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=400)
    uvloop.run(run(parser.parse_args().cycles))


if __name__ == "__main__":
    main()
