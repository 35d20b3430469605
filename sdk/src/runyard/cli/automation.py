"""``runyard schedule|trigger|webhook ...``: work the server starts on its own
(a clone of a task on a cron, or when a task ends a certain way), and webhooks that
POST each event to a URL."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_args

from runyard.cli.common import UsageError, add_json_flag, name, parse_param, task_id
from runyard.cli.output import age, details, emit, table
from runyard.models import (
    EVENT_KINDS,
    CatchUp,
    Comparison,
    RunTarget,
    Schedule,
    ScheduleCreate,
    Trigger,
    TriggerCreate,
    Webhook,
    WebhookCreate,
)

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``schedule``, ``trigger`` and ``webhook`` command groups."""
    _register_schedules(groups)
    _register_triggers(groups)
    _register_webhooks(groups)


def _target_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("task_id", type=task_id, nargs="?", help="the task each run clones")
    p.add_argument("--pipeline", help="run this pipeline instead of cloning a task")
    p.add_argument("--queue", type=name, default="default", help="where each clone waits")
    p.add_argument("--priority", type=int, default=0)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="Section/key=value",
        help="override a recorded param in each clone, or (with --pipeline) set a "
        "pipeline parameter NAME=value (repeat)",
    )


def _id_commands(
    commands: Any, what: str, actions: dict[str, tuple[str, Callable[..., int]]]
) -> None:
    for command, (text, func) in actions.items():
        p = commands.add_parser(command, help=text)
        p.add_argument("id", help=f"the {what}'s id")
        if command != "delete":
            add_json_flag(p)
        p.set_defaults(func=func)


def _register_schedules(groups: Any) -> None:
    group = groups.add_parser("schedule", help="clone and enqueue a task on a cron")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser("create", help="a schedule; its first run is the next cron time")
    _target_flags(p)
    p.add_argument(
        "--cron",
        required=True,
        help="5 fields (minute hour day month weekday), or 6 with seconds last",
    )
    p.add_argument("--tz", default="UTC", help="IANA time zone the cron is read in")
    p.add_argument(
        "--catch-up",
        choices=get_args(CatchUp),
        default="once",
        help="runs missed while the server was down: one run (once), each, or none",
    )
    p.add_argument("--name")
    add_json_flag(p)
    p.set_defaults(func=create_schedule)
    p = commands.add_parser("list", help="every schedule with its next run")
    add_json_flag(p)
    p.set_defaults(func=list_schedules)
    _id_commands(
        commands,
        "schedule",
        {
            "show": ("a schedule and its next run times", _on_one("schedules", "get")),
            "pause": ("start no run until resumed", _on_one("schedules", "pause")),
            "resume": ("run again from the next cron time", _on_one("schedules", "resume")),
            "delete": ("delete a schedule", delete_schedule),
        },
    )


def _register_triggers(groups: Any) -> None:
    group = groups.add_parser("trigger", help="clone and enqueue a task when a task ends")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser("create", help="a trigger on tasks that end a certain way")
    _target_flags(p)
    p.add_argument("--project", type=name, help="watch the tasks of this project")
    p.add_argument("--tag", help="watch the tasks with this tag")
    p.add_argument("--on", default="failed", help="final statuses that fire it, comma-separated")
    p.add_argument("--metric", help="fire only when this series' final value …")
    p.add_argument("--op", choices=get_args(Comparison), default=">=", help="… compares …")
    p.add_argument("--threshold", type=float, help="… to this number")
    p.add_argument("--name")
    add_json_flag(p)
    p.set_defaults(func=create_trigger)
    p = commands.add_parser("list", help="every trigger")
    add_json_flag(p)
    p.set_defaults(func=list_triggers)
    _id_commands(
        commands,
        "trigger",
        {
            "show": ("a trigger and what it fired last", _on_one("triggers", "get")),
            "pause": ("fire no more until resumed", _on_one("triggers", "pause")),
            "resume": ("fire again", _on_one("triggers", "resume")),
            "delete": ("delete a trigger", delete_trigger),
        },
    )


