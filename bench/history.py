"""History bench: the server's log path and archive at 1M lines (issue 10, server side).

    .venv/bin/python bench/history.py [--quick] [--out PATH]

Starts its own embedded Redis and a ``runyard-server`` on it (with its jobs worker,
the archiver), then, for a task printing 1,000,000 lines of a typical training log
(progress and metric lines with changing numbers, ~70 bytes each):

  (a) ingest: the lines posted as agent-sized batches (2,000 lines, the JSON built
      before the clock starts), one at a time as the agent sends them; CPU seconds of the server and
      Redis per 1M lines, and the wall time;
  (b) Redis memory while live: ``used_memory`` growth over the raw bytes printed
      (each line's text and its newline);
  (c) read back while live: every line through ``GET /tasks/{id}/logs`` pages of
      10,000 (cursor ``after``), and through ``GET /tasks/{id}/logs/text``; both
      checked line by line;
  (d) archive: the task ends; time until the archiver marked it archived; the
      archive's size over the raw bytes; Redis memory the task's output still holds;
  (e) read back from the archive: pages and text again, and the tail (last 1,000
      lines) then 10 pages backward with ``before``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests

from runyard_server.store import keys

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import CpuMeter, Results, Stack, bench_main, check, log, running_stack
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
PER_BATCH = 2000
TARGETS: list[tuple[str, str, float, str]] = [
    ("(a) server CPU s per 1M lines", "ingest.server_cpu_s_per_1m", 1.0, "le"),
    ("(b) Redis bytes per output byte, live", "memory.live_ratio", 1.3, "le"),
    ("(c) read 1M lines, pages, live s", "read_live.pages_s_per_1m", 2.0, "le"),
    ("(c) read 1M lines, text, live s", "read_live.text_s_per_1m", 1.0, "le"),
    ("(d) archive size / raw", "archive.size_ratio", 0.25, "le"),
    ("(d) Redis bytes per line, archived", "archive.redis_bytes_per_line", 0.0, "le"),
    ("(e) read 1M lines, pages, archived s", "read_archived.pages_s_per_1m", 2.0, "le"),
    ("(e) read 1M lines, text, archived s", "read_archived.text_s_per_1m", 1.0, "le"),
]


def training_lines(count: int, seed: int = 7) -> list[str]:
    """What a training script prints: epoch/step progress with loss, accuracy, speed."""
    rng = random.Random(seed)
    lines, loss = [], 2.5
    for i in range(count):
        epoch, step = divmod(i, 5000)
        loss = max(0.01, loss * 0.99995 + rng.gauss(0, 0.002))
        if step % 100 == 99:
            lines.append(
                f"[epoch {epoch:3d}] val loss {loss * 1.1:.4f} acc {1 - loss / 3:.4f} "
                f"best {1 - loss / 3.1:.4f} (checkpoint saved)"
            )
        else:
            lr = 3e-4 * 0.999**epoch
            lines.append(
                f"epoch {epoch:3d} step {step:5d}/5000 loss {loss:.4f} lr {lr:.2e} "
                f"{rng.uniform(110, 140):.1f} samples/s"
            )
    return lines


def _bodies(texts: list[str]) -> list[bytes]:
    now = time.time()
    bodies = []
    for seq, start in enumerate(range(0, len(texts), PER_BATCH)):
        lines = [
            {"text": t, "ts": now + (start + i) * 1e-5, "stream": "stdout"}
            for i, t in enumerate(texts[start : start + PER_BATCH])
        ]
        bodies.append(json.dumps({"seq": seq, "lines": lines}).encode())
    return bodies


def _ingest(api: str, task_id: str, bodies: list[bytes], pids: dict[str, int]) -> dict[str, Any]:
    meter = CpuMeter(pids)
    session = requests.Session()
    headers = {"Content-Type": "application/json"}

    url = f"{api}/tasks/{task_id}/logs"
    meter.start()
    started = time.monotonic()
    # One batch in flight, as the agent and SDK send: chunks are stored in arrival order.
    for body in bodies:
        check(session.post(url, data=body, headers=headers, timeout=60), "log batch")
    wall = time.monotonic() - started
    meter.stop()
    return {"wall_s": round(wall, 2), "cpu_s": {k: round(v, 2) for k, v in meter.seconds.items()}}


def _read_pages(api: str, task_id: str, expected: list[str]) -> float:
    started = time.monotonic()
    session, cursor, got = requests.Session(), None, 0
    while True:
        params: dict[str, Any] = {"limit": 10_000}
        if cursor:
            params["after"] = cursor
        page = check(session.get(f"{api}/tasks/{task_id}/logs", params=params, timeout=60), "page")
        if not page["lines"]:
            break
        for line in page["lines"]:
            assert line["text"] == expected[got], f"line {got} differs"
            got += 1
        cursor = page["cursor"]
    assert got == len(expected), f"read {got} lines of {len(expected)}"
    return time.monotonic() - started


def _read_text(api: str, task_id: str, expected: list[str]) -> float:
    started = time.monotonic()
    response = requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=120)
    elapsed = time.monotonic() - started
    assert response.text.split("\n")[:-1] == expected, "the text download differs"
    return elapsed


def _read_backward(api: str, task_id: str, pages: int) -> float:
    started = time.monotonic()
    url = f"{api}/tasks/{task_id}/logs"
    page = check(requests.get(url, params={"tail": 1000}, timeout=60), "tail")
    for _ in range(pages):
        params = {"before": page["before"], "limit": 1000}
        page = check(requests.get(url, params=params, timeout=60), "before")
    return time.monotonic() - started


def _measured(pids: dict[str, int], read: Callable[[], float], per_1m: float) -> dict[str, float]:
    """Wall seconds and server CPU seconds of ``read``, per 1M lines."""
    meter = CpuMeter(pids)
    meter.start()
    wall = read()
    meter.stop()
    return {
        "wall_s_per_1m": round(wall * per_1m, 2),
        "server_cpu_s_per_1m": round(meter.seconds["server"] * per_1m, 2),
    }


def _reads(stack: Stack, task_id: str, texts: list[str], per_1m: float) -> dict[str, Any]:
    pids = {"server": stack.server.pid}
    pages = [
        _measured(pids, lambda: _read_pages(stack.api, task_id, texts), per_1m) for _ in range(2)
    ]
    text = [
        _measured(pids, lambda: _read_text(stack.api, task_id, texts), per_1m) for _ in range(2)
    ]
    best = min(pages, key=lambda m: m["wall_s_per_1m"]), min(text, key=lambda m: m["wall_s_per_1m"])
    return {
        "pages": best[0],
        "text": best[1],
        "pages_s_per_1m": best[0]["wall_s_per_1m"],
        "text_s_per_1m": best[1]["wall_s_per_1m"],
    }


def run(quick: bool) -> Results:
    count = 100_000 if quick else 1_000_000
    per_1m = 1_000_000 / count
    texts = training_lines(count)
    raw = sum(len(t) + 1 for t in texts)
    bodies = _bodies(texts)
    results: Results = {
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_at_start": os.getloadavg()[0],
        },
        "lines": count,
        "raw_bytes": raw,
        "batch_lines": PER_BATCH,
    }
    with (
        tempfile.TemporaryDirectory(prefix="runyard-history-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
        api = stack.api
        made = requests.post(f"{api}/tasks", json={"name": "spam"}, timeout=10)
        task_id = check(made, "task")["id"]
        before = int(r.info("memory")["used_memory"])
        log(f"posting {count} lines in {len(bodies)} batches")
        ingest = _ingest(api, task_id, bodies, stack.pids())
        ingest["server_cpu_s_per_1m"] = round(ingest["cpu_s"]["server"] * per_1m, 2)
        ingest["redis_cpu_s_per_1m"] = round(ingest["cpu_s"]["redis"] * per_1m, 2)
        results["ingest"] = ingest
        live = int(r.info("memory")["used_memory"]) - before
        results["memory"] = {"live_bytes": live, "live_ratio": round(live / raw, 3)}
        log("reading back while live")
        results["read_live"] = _reads(stack, task_id, texts, per_1m)
        log("ending the task; waiting for the archiver")
        ended = time.monotonic()
        check(requests.post(f"{api}/tasks/{task_id}/abort", timeout=10), "abort")
        while r.hget(keys.task(task_id), "history") != "archived":
            time.sleep(0.02)
        archived_after = time.monotonic() - ended
        size = (Path(tmp) / "server" / "history" / task_id / "logs.zst").stat().st_size
        left = sum(
            int(r.memory_usage(key) or 0)
            for key in (keys.task_logs(task_id), keys.task_log_seqs(task_id))
        )
        results["archive"] = {
            "seconds": round(archived_after, 2),
            "bytes": size,
            "size_ratio": round(size / raw, 3),
            "redis_bytes_left": left,
            "redis_bytes_per_line": round(max(left, 0) / count, 3),
        }
        log("reading back from the archive")
        results["read_archived"] = _reads(stack, task_id, texts, per_1m)
        results["read_archived"]["tail_then_10_pages_back_s"] = round(
            _read_backward(api, task_id, 10), 3
        )
    return results


def render(results: Results, checks: list[dict[str, Any]]) -> str:
    i, m, a = results["ingest"], results["memory"], results["archive"]
    rl, ra = results["read_live"], results["read_archived"]
    lines = [
        f"Runyard history bench — {results['machine']['cpus']} CPUs (load "
        f"{results['machine']['load_at_start']:.1f}), Python {results['machine']['python']}, "
        f"{results['lines']} lines, {results['raw_bytes']} raw bytes",
        f"(a) ingest ({results['batch_lines']}-line batches, one at a time): {i['wall_s']} s wall; "
        f"server {i['server_cpu_s_per_1m']} CPU s / 1M lines, Redis {i['redis_cpu_s_per_1m']}",
        f"(b) Redis while live: {m['live_bytes']} B = {m['live_ratio']} x the output",
        f"(c) read back live, per 1M lines: pages {rl['pages_s_per_1m']} s "
        f"(server CPU {rl['pages']['server_cpu_s_per_1m']} s), text {rl['text_s_per_1m']} s "
        f"(server CPU {rl['text']['server_cpu_s_per_1m']} s)",
        f"(d) archived {a['seconds']} s after the end: {a['bytes']} B = {a['size_ratio']} x raw; "
        f"Redis keeps {a['redis_bytes_left']} B of its output",
        f"(e) read back archived, per 1M lines: pages {ra['pages_s_per_1m']} s "
        f"(server CPU {ra['pages']['server_cpu_s_per_1m']} s), text {ra['text_s_per_1m']} s "
        f"(server CPU {ra['text']['server_cpu_s_per_1m']} s); "
        f"tail + 10 pages back {ra['tail_then_10_pages_back_s']} s",
        "",
        "targets:",
    ]
    lines.extend(target_lines(checks, width=40))
    return "\n".join(lines)


if __name__ == "__main__":
    bench_main(
        None,
        description="Runyard history bench (log path, archive, read back)",
        default_out=HERE / "results" / "history.json",
        quick_help="100,000 lines instead of 1,000,000 (numbers scaled per 1M)",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )
