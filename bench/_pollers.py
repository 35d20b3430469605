"""(e)'s idle long-pollers: many workers in one asyncio process, each holding one
keep-alive HTTP/1.1 connection and long-polling ``claim``, written on asyncio streams
(an HTTP library's per-connection state would make the client the bottleneck).

``run_pollers`` reports on ``out``: ("registered", n) once every worker is registered
(over a few short-lived connections, so the server holds none of the pollers' yet),
then after ``go`` is set ("polling", n) once every poller has sent its first claim,
("claimed", task_id, t1) when a claim returns a task (which it then completes) and
("error", text) for any failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any
from urllib.parse import urlsplit

from _harness import claim_body, worker_body

REGISTER_CONNECTIONS = 32


class Connection:
    """One keep-alive HTTP/1.1 connection; requests go one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        self.writer.close()


def run_pollers(
    api: str, count: int, queue: str, wait_s: float, out: Queue[Any], go: Event, stop: Event
) -> None:
    asyncio.run(_pollers(api, count, queue, wait_s, out, go, stop))


async def _pollers(
    api: str, count: int, queue: str, wait_s: float, out: Queue[Any], go: Event, stop: Event
) -> None:
    parts = urlsplit(api)
    host, port, prefix = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    workers = await _register(host, port, prefix, count, queue)
    out.put(("registered", len(workers)))
    while not go.is_set():
        await asyncio.sleep(0.05)
    sent = 0
    body = claim_body([queue], wait_s)

    async def poll(worker_id: str) -> None:
        nonlocal sent
        try:
            connection = await Connection.open(host, port)
        except OSError as exc:
            out.put(("error", f"connect: {exc!r}"))
            return
        first = True
        try:
            while not stop.is_set():
                request = connection.post(f"{prefix}/workers/{worker_id}/claim", body)
                if first:
                    first = False
                    sent += 1
                    if sent == len(workers):
                        out.put(("polling", sent))
                status, claim = await request
                t1 = time.perf_counter()
                if status != 200:
                    out.put(("error", f"claim: HTTP {status} {str(claim)[:200]}"))
                    await asyncio.sleep(1.0)
                elif claim.get("task") is not None:
                    out.put(("claimed", claim["task"]["id"], t1))
                    report = {"lease_token": claim["lease_token"]}
                    await connection.post(f"{prefix}/tasks/{claim['task']['id']}/completed", report)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if not stop.is_set():
                out.put(("error", f"poll: {exc!r}"))
        finally:
            connection.close()

    polls = [asyncio.create_task(poll(w)) for w in workers]
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in polls:
        task.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def _register(host: str, port: int, prefix: str, count: int, queue: str) -> list[str]:
    """``count`` workers registered over a few connections, which are closed after."""
    workers: list[str] = []

    async def lane(lane_no: int) -> None:
        connection = await Connection.open(host, port)
        try:
            for i in range(lane_no, count, REGISTER_CONNECTIONS):
                status, worker = await connection.post(
                    f"{prefix}/workers", worker_body(f"poller-{i}", [queue])
                )
                if status != 201:
                    raise RuntimeError(f"register: HTTP {status} {worker}")
                workers.append(worker["id"])
        finally:
            connection.close()

    await asyncio.gather(*(lane(n) for n in range(REGISTER_CONNECTIONS)))
    return workers
