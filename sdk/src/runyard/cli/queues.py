"""``runyard queue ...``: list, create, show, set limits, reorder and delete queues."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runyard.cli.common import UsageError, add_json_flag, name, task_id
from runyard.cli.output import age, duration, emit, table
from runyard.models import Queue, QueueDetail, QueueUpdate

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

    p = commands.add_parser(
        "set", help="a queue's limits and preemptible flag (only the options given change)"
    )
    p.add_argument("name", type=name)
    # SUPPRESS: an option not given is not sent, so the server keeps its value.
    p.add_argument(
        "--max-running",
        type=_limit(int),
        default=argparse.SUPPRESS,
        metavar="N|none",
        help="most of its tasks running at once (none: no limit; 0 pauses the queue)",
    )
    p.add_argument(
        "--max-gpus",
        type=_limit(float),
        default=argparse.SUPPRESS,
        metavar="G|none",
        help="most GPUs its running tasks hold at once, shares as their share (none: no limit)",
    )
    p.add_argument(
        "--preemptible",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="a higher-priority task that fits nowhere may preempt this queue's tasks",
    )
    for who in ("projects", "users"):
        p.add_argument(
            f"--allowed-{who}",
            type=_names,
            default=argparse.SUPPRESS,
            metavar="A,B|''",
            help=f"only these {who} may use the queue (admins only; '' lets anyone)",
        )
    add_json_flag(p)
    p.set_defaults(func=set_queue)

    p = commands.add_parser("delete", help="an empty queue")
    p.add_argument("name", type=name)
    p.set_defaults(func=delete_queue)

    p = commands.add_parser("move", help="move a waiting task within its queue")
    p.add_argument("name", type=name)
    p.add_argument("task_id", type=task_id)
    p.add_argument("--to", choices=["top", "bottom", "up", "down"], required=True)
    add_json_flag(p)
    p.set_defaults(func=move_task)


def _limit(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number of ``kind``, or ``none`` for no limit."""

    def parse(text: str) -> int | float | None:
        if text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'none'") from None

    return parse


def _of(used: float, limit: float | None) -> str:
    """``used/limit``, or ``used`` alone without a limit."""
    return f"{used:g}" if limit is None else f"{used:g}/{limit:g}"


_HEAD = ["name", "depth", "oldest wait", "running", "gpus", "preemptible"]


def _row(q: Queue) -> tuple[object, ...]:
    return (
        q.name,
        q.depth,
        duration(q.oldest_wait_s),
        _of(q.running, q.max_running),
        _of(q.gpus_in_use, q.max_gpus),
        "yes" if q.preemptible else "no",
    )


def _names(text: str) -> list[str]:
    """argparse type: comma-separated names ('' for none)."""
    return [name(part.strip()) for part in text.split(",") if part.strip()]


def list_queues(client: Client, args: argparse.Namespace) -> int:
    """``queue list``."""
    queues = client.queues.list()
    return emit(queues, args.json, lambda: table(_HEAD, [_row(q) for q in queues]))


def set_queue(client: Client, args: argparse.Namespace) -> int:
    """``queue set NAME [--max-running N|none] [--max-gpus G|none] [--[no-]preemptible]
    [--allowed-projects A,B] [--allowed-users A,B]``."""
    fields = {f: getattr(args, f) for f in QueueUpdate.model_fields if hasattr(args, f)}
    if not fields:
        raise UsageError(
            "queue set: give --max-running, --max-gpus, --[no-]preemptible, "
            "--allowed-projects or --allowed-users"
        )
    queue = client.queues.update(args.name, QueueUpdate.model_validate(fields))
    return emit(queue, args.json, lambda: table(_HEAD, [_row(queue)]))


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
    text += f"; running {_of(queue.running, queue.max_running)}"
    text += f", GPUs {_of(queue.gpus_in_use, queue.max_gpus)}"
    text += ", preemptible" if queue.preemptible else ""
    for who, names in (("projects", queue.allowed_projects), ("users", queue.allowed_users)):
        text += f"; only {who} {', '.join(names)}" if names else ""
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
