"""Metric extremes bench: what keeping each series' min and max costs a metric batch.

    .venv/bin/python bench/metric_extremes.py [--quick] [--out PATH]

Starts its own redis-server and runs the server's ``metrics`` script straight on it:
batches of 100 points (4 series x 25 steps, as an agent sends them) into 200 running
tasks, once with the script as shipped (each series' extremes in the batch found in Lua,
then one ``ZADD LT`` and one ``GT`` per series, which keep ``ry:idx:metric_min:*`` /
``metric_max:*``) and once with those lines cut out. (The script writes the last value's
indexes once per series too; before min/max it wrote them once per point, ≈215 µs a
batch on the same machine.)
Redis' own time per call (INFO commandstats, usec_per_call of EVALSHA) is the cost:
the whole script runs inside Redis, so that is how long a batch keeps Redis from
serving anything else. Writes JSON (default bench/results/metric_extremes.json).
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_main, log
from _report import target_lines, verdicts

from runyard.models.limits import MAX_METRIC_POINTS_PER_TASK
from runyard_server.store import keys, script_keys, scripts

HERE = Path(__file__).resolve().parent
SERIES = ["val/acc", "val/loss", "train/loss", "lr"]
STEPS = 25
TASKS = 200
EXTREMES = (
    "  if not low[s] or v < low[s] then low[s], low_at[s] = v, i + 2 end\n"
    "  if not high[s] or v > high[s] then high[s], high_at[s] = v, i + 2 end\n",
    "  redis.call('ZADD', keyof('metric_min', s), 'LT', ARGV[low_at[s]], id)\n"
    "  redis.call('ZADD', keyof('metric_max', s), 'GT', ARGV[high_at[s]], id)\n",
)
"""What keeps the min and max: the batch's extremes per series, then their ZADDs."""
TARGETS: list[tuple[str, str, float, str]] = [
    ("extra Redis µs per 100-point batch", "extra_us_per_batch", 50.0, "le"),
    ("extra share of the batch's Redis time", "extra_ratio", 0.5, "le"),
]


@contextmanager
def redis_server() -> Iterator[redis.Redis]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = shutil.which("redis-server") or "redis-server"
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait()


def batch_args(task_id: str, step0: int, rng: random.Random) -> list[Any]:
    args: list[Any] = [task_id, MAX_METRIC_POINTS_PER_TASK]
    for step in range(step0, step0 + STEPS):
        for series in SERIES:
            value = rng.random()
            args += [series, json.dumps([series, step, value, 0.0]), repr(value)]
    return args


def usec_per_call(r: redis.Redis, source: str, prefix: str, batches: int) -> float:
    """Redis µs per call of ``source`` for ``batches`` batches over TASKS fresh tasks."""
    sha = r.script_load(source)
    ids = [f"{prefix}{i:028x}" for i in range(TASKS)]
    for task_id in ids:
        r.hset(keys.task(task_id), mapping={"status": "running"})
    rng = random.Random(7)
    r.config_resetstat()
    for n in range(batches):
        task_id = ids[n % TASKS]
        declared = {
            **script_keys.task_output(task_id),
            **script_keys.metric_indexes(SERIES),
            "metric_series": keys.METRIC_SERIES,
        }
        key_list, argv = scripts.call_args(declared, *batch_args(task_id, n // TASKS * STEPS, rng))
        reply = r.evalsha(sha, len(key_list), *key_list, *argv)
        assert reply[0] == "ok", reply
    stats = r.info("commandstats")["cmdstat_evalsha"]
    return float(stats["usec_per_call"])


def run(quick: bool) -> dict[str, Any]:
    batches = 2_000 if quick else 20_000
    shipped = scripts.source("metrics")
    for line in EXTREMES:
        if line not in shipped:
            raise SystemExit(f"metrics.lua changed: the line {line.strip()!r} is gone")
    without = shipped
    for line in EXTREMES:
        without = without.replace(line, "")
    with redis_server() as r:
        # Alternate, twice each, so a busy neighbour weighs on both alike.
        base, extremes = [], []
        for round_ in range(2):
            log(f"round {round_ + 1}: {batches} batches without, then with min/max")
            base.append(usec_per_call(r, without, f"b{round_}", batches))
            extremes.append(usec_per_call(r, shipped, f"e{round_}", batches))
    base_us, with_us = min(base), min(extremes)
    return {
        "batches": batches,
        "points_per_batch": len(SERIES) * STEPS,
        "us_per_batch_without": round(base_us, 1),
        "us_per_batch_with": round(with_us, 1),
        "extra_us_per_batch": round(with_us - base_us, 1),
        "extra_ratio": round((with_us - base_us) / base_us, 3),
    }


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = [
        f"metrics script, {results['points_per_batch']} points a batch, "
        f"best of 2 rounds of {results['batches']} batches:",
        f"  without min/max  {results['us_per_batch_without']} µs of Redis per batch",
        f"  with min/max     {results['us_per_batch_with']} µs of Redis per batch",
    ]
    return "\n".join(lines + target_lines(checks))


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__ or "",
        default_out=HERE / "results" / "metric_extremes.json",
        quick_help="2,000 batches a round instead of 20,000",
        run=run,
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
