"""``runyard worker list``: the agents, what they have and what they run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag
from runyard.cli.output import age, emit, number, table
from runyard.models import Worker

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
    return emit(workers, args.json, lambda: table(headers, rows))


def resources(worker: Worker) -> str:
    """``2 GPU (A100), 16 CPU, 64 GB``: GPU models named once each."""
    res = worker.resources
    text = f"{number(res.gpus)} GPU"
    models = sorted({g.name for g in worker.gpus if g.name})
    if models:
        text += f" ({', '.join(models)})"
    return f"{text}, {number(res.cpus)} CPU, {number(res.memory_gb)} GB"
