"""Shared pieces of the dispatch bench: the Redis + server processes, the task spec,
percentiles and per-process CPU accounting. Loopback only; every wait is bounded."""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from runyard.models import API_PREFIX, Environment, Resources, Script, TaskCreate
from runyard_server.embedded import EmbeddedRedis, free_port

REQUIREMENTS = [
    "torch==2.3.1",
    "torchvision==0.18.1",
    "numpy==1.26.4",
    "pandas==2.2.2",
    "scikit-learn==1.5.0",
    "pyyaml==6.0.1",
    "tqdm==4.66.4",
    "pillow==10.3.0",
    "tensorboard==2.16.2",
    "matplotlib==3.9.0",
]

FREE = Resources(gpus=8, cpus=64, memory_gb=512)
"""What every bench worker says it has free: more than a typical task needs."""


def typical_spec(queue: str | None = None, i: int = 0) -> TaskCreate:
    """A realistic task: repository, commit, entry point, 10 pinned requirements, params."""
    return TaskCreate(
        project="vision",
        name=f"resnet50-lr-sweep-{i}",
        tags=["sweep", "resnet50"],
        script=Script(
            repository="https://github.com/example-org/vision-experiments.git",
            commit="3f9c2b7e5d1a4c8b9e0f6a2d7c4b1e8f5a3d9c6b",
            branch="main",
            entry_point="train/train_resnet.py",
            args=["--config", "configs/resnet50.yaml", "--amp"],
        ),
        environment=Environment(python="3.11", requirements=REQUIREMENTS),
        params={
            "General": {
                "lr": 0.1,
                "epochs": 90,
                "batch_size": 256,
                "optimizer": "sgd",
                "momentum": 0.9,
                "weight_decay": 0.0001,
            },
            "Args": {"config": "configs/resnet50.yaml", "amp": True},
        },
        resources=Resources(gpus=1, cpus=8, memory_gb=32),
        queue=queue,
        create_queue=queue is not None,
    )


def typical_body(queue: str | None = None, i: int = 0) -> dict[str, Any]:
    """The JSON body of ``POST /tasks`` for ``typical_spec``; only set fields are sent."""
    return typical_spec(queue, i).model_dump(mode="json", exclude_defaults=True)


def worker_body(name: str, queues: list[str]) -> dict[str, Any]:
    return {"name": name, "queues": queues, "resources": FREE.model_dump(mode="json")}


def claim_body(queues: list[str], wait_s: float) -> dict[str, Any]:
    return {"queues": queues, "free": FREE.model_dump(mode="json"), "wait_s": wait_s}


# --------------------------------------------------------------------------- stats


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    """p50 / p99 / max / mean in milliseconds (inclusive quantiles)."""
    if len(samples_s) < 2:
        value = samples_s[0] * 1e3 if samples_s else float("nan")
        return {"n": len(samples_s), "p50": value, "p99": value, "max": value, "mean": value}
    cuts = statistics.quantiles(samples_s, n=100, method="inclusive")
    return {
        "n": len(samples_s),
        "p50": cuts[49] * 1e3,
        "p99": cuts[98] * 1e3,
        "max": max(samples_s) * 1e3,
        "mean": statistics.fmean(samples_s) * 1e3,
    }


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` and its children it has
    reaped, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine spent busy (not idle, not iowait) so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU each named process used between ``start()`` and ``stop()``, and how busy the
    whole machine was; ``others`` is what processes outside the bench used meanwhile."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._machine = 0.0
        self._before: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        """After ``stop()``: CPU seconds each process used in the window."""

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._machine = machine_busy_seconds()
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """Cores used over the window (1.0 = one full core) per process, ``machine``
        (all processes) and ``others`` (machine minus the bench's own processes)."""
        wall = max(time.monotonic() - self._t0, 1e-9)
        self.seconds = {
            name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()
        }
        used = {name: value / wall for name, value in self.seconds.items()}
        machine = (machine_busy_seconds() - self._machine) / wall
        used["machine"] = machine
        used["others"] = max(machine - sum(v for k, v in used.items() if k != "machine"), 0.0)
        return {name: round(value, 2) for name, value in used.items()}


# --------------------------------------------------------------------------- processes


@dataclass
class Stack:
    """An embedded Redis and a ``runyard-server`` on it, both on loopback, in ``root``."""

    root: Path
    redis: EmbeddedRedis
    server: subprocess.Popen[bytes]
    port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    def redis_pid(self) -> int:
        process = self.redis._process
        return process.pid if process is not None else 0

    def pids(self) -> dict[str, int]:
        """The processes of the stack: server, its jobs worker(s) and Redis."""
        found = {"server": self.server.pid, "redis": self.redis_pid()}
        for i, child in enumerate(children(self.server.pid)):
            found[f"server_child{i}"] = child
        return found


def start_stack(root: Path, timeout_s: float = 30.0, args: tuple[str, ...] = ()) -> Stack:
    redis = EmbeddedRedis(root / "redis").start()
    port = free_port()
    log = (root / "server.log").open("ab")
    command = [
        sys.executable, "-m", "runyard_server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(root / "server"),
        "--redis-url", redis.url,
        "--log-level", "warning",
        *args,
    ]  # fmt: skip
    env = {**os.environ, "RUNYARD_TOKENS": ""}
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    stack = Stack(root=root, redis=redis, server=server, port=port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stop_stack(stack)
            raise RuntimeError(f"runyard-server exited early:\n{tail(root / 'server.log')}")
        try:
            if requests.get(f"{stack.api}/healthz", timeout=1).status_code == 200:
                return stack
        except requests.RequestException:
            pass
        time.sleep(0.05)
    stop_stack(stack)
    raise RuntimeError(f"runyard-server did not come up:\n{tail(root / 'server.log')}")


@contextmanager
def running_stack(root: Path, args: tuple[str, ...] = ()) -> Iterator[Stack]:
    """A started stack (``args``: more server options), stopped at the end; a failure
    first logs the server log's tail."""
    stack = start_stack(root, args=args)
    try:
        yield stack
    except BaseException:
        log(f"server log tail:\n{tail(stack.server_log)}")
        raise
    finally:
        stop_stack(stack)


def stop_stack(stack: Stack) -> None:
    """SIGTERM the server (it stops its jobs worker), then stop Redis."""
    if stack.server.poll() is None:
        stack.server.send_signal(signal.SIGTERM)
        try:
            stack.server.wait(20)
        except subprocess.TimeoutExpired:
            stack.server.kill()
            stack.server.wait()
    stack.redis.stop()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def check(response: requests.Response, what: str) -> Any:
    """The JSON of a 2xx response; otherwise a RuntimeError naming ``what``."""
    if response.status_code // 100 != 2:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def log(message: str) -> None:
    """A timestamped progress line on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Results = dict[str, Any]


def bench_main(
    argv: list[str] | None,
    *,
    description: str,
    default_out: Path,
    quick_help: str,
    run: Callable[[bool], Results],
    check: Callable[[Results], list[dict[str, Any]]],
    render: Callable[[Results, list[dict[str, Any]]], str],
) -> None:
    """The command line every bench shares: run, judge the targets, print, write JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run(args.quick)
    results["wall_s"] = round(time.monotonic() - started, 1)
    checks = check(results)
    results["targets"] = checks
    print(render(results, checks))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.out} ({results['wall_s']} s)")
