"""Dispatch bench: the queue engine of a real ``runyard-server`` over HTTP on loopback.

    .venv/bin/python bench/dispatch.py [--quick] [--out PATH]

Starts its own embedded Redis and a ``runyard-server`` on it (``--redis-url``, so the
bench can read Redis directly), measures, prints a table and writes JSON
(default bench/results/dispatch.json), then stops both. What it measures:

  floor  raw redis-py ZADD → BZPOPMIN wake-up, and GET /healthz round trip
  (a)    create→claimed latency with N idle long-polling claimers (another process)
  (b)    create→claim→started→completed cycles/s with 8 HTTP clients (processes); the
         same with batch creates and the completed report carried on the next claim;
         server, jobs and Redis CPU per task and Redis commands per cycle; and the
         store functions in-process (no HTTP)
  (c)    claim latency (wait_s=0) with 100 vs 100,000 tasks queued, and the ratio
  (d)    Redis used_memory per queued typical task
  (e)    10,000 idle long-pollers on one fresh server process: RSS per waiter, CPU
         while idle, Redis connections, create→claimed latency
  (f)    ``runyard --help`` and ``runyard task list`` start, next to ``python -c pass``
  (g)    claim latency with typed GPU requests next to the plain claim, over 1,000
         registered agents with 8 GPUs each (``typed_claims.py``, issue 12)

The table ends with issue 18's targets, each next to its measured value.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import queue as stdlib_queue
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _engine
import cli_start
import typed_claims
from _clients import run_claimers, run_cycler
from _harness import (
    CpuMeter,
    Stack,
    bench_main,
    check,
    claim_body,
    log,
    running_stack,
    summary_ms,
    typical_body,
    worker_body,
)
from _pollers import run_pollers
from _report import render, verdicts

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    """Sizes of a run: (a) claimers and samples (``gap_s`` between samples), (b) clients
    and window, (c) queue depths and claims, (d) tasks whose memory is measured."""

    claimers: int = 200
    wake_samples: int = 300
    wake_warmup: int = 20
    gap_s: float = 0.05
    cyclers: int = 8
    batch: int = 100
    cycle_warmup_s: float = 1.0
    cycle_s: float = 10.0
    shallow: int = 100
    deep: int = 100_000
    memory_tasks: int = 20_000
    claim_samples: int = 300
    claim_warmup: int = 20
    pollers: int = 10_000
    poller_wait_s: float = 30.0
    poller_idle_s: float = 35.0
    poller_samples: int = 200


QUICK = Plan(
    claimers=20,
    wake_samples=40,
    wake_warmup=5,
    cycle_warmup_s=0.5,
    cycle_s=2.0,
    deep=5_000,
    memory_tasks=2_000,
    claim_samples=50,
    claim_warmup=5,
    pollers=300,
    poller_idle_s=5.0,
    poller_samples=30,
)


def pids(stack: Stack) -> dict[str, int]:
    return {**stack.pids(), "bench": os.getpid()}


# --------------------------------------------------------------------------- floor


def measure_floor(stack: Stack, plan: Plan) -> dict[str, Any]:
    samples = _engine.floor_zadd_bzpopmin(stack.redis.url, plan.wake_samples, 20, plan.gap_s / 5)
    session = requests.Session()
    http: list[float] = []
    for i in range(plan.wake_samples + 20):
        t0 = time.perf_counter()
        check(session.get(f"{stack.api}/healthz", timeout=10), "healthz")
        if i >= 20:
            http.append(time.perf_counter() - t0)
    session.close()
    return {"zadd_bzpopmin_ms": summary_ms(samples), "http_healthz_ms": summary_ms(http)}


# --------------------------------------------------------------------------- (a)


def _next(out: Any, kind: str, task_id: str | None, deadline: float, notes: dict[str, Any]) -> Any:
    """The next message of ``kind`` (for ``task_id``) from the claimers; others noted."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {kind!r} message for task {task_id} in time")
        try:
            message = out.get(timeout=remaining)
        except stdlib_queue.Empty:
            continue
        if message[0] == kind and (task_id is None or message[1] == task_id):
            return message
        if message[0] == "error":
            notes["errors"].append(message[1])
        else:
            notes["stray"] += 1


