"""``runyard worker list``: the agents, what they have and what they run, then each GPU."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag
from runyard.cli.output import age, emit, number, table
from runyard.models import GpuState, Worker

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``worker`` command group to the top-level subparsers."""
    group = groups.add_parser("worker", help="list the agents")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser("list", help="agents with resources, running tasks and liveness")
    add_json_flag(p)
    p.set_defaults(func=list_workers)


def list_workers(client: Client, args: argparse.Namespace) -> int:
    """``worker list``."""
    workers = client.workers.list()
    rows = [
        (
            w.name,
            w.hostname,
            w.queues,
            resources(w),
            len(w.running),
            age(w.last_heartbeat) + " ago",
            w.alive,
        )
        for w in workers
    ]
    headers = ["name", "host", "queues", "resources", "running", "heartbeat", "alive"]
    return emit(workers, args.json, lambda: table(headers, rows) + gpu_table(workers))


_SHORT_ID = 8
"""Task ids shown by their first digits (the CLI takes a unique prefix of six or more)."""


def gpu_table(workers: list[Worker]) -> str:
    """A blank line and one row per GPU of every worker (model, memory, NVLink peers,
    whether it is busy with work the agent did not start, and its tasks); nothing when
    no worker has GPUs."""
    rows = []
    for w in workers:
        states = {state.index: state for state in w.gpu_state}
        for gpu in w.gpus:
            state = states.get(gpu.index, GpuState(index=gpu.index))
            rows.append(
                (
                    w.name,
                    gpu.index,
                    gpu.name,
                    f"{number(gpu.memory_gb)} GB",
                    gpu.peers,
                    "busy" if state.busy else "in use" if state.tasks else "free",
                    f"{state.foreign_mb} MiB" if state.foreign_mb else "",
                    [_share(t.task_id, t.share) for t in state.tasks],
                )
            )
    if not rows:
        return ""
    headers = ["worker", "gpu", "model", "memory", "nvlink", "state", "foreign", "tasks"]
    return "\n\n" + table(headers, rows)


def _share(task_id: str, share: float) -> str:
    return task_id[:_SHORT_ID] + ("" if share == 1 else f" ({number(share)})")


def resources(worker: Worker) -> str:
    """``2 GPU (A100), 16 CPU, 64 GB``: GPU models named once each."""
    res = worker.resources
    text = f"{number(res.gpus)} GPU"
    models = sorted({g.name for g in worker.gpus if g.name})
    if models:
        text += f" ({', '.join(models)})"
    return f"{text}, {number(res.cpus)} CPU, {number(res.memory_gb)} GB"
