"""Log-path parts of the agent bench: the agent's log path alone, and a local run's record.

(5) The agent's log path alone: the task script of (3) run by the agent's own pieces
    (``TaskProcess`` + ``TaskLog``: pipe readers, spool, sender, the HTTP client) in
    this process, posting to a server that reads each batch and acknowledges it. It
    shows what the client side can do whatever the server costs: the loop's time, and
    how long after the loop ended the last batch was acknowledged.
(6) A local run: a script whose first statements take the time and call ``Task.init``,
    against the real server; the bench polls ``GET /tasks?project=`` every 10 ms and
    records when the record first answers, and the record's ``created`` and
    ``started`` against the time taken just before ``Task.init``.
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from _harness import Stack, log

from runyard.client import Client
from runyard_agent.process import TaskProcess
from runyard_agent.task_log import TaskLog

LOCAL_RUN = """\
import sys, time
T0 = time.time()
from runyard import Task
task = Task.init(project=sys.argv[1], name="init", requirements=[])
print(f"INIT {T0!r} {time.time()!r}", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[2]))
"""


class AckServer(ThreadingHTTPServer):
    """Reads every POST body and acknowledges it; remembers the last ack's time and lines."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), AckHandler)
        self.last_ack = 0.0
        self.batches = 0
        self.bytes = 0
        self.spam: tuple[float, float] | None = None  # the loop's own times, from its stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class AckHandler(BaseHTTPRequestHandler):
    server: AckServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the second waits
    # for the client's delayed ACK, 40 ms a batch.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.batches += 1
        self.server.bytes += len(body)
        if b'"text":"SPAM ' in body:
            for line in json.loads(body)["lines"]:
                if line["text"].startswith("SPAM "):
                    t0, t1 = line["text"].split()[1:3]
                    self.server.spam = float(t0), float(t1)
        self.server.last_ack = time.time()
        reply = b'{"accepted":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


def measure_log_path(python: Path, script: Path, runs: int) -> dict[str, Any]:
    """(5): the agent's reader/spool/sender on ``script`` against :class:`AckServer`."""
    results = []
    for _ in range(runs):
        server = AckServer()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = Client(server.url, None)
        try:
            with tempfile.TemporaryDirectory(prefix="runyard-logpath-") as tmp:
                task_log = TaskLog(
                    functools.partial(client.logs.append_encoded, "0" * 32),
                    "lease",
                    on_lost=lambda: None,
                    on_auth=lambda exc: None,
                )
                process = TaskProcess.start([str(python), str(script)], Path(tmp), {})
                task_log.attach(process)
                process.wait()
                assert task_log.finish(60)
        finally:
            client.close()
            server.shutdown()
            server.server_close()
        assert server.spam is not None, "the task's SPAM line never arrived"
        t0, t1 = server.spam
        run = {
            "loop_s": t1 - t0,
            "last_acked_after_end_s": server.last_ack - t1,
            "batches": server.batches,
            "mb_posted": server.bytes / 1e6,
        }
        after = run["last_acked_after_end_s"]
        log(f"(5) log path alone: loop {t1 - t0:.2f} s, last ack +{after:.2f} s")
        results.append(run)
    return {
        "runs": results,
        "loop_s": statistics.median(r["loop_s"] for r in results),
        "last_acked_after_end_s": max(r["last_acked_after_end_s"] for r in results),
    }


def measure_local_init(stack: Stack, python: str, runs: int) -> dict[str, Any]:
    """(6): ``Task.init`` → the record answers on the real server, for ``runs`` scripts."""
    rows = []
    session = requests.Session()
    with tempfile.TemporaryDirectory(prefix="runyard-local-") as tmp:
        script = Path(tmp) / "init.py"
        script.write_text(LOCAL_RUN)
        for _ in range(runs):
            project = f"init-{uuid.uuid4().hex[:8]}"
            process = subprocess.Popen(
                [python, str(script), project, "3"],
                cwd=tmp,
                env={"RUNYARD_SERVER": stack.api.removesuffix("/api/v1"), "PATH": "/usr/bin"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            seen = None
            deadline = time.monotonic() + 60
            while seen is None and time.monotonic() < deadline:
                got = session.get(f"{stack.api}/tasks", params={"project": project}, timeout=10)
                if got.ok and got.json()["items"]:
                    seen = time.time()
                    record = got.json()["items"][0]
                else:
                    time.sleep(0.01)
            _, err = process.communicate(timeout=60)
            t0, after_init = (float(x) for x in err.split("INIT ", 1)[1].split()[:2])
            if seen is None:
                raise RuntimeError(f"the local run was never recorded:\n{err}")
            # Read again: the first sight can be the draft, a moment before it runs.
            got = session.get(f"{stack.api}/tasks/{record['id']}", timeout=10)
            record = got.json()
            rows.append(
                {
                    "init_call_s": after_init - t0,
                    "visible_s": seen - t0,
                    "created_s": _wall(record["created"]) - t0,
                    "started_s": _wall(record["started"]) - t0,
                }
            )
            log(f"(6) local run visible {rows[-1]['visible_s']:.3f} s after Task.init began")
    return {
        "runs": rows,
        "visible_s": {
            "p50": statistics.median(r["visible_s"] for r in rows),
            "max": max(r["visible_s"] for r in rows),
        },
        "created_s_max": max(r["created_s"] for r in rows),
    }


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