def _stop(process: Any, stop: Any) -> None:
    """Ask a client process to stop, and end it when it does not within a minute."""
    stop.set()
    process.join(60)
    if process.is_alive():
        process.terminate()
        process.join(10)


def measure_wake(stack: Stack, plan: Plan, claimers: int, queue: str) -> dict[str, Any]:
    """Sequential enqueues on ``queue``; each is claimed by one of ``claimers`` long-polls."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    stop = ctx.Event()
    runtime = 120 + (plan.wake_samples + plan.wake_warmup) * (plan.gap_s + 1.0)
    process = ctx.Process(
        target=run_claimers, args=(stack.api, claimers, queue, 25.0, runtime, out, stop)
    )
    process.start()
    notes: dict[str, Any] = {"errors": [], "stray": 0}
    latencies: list[float] = []
    post_s: list[float] = []
    cpu = CpuMeter({**pids(stack), "claimers": process.pid or 0})
    session = requests.Session()
    try:
        _next(out, "ready", None, time.monotonic() + 120, notes)
        time.sleep(2.0)  # let every claimer's first long-poll reach the server
        body = typical_body(queue)
        calls_before = _engine.command_calls(stack.redis.url)
        cpu.start()
        for i in range(plan.wake_warmup + plan.wake_samples):
            t0 = time.perf_counter()
            created = check(session.post(f"{stack.api}/tasks", json=body, timeout=30), "create")
            posted = time.perf_counter()
            _, _, t1 = _next(out, "claimed", created["id"], time.monotonic() + 30, notes)
            _, _, status = _next(out, "done", created["id"], time.monotonic() + 30, notes)
            if status != 200:
                notes["errors"].append(f"completed: HTTP {status}")
            if i >= plan.wake_warmup:
                latencies.append(t1 - t0)
                post_s.append(posted - t0)
            time.sleep(plan.gap_s)
        usage = cpu.stop()
        samples = plan.wake_warmup + plan.wake_samples
        calls = _engine.calls_per(calls_before, _engine.command_calls(stack.redis.url), samples)
    finally:
        session.close()
        _stop(process, stop)
    return {
        "claimers": claimers,
        "latency_ms": summary_ms(latencies),
        "create_response_ms": summary_ms(post_s),
        "cpu_cores": usage,
        "server_cpu_ms_per_task": cpu.seconds["server"] / samples * 1e3,
        "redis_calls_per_task": calls,
        "errors": notes["errors"][:5],
        "error_count": len(notes["errors"]),
        "stray_messages": notes["stray"],
    }


# --------------------------------------------------------------------------- (b)


def measure_http_cycles(stack: Stack, plan: Plan, queue: str, batch: int = 0) -> dict[str, Any]:
    """(b) over HTTP: ``batch`` 0 the four-request protocol, else batch creates and
    completed reports carried on the next claim (see ``run_cycler``)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    args = (plan.cycle_warmup_s, plan.cycle_s, out, batch)
    processes = [
        ctx.Process(target=run_cycler, args=(stack.api, i, queue, start_at, go, *args))
        for i in range(plan.cyclers)
    ]
    for process in processes:
        process.start()
    results: dict[int, dict[str, Any]] = {}
    cpu = CpuMeter({**pids(stack), **{f"client{i}": p.pid or 0 for i, p in enumerate(processes)}})
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < plan.cyclers:
            message = out.get(timeout=max(deadline - time.monotonic(), 0.1))
            if message[0] == "ready":
                ready += 1
            elif message[0] == "cycles":
                raise RuntimeError(f"cycle client {message[1]} failed: {message[2]}")
        start_at.value = time.monotonic() + 0.2
        go.set()
        time.sleep(max(start_at.value + plan.cycle_warmup_s - time.monotonic(), 0))
        calls_before = _engine.command_calls(stack.redis.url)
        cpu.start()
        time.sleep(plan.cycle_s)
        usage = cpu.stop()
        calls_after = _engine.command_calls(stack.redis.url)
        deadline = time.monotonic() + 60
        while len(results) < plan.cyclers:
            message = out.get(timeout=max(deadline - time.monotonic(), 0.1))
            if message[0] == "cycles":
                results[message[1]] = message[2]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
    cycles = sum(r.get("cycles", 0) for r in results.values())
    http_requests = sum(r.get("requests", 0) for r in results.values())
    cycle_s = [s for r in results.values() for s in r.get("cycle_s", [])]
    clients_cpu = sum(v for k, v in usage.items() if k.startswith("client"))
    jobs_s = sum(v for k, v in cpu.seconds.items() if k.startswith("server_child"))
    # The Redis calls are counted over the same window as the cycles, to within a request.
    calls = _engine.calls_per(calls_before, calls_after, cycles)
    return {
        "protocol": f"batches of {batch}, completed on the next claim" if batch else "4 requests",
        "clients": plan.cyclers,
        "window_s": plan.cycle_s,
        "cycles": cycles,
        "cycles_per_s": cycles / plan.cycle_s,
        "requests_per_s": http_requests / plan.cycle_s,
        "cycle_latency_ms": summary_ms(cycle_s),
        "empty_claims": sum(r.get("empty_claims", 0) for r in results.values()),
        "error_count": sum(r.get("error_count", 0) for r in results.values()),
        "errors": [e for r in results.values() for e in r.get("errors", [])][:5],
        "cpu_cores": {
            **{k: v for k, v in usage.items() if not k.startswith("client")},
            "clients": round(clients_cpu, 2),
        },
        "server_cpu_ms_per_request": cpu.seconds["server"] / max(http_requests, 1) * 1e3,
        "server_cpu_ms_per_task": cpu.seconds["server"] / max(cycles, 1) * 1e3,
        "jobs_cpu_ms_per_task": jobs_s / max(cycles, 1) * 1e3,
        "redis_cpu_ms_per_task": cpu.seconds["redis"] / max(cycles, 1) * 1e3,
        "redis_calls_per_cycle": calls,
    }