def _register_webhooks(groups: Any) -> None:
    group = groups.add_parser("webhook", help="POST events to a URL")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser("create", help="a webhook; prints its signing secret once")
    p.add_argument("url")
    p.add_argument("--events", required=True, help=f"comma-separated, of: {', '.join(EVENT_KINDS)}")
    p.add_argument("--project", type=name, help="only this project's events")
    p.add_argument("--format", choices=["json", "slack"], default="json")
    add_json_flag(p)
    p.set_defaults(func=create_webhook)
    p = commands.add_parser("list", help="your webhooks (every one, for an admin)")
    add_json_flag(p)
    p.set_defaults(func=list_webhooks)
    p = commands.add_parser("deliveries", help="a webhook's delivery log, newest first")
    p.add_argument("id")
    p.add_argument("--limit", type=int, default=50)
    add_json_flag(p)
    p.set_defaults(func=webhook_deliveries)
    _id_commands(
        commands,
        "webhook",
        {"show": ("a webhook", show_webhook), "delete": ("delete a webhook", delete_webhook)},
    )


def _on_one(resource: str, action: str) -> Callable[[Client, argparse.Namespace], int]:
    """``schedule|trigger show|pause|resume ID``: call ``client.<resource>.<action>(ID)``
    and print what it answers."""

    def run(client: Client, args: argparse.Namespace) -> int:
        found = getattr(getattr(client, resource), action)(args.id)
        text = _schedule_text if isinstance(found, Schedule) else _trigger_text
        return emit(found, args.json, lambda: text(found))

    return run


