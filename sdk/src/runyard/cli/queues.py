"""``runyard queue ...``: list, create, show, reorder and delete queues."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from runyard.cli.common import add_json_flag, name, task_id
from runyard.cli.output import age, dump_json, duration, table
from runyard.client import Client
from runyard.models import QueueDetail


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
    if args.json:
        dump_json(queues)
        return 0
    rows = [(q.name, q.depth, duration(q.oldest_wait_s)) for q in queues]
    print(table(["name", "depth", "oldest wait"], rows))
    return 0


def show_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue show NAME``."""
    _print_detail(client.queues.get(args.name, limit=args.limit), args)
    return 0


def create_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue create NAME``."""
    queue = client.queues.create(args.name)
    if args.json:
        dump_json(queue)
    else:
        print(f"created queue {queue.name}")
    return 0


def delete_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue delete NAME``."""
    client.queues.delete(args.name)
    print(f"deleted queue {args.name}")
    return 0


def move_task(client: Client, args: argparse.Namespace) -> int:
    """``queue move NAME TASK --to top|bottom|up|down``."""
    _print_detail(client.queues.move(args.name, args.task_id, args.to), args)
    return 0


def _print_detail(queue: QueueDetail, args: argparse.Namespace) -> None:
    if args.json:
        dump_json(queue)
        return
    print(f"{queue.name}: {queue.depth} waiting, oldest {duration(queue.oldest_wait_s)}")
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
        print(table(["#", "task", "name", "project", "priority", "waiting"], rows))