def measure_cycles(stack: Stack, plan: Plan) -> dict[str, Any]:
    http = measure_http_cycles(stack, plan, "cycle")
    log(f"(b) HTTP: {http['cycles_per_s']:.0f} cycles/s; now with batches")
    batched = measure_http_cycles(stack, plan, "cycle-batch", plan.batch)
    log(f"(b) batches: {batched['cycles_per_s']:.0f} cycles/s; now the store in-process")
    cpu = CpuMeter(pids(stack))
    cpu.start()
    engine = _engine.store_cycles(
        stack.redis.url, plan.cyclers, "cycle-engine", plan.cycle_warmup_s, plan.cycle_s
    )
    engine["cpu_cores"] = cpu.stop()
    return {"http": http, "http_batch": batched, "store_in_process": engine}


# --------------------------------------------------------------------------- (e)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def redis_clients(url: str) -> int:
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        return int(client.info("clients")["connected_clients"])
    finally:
        client.close()


def measure_pollers(stack: Stack, plan: Plan, queue: str = "idle") -> dict[str, Any]:
    """(e) ``plan.pollers`` idle long-pollers on the one server process: its memory per
    waiter, its CPU while they only wait (renewals included), the Redis connections it
    holds, and create → claimed latency among them."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    args = (stack.api, plan.pollers, queue, plan.poller_wait_s, out, go, stop)
    process = ctx.Process(target=run_pollers, args=args)
    process.start()
    notes: dict[str, Any] = {"errors": [], "stray": 0}
    session = requests.Session()
    try:
        _next(out, "registered", None, time.monotonic() + 600, notes)
        time.sleep(1.0)
        rss_before = rss_bytes(stack.server.pid)
        go.set()
        _next(out, "polling", None, time.monotonic() + 300, notes)
        time.sleep(3.0)  # every first claim has reached the server and waits
        rss_waiting = rss_bytes(stack.server.pid)
        connections = redis_clients(stack.redis.url)
        cpu = CpuMeter({"server": stack.server.pid, "redis": stack.redis_pid()})
        cpu.start()
        time.sleep(plan.poller_idle_s)
        idle = cpu.stop()
        body = typical_body(queue)
        latencies: list[float] = []
        for _ in range(plan.poller_samples):
            t0 = time.perf_counter()
            created = check(session.post(f"{stack.api}/tasks", json=body, timeout=30), "create")
            _, _, t1 = _next(out, "claimed", created["id"], time.monotonic() + 30, notes)
            latencies.append(t1 - t0)
            time.sleep(plan.gap_s)
        rss_after = rss_bytes(stack.server.pid)
    finally:
        session.close()
        _stop(process, stop)
    return {
        "pollers": plan.pollers,
        "wait_s": plan.poller_wait_s,
        "rss_before_mb": rss_before / 2**20,
        "rss_waiting_mb": rss_waiting / 2**20,
        "rss_after_wakes_mb": rss_after / 2**20,
        "rss_per_waiter_kb": (rss_waiting - rss_before) / plan.pollers / 1024,
        "idle_window_s": plan.poller_idle_s,
        "idle_cpu_cores": idle,
        "redis_connections": connections,
        "latency_ms": summary_ms(latencies),
        "errors": notes["errors"][:5],
        "error_count": len(notes["errors"]),
    }


# --------------------------------------------------------------------------- (c) and (d)


def http_claims(stack: Stack, queue: str, samples: int, warmup: int) -> list[float]:
    """Claim (wait_s=0) over HTTP; each claimed task is completed and one is added back."""
    session = requests.Session()
    api = stack.api
    try:
        worker = check(session.post(f"{api}/workers", json=worker_body("depth", [queue])), "worker")
        body = claim_body([queue], 0)
        refill = typical_body(queue)
        results: list[float] = []
        for i in range(samples + warmup):
            t0 = time.perf_counter()
            reply = session.post(f"{api}/workers/{worker['id']}/claim", json=body, timeout=30)
            elapsed = time.perf_counter() - t0
            got = check(reply, "claim")
            if got.get("task") is None:
                raise RuntimeError(f"claim on {queue!r} found nothing")
            if i >= warmup:
                results.append(elapsed)
            token = {"lease_token": got["lease_token"]}
            check(session.post(f"{api}/tasks/{got['task']['id']}/completed", json=token), "done")
            check(session.post(f"{api}/tasks", json=refill, timeout=30), "refill")
        return results
    finally:
        session.close()


def measure_depth_and_memory(stack: Stack, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """(c) and (d). "shallow" keeps ``plan.shallow`` tasks queued, "deep" ``plan.deep``.

    The shallow queue is measured alone first (Redis nearly empty); then (d) fills the
    deep queue, and the two queues are measured in alternating blocks, so both see the
    same Redis (the same global indexes) and the same machine load; the ratio is taken
    from those interleaved blocks.
    """
    url = stack.redis.url
    _engine.fill(url, "shallow", plan.shallow)
    _engine.settle(url)
    alone = {
        "http_ms": summary_ms(http_claims(stack, "shallow", plan.claim_samples, plan.claim_warmup)),
        "store_ms": summary_ms(
            _engine.store_claims(url, "shallow", plan.claim_samples, plan.claim_warmup)
        ),
    }
    log(f"(c) {plan.shallow} queued: claim p50 {alone['http_ms']['p50']:.2f} ms; (d) memory")

    _engine.settle(url)
    before = _engine.used_memory(url)
    took = _engine.fill(url, "deep", plan.memory_tasks)
    _engine.settle(url)
    after = _engine.used_memory(url)
    memory = {
        "tasks": plan.memory_tasks,
        "used_memory_delta": after - before,
        "bytes_per_task": (after - before) / plan.memory_tasks,
        "fill_tasks_per_s": plan.memory_tasks / took,
        "spec_json_bytes": len(json.dumps(typical_body())),
    }
    log(f"(d) {memory['bytes_per_task']:.0f} B/task; filling to {plan.deep} queued")
    took_rest = _engine.fill(url, "deep", plan.deep - plan.memory_tasks)
    memory["fill_s_total"] = took + took_rest
    settled = _engine.settle(url)
    os.sync()  # let the fill's AOF writes reach the disk before timing claims

    blocks = 6
    per_block = max(plan.claim_samples // blocks, 2)
    runs: dict[str, dict[str, list[float]]] = {q: {"http": [], "store": []} for q in QUEUES}
    cpu = CpuMeter(pids(stack))
    cpu.start()
    for block in range(blocks):
        for queue in QUEUES if block % 2 == 0 else QUEUES[::-1]:
            runs[queue]["http"] += http_claims(stack, queue, per_block, 5)
            runs[queue]["store"] += _engine.store_claims(url, queue, per_block, 5)
    usage = cpu.stop()
    result: dict[str, Any] = {"shallow_alone": alone, "aof_settled": settled, "cpu_cores": usage}
    for queue, depth in zip(QUEUES, (plan.shallow, plan.deep), strict=True):
        result[queue] = {
            "queued": depth,
            "depth_after": _engine.queue_depth(url, queue),
            "http_ms": summary_ms(runs[queue]["http"]),
            "store_ms": summary_ms(runs[queue]["store"]),
        }
    deep, shallow = result["deep"], result["shallow"]
    result["ratio_p50"] = deep["http_ms"]["p50"] / shallow["http_ms"]["p50"]
    result["ratio_p99"] = deep["http_ms"]["p99"] / shallow["http_ms"]["p99"]
    result["store_ratio_p50"] = deep["store_ms"]["p50"] / shallow["store_ms"]["p50"]
    result["store_ratio_p99"] = deep["store_ms"]["p99"] / shallow["store_ms"]["p99"]
    return result, memory


QUEUES = ("shallow", "deep")


def machine_info(url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        version = client.info("server")["redis_version"]
    finally:
        client.close()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis": version,
    }


def run(plan: Plan, quick: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        log(f"server {stack.api} on Redis 127.0.0.1:{stack.redis.port}")
        results: dict[str, Any] = {
            "machine": machine_info(stack.redis.url),
            "plan": {**asdict(plan), "quick": quick},
            "load": [os.getloadavg()[0]],
        }
        results["floor"] = measure_floor(stack, plan)
        log(f"floor: ZADD→BZPOPMIN p50 {results['floor']['zadd_bzpopmin_ms']['p50']:.3f} ms")
        results["a_wake"] = measure_wake(stack, plan, plan.claimers, "bench")
        log(f"(a) {plan.claimers} claimers: p50 {results['a_wake']['latency_ms']['p50']:.2f}")
        results["a_wake_one"] = measure_wake(stack, plan, 1, "bench-one")
        log(f"(a) 1 claimer: p50 {results['a_wake_one']['latency_ms']['p50']:.2f} ms")
        results["b_cycles"] = measure_cycles(stack, plan)
        results["c_depth"], results["d_memory"] = measure_depth_and_memory(stack, plan)
        results["g_typed"] = typed_claims.measure(
            stack, typed_claims.QUICK if quick else typed_claims.Plan()
        )
        log(f"(g) typed/plain claim p50 {results['g_typed']['ratio_p50']:.2f}")
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        log(f"(e) {plan.pollers} idle long-pollers on a fresh server")
        results["e_pollers"] = measure_pollers(stack, plan)
    results["f_cli"] = cli_start.measure(runs=5 if quick else cli_start.RUNS)
    results["load"].append(os.getloadavg()[0])
    return results


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "dispatch.json",
        quick_help="small smoke run (about a minute)",
        run=lambda quick: run(QUICK if quick else Plan(), quick),
        check=verdicts,
        render=render,
    )


if __name__ == "__main__":
    main()
