"""``runyard queue ...``: list, create, show, reorder and delete queues."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag, name, task_id
from runyard.cli.output import age, duration, emit, table
from runyard.models import QueueDetail

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``queue`` command group to the top-level subparsers."""
    group = groups.add_parser("queue", help="list, create, show and delete queues")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("list", help="queues with their depth and oldest wait")
    add_json_flag(p)
    p.set_defaults(func=list_queues)

    p = commands.add_parser("show", help="a queue's waiting tasks in claim order")
    p.add_argument("name", type=name)
    p.add_argument("--limit", type=int, default=100, help="at most this many entries")
    add_json_flag(p)
    p.set_defaults(func=show_queue)

    p = commands.add_parser("create", help="an empty queue")
    p.add_argument("name", type=name)
    add_json_flag(p)
    p.set_defaults(func=create_queue)

    p = commands.add_parser("delete", help="an empty queue")
    p.add_argument("name", type=name)
    p.set_defaults(func=delete_queue)

    p = commands.add_parser("move", help="move a waiting task within its queue")
    p.add_argument("name", type=name)
    p.add_argument("task_id", type=task_id)
    p.add_argument("--to", choices=["top", "bottom", "up", "down"], required=True)
    add_json_flag(p)
    p.set_defaults(func=move_task)


def list_queues(client: Client, args: argparse.Namespace) -> int:
    """``queue list``."""
    queues = client.queues.list()
    rows = [(q.name, q.depth, duration(q.oldest_wait_s)) for q in queues]
    return emit(queues, args.json, lambda: table(["name", "depth", "oldest wait"], rows))


def show_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue show NAME``."""
    return _print_detail(client.queues.get(args.name, limit=args.limit), args)


def create_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue create NAME``."""
    queue = client.queues.create(args.name)
    return emit(queue, args.json, lambda: f"created queue {queue.name}")


def delete_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue delete NAME``."""
    client.queues.delete(args.name)
    print(f"deleted queue {args.name}")
    return 0


def move_task(client: Client, args: argparse.Namespace) -> int:
    """``queue move NAME TASK --to top|bottom|up|down``."""
    # The move names the task in its body, where the server takes only full ids.
    full_id = client.tasks.get(args.task_id).id
    return _print_detail(client.queues.move(args.name, full_id, args.to), args)


def _print_detail(queue: QueueDetail, args: argparse.Namespace) -> int:
    return emit(queue, args.json, lambda: _describe_detail(queue))


def _describe_detail(queue: QueueDetail) -> str:
    text = f"{queue.name}: {queue.depth} waiting, oldest {duration(queue.oldest_wait_s)}"
    if queue.entries:
        rows = [
            (
                i,
                e.task_id,
                e.name,
                e.project,
                e.priority,
                age(datetime.fromtimestamp(e.enqueued, UTC)),
            )
            for i, e in enumerate(queue.entries, 1)
        ]
        text += "\n" + table(["#", "task", "name", "project", "priority", "waiting"], rows)
    return text