def _target(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    if (args.task_id is None) == (args.pipeline is None):
        raise UsageError("give a TASK_ID to clone or --pipeline ID to run (one of them)")
    if args.pipeline is not None:
        return {"pipeline": args.pipeline, "params": dict(map(_run_param, args.param))}
    return {
        "task": client.tasks.get(args.task_id).id,  # a short id made whole
        "queue": args.queue,
        "priority": args.priority,
        "overrides": dict(parse_param(text) for text in args.param),
    }


def _run_param(text: str) -> tuple[str, Any]:
    """``"day=mon"`` → ``("day", "mon")``: the value as JSON when it parses."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--param {text!r}: a pipeline parameter is NAME=value")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


_SCHEDULE_HEAD = ["id", "starts", "cron", "tz", "queue", "next run", "last run", "runs", "paused"]


def _what(target: RunTarget) -> str:
    return f"pipeline {target.pipeline}" if target.pipeline else f"task {target.task}"


def _schedule_row(s: Schedule) -> tuple[object, ...]:
    nxt = _when(s.next_runs[0]) if s.next_runs else "-"
    return (s.id, _what(s), s.cron, s.tz, s.queue, nxt, _when(s.last_run), s.runs, s.paused)


def _schedule_text(s: Schedule) -> str:
    return details(
        [
            ("id", s.id),
            ("name", s.name),
            ("starts", _what(s)),
            ("params", ", ".join(f"{k}={v}" for k, v in s.params.items())),
            ("project", s.project),
            ("queue", s.queue),
            ("overrides", ", ".join(f"{k}={v}" for k, v in s.overrides.items())),
            ("cron", f"{s.cron} ({s.tz})"),
            ("catch up", s.catch_up),
            ("paused", s.paused),
            ("next runs", "\n".join(_when(t) for t in s.next_runs)),
            ("last run", _when(s.last_run) if s.last_run else None),
            ("last task", s.last_task),
            ("last error", s.last_error),
            ("runs", s.runs),
            ("owner", s.owner),
        ]
    )


def create_schedule(client: Client, args: argparse.Namespace) -> int:
    """``schedule create TASK_ID --cron CRON [--tz TZ] [--queue Q] [--param k=v]``."""
    body = ScheduleCreate(
        **_target(client, args), cron=args.cron, tz=args.tz, catch_up=args.catch_up, name=args.name
    )
    made = client.schedules.create(body)
    return emit(made, args.json, lambda: _schedule_text(made))


def list_schedules(client: Client, args: argparse.Namespace) -> int:
    found = client.schedules.list()
    return emit(found, args.json, lambda: table(_SCHEDULE_HEAD, map(_schedule_row, found)))


def delete_schedule(client: Client, args: argparse.Namespace) -> int:
    client.schedules.delete(args.id)
    return 0


def _rule(t: Trigger) -> str:
    watched = [f"project {t.watch_project}"] if t.watch_project else []
    watched += [f"tag {t.watch_tag}"] if t.watch_tag else []
    rule = f"{' and '.join(watched) or 'any task'} ends {'|'.join(t.statuses)}"
    return rule + (f", {t.metric} {t.op} {t.threshold:g}" if t.threshold is not None else "")


_TRIGGER_HEAD = ["id", "when", "starts", "queue", "fired", "last fired", "paused"]


def _trigger_row(t: Trigger) -> tuple[object, ...]:
    return (t.id, _rule(t), _what(t), t.queue, t.fired, age(t.last_fired), t.paused)


def _trigger_text(t: Trigger) -> str:
    return details(
        [
            ("id", t.id),
            ("name", t.name),
            ("when", _rule(t)),
            ("starts", _what(t)),
            ("queue", t.queue),
            ("paused", t.paused),
            ("fired", t.fired),
            ("last task", t.last_task),
            ("last error", t.last_error),
            ("owner", t.owner),
        ]
    )


def create_trigger(client: Client, args: argparse.Namespace) -> int:
    """``trigger create TASK_ID [--project P] [--tag T] [--on failed,...] [--metric S
    --op OP --threshold X] [--queue Q] [--param k=v]``."""
    body = TriggerCreate.model_validate(
        {
            **_target(client, args),
            "watch_project": args.project,
            "watch_tag": args.tag,
            "statuses": [s.strip() for s in args.on.split(",") if s.strip()],
            "metric": args.metric,
            "op": args.op,
            "threshold": args.threshold,
            "name": args.name,
        }
    )
    made = client.triggers.create(body)
    return emit(made, args.json, lambda: _trigger_text(made))


def list_triggers(client: Client, args: argparse.Namespace) -> int:
    found = client.triggers.list()
    return emit(found, args.json, lambda: table(_TRIGGER_HEAD, map(_trigger_row, found)))


def delete_trigger(client: Client, args: argparse.Namespace) -> int:
    client.triggers.delete(args.id)
    return 0


_WEBHOOK_HEAD = ["id", "url", "events", "project", "format", "owner"]


def _webhook_row(w: Webhook) -> tuple[object, ...]:
    return (w.id, w.url, ",".join(w.events), w.project, w.format, w.owner)


def create_webhook(client: Client, args: argparse.Namespace) -> int:
    """``webhook create URL --events task.failed,... [--project P] [--format slack]``."""
    events = [e.strip() for e in args.events.split(",") if e.strip()]
    body = WebhookCreate.model_validate(
        {"url": args.url, "events": events, "project": args.project, "format": args.format}
    )
    made = client.webhooks.create(body)
    if not args.json:
        print(
            "runyard: the secret below signs every delivery (X-Runyard-Signature: "
            "sha256=HMAC-SHA256(secret, body)); it is not shown again",
            file=sys.stderr,
        )
    return emit(made, args.json, lambda: details([("id", made.id), ("secret", made.secret)]))


def list_webhooks(client: Client, args: argparse.Namespace) -> int:
    found = client.webhooks.list()
    return emit(found, args.json, lambda: table(_WEBHOOK_HEAD, map(_webhook_row, found)))


def show_webhook(client: Client, args: argparse.Namespace) -> int:
    found = client.webhooks.get(args.id)
    return emit(found, args.json, lambda: table(_WEBHOOK_HEAD, [_webhook_row(found)]))


def delete_webhook(client: Client, args: argparse.Namespace) -> int:
    client.webhooks.delete(args.id)
    return 0


def webhook_deliveries(client: Client, args: argparse.Namespace) -> int:
    """``webhook deliveries ID [--limit N]``."""
    found = client.webhooks.deliveries(args.id, args.limit)
    head = ["event id", "event", "status", "attempts", "code", "last attempt", "next", "error"]
    rows = [
        (d.event_id, d.event, d.status, d.attempts, d.response_code, age(d.last_attempt),
         _when(d.next_attempt) if d.next_attempt else "-", d.error)
        for d in found
    ]  # fmt: skip
    return emit(found, args.json, lambda: table(head, rows))
