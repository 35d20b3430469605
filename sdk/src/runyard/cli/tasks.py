"""``runyard task ...``: list, show, create, clone, move and follow tasks."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard._code_bundle import ship_unpushed
from runyard.capture.git import GitError, capture_repository, find_root
from runyard.cli import compare, purge, reproduce, results
from runyard.cli.common import (
    UsageError,
    add_create_queue_flag,
    add_json_flag,
    full_task_id,
    name,
    params_from,
    parse_param,
    print_warnings,
    read_requirements,
    task_id,
)
from runyard.cli.output import age, details, dump_json, emit, number, scalar, table
from runyard.cli.resources import (
    add_resource_flags,
    describe_placement,
    describe_resources,
    resource_flags_given,
    resources_from,
)
from runyard.models import (
    METRIC_MAX_SORT,
    METRIC_MIN_SORT,
    METRIC_SORT,
    SORT_FIELDS,
    CloneRequest,
    Environment,
    LogLine,
    Script,
    SortOrder,
    Task,
    TaskCreate,
    TaskStatus,
    merged_args,
)
from runyard.models.limits import MAX_PAGE

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``task`` command group to the top-level subparsers."""
    group = groups.add_parser("task", help="list, show, create, clone, queue and follow tasks")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_list(commands)
    _add_show(commands)
    _add_create(commands)
    _add_clone(commands)
    _add_moves(commands)
    _add_logs(commands)
    purge.add(commands)
    compare.add(commands)
    reproduce.add(commands)
    results.add(commands)


def _add_list(commands: Any) -> None:
    p = commands.add_parser("list", help="tasks, newest first or sorted (across all tasks)")
    p.add_argument("--project")
    p.add_argument("--status", choices=[s.value for s in TaskStatus])
    p.add_argument("--queue")
    p.add_argument("--tag")
    p.add_argument("--parent", type=full_task_id, help="only clones of this (full) task id")
    p.add_argument("--owner", help="only tasks this user created")
    p.add_argument("--mine", action="store_true", help="only tasks you created")
    p.add_argument(
        "--search", "--name", dest="q", metavar="TEXT", help="only names containing TEXT (any case)"
    )
    p.add_argument(
        "--sort",
        default="created",
        metavar="FIELD",
        help=f"{', '.join(SORT_FIELDS)}, {METRIC_SORT}SERIES (its last value, e.g. "
        f"{METRIC_SORT}val/acc), {METRIC_MIN_SORT}SERIES or {METRIC_MAX_SORT}SERIES (its "
        "smallest or largest value); tasks without the value come last",
    )
    p.add_argument(
        "--order",
        choices=[o.value for o in SortOrder],
        help="default: asc for name, else desc",
    )
    p.add_argument("--limit", type=int, default=50, help=f"at most this many (1..{MAX_PAGE})")
    add_json_flag(p)
    p.set_defaults(func=list_tasks)


def _add_show(commands: Any) -> None:
    p = commands.add_parser("show", help="one task in detail")
    p.add_argument("id", type=task_id)
    add_json_flag(p)
    p.set_defaults(func=show_task)


def _add_create(commands: Any) -> None:
    p = commands.add_parser("create", help="a new task (queued at once with --queue)")
    p.add_argument("--name", default="untitled")
    p.add_argument("--project", default="default")
    p.add_argument(
        "--repo",
        default="",
        help="git URL or local path of the code; a local work tree is recorded as it is "
        "(remote, commit, branch and uncommitted changes)",
    )
    p.add_argument("--commit", help="commit to run (default: a local --repo's HEAD)")
    p.add_argument("--branch")
    p.add_argument(
        "--no-diff", action="store_true", help="leave a local --repo's uncommitted changes out"
    )
    p.add_argument("--script", default="", help="entry point, relative to the repository root")
    p.add_argument("--working-dir", default=".")
    p.add_argument(
        "--arg", action="append", default=[], help="script argument (repeat; --arg=--lr=1)"
    )
    p.add_argument("--requirement", action="append", default=[], help="package spec (repeat)")
    p.add_argument(
        "--requirements",
        metavar="FILE",
        help="a requirements.txt, or a pyproject.toml with optional groups "
        "(pyproject.toml[train]); its own package and uv.lock are used from the checkout",
    )
    p.add_argument("--python", help="python version, e.g. 3.11")
    p.add_argument("--docker-image")
    _add_param_flag(p)
    add_resource_flags(p)
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.add_argument("--queue", type=name, help="enqueue on this queue at once")
    p.add_argument("--priority", type=int, default=0, help="higher runs first")
    add_create_queue_flag(p)
    add_json_flag(p)
    p.set_defaults(func=create_task)


def _add_clone(commands: Any) -> None:
    p = commands.add_parser("clone", help="a new draft copied from a task, with overrides")
    p.add_argument("id", type=task_id)
    p.add_argument("--name")
    _add_param_flag(p)
    p.add_argument(
        "--new-param",
        action="append",
        default=[],
        metavar="SECTION/KEY=VALUE",
        help="add a param the task does not have (repeat); --param only changes recorded ones",
    )
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a script argument of the clone (repeat; --arg=--lr=1): KEY=VALUE (a Hydra "
        "override such as model.depth=3, or --flag=value) replaces the argument that sets "
        "KEY, anything else is appended",
    )
    p.add_argument(
        "--no-args",
        action="store_true",
        help="drop the source's script arguments (the clone gets only its --arg ones)",
    )
    p.add_argument("--tag", action="append", help="replace the tags (repeatable)")
    p.add_argument(
        "--pin-installed",
        action="store_true",
        help="pin the exact versions the task had installed in place of its requirements",
    )
    p.add_argument("--queue", type=name, help="enqueue the clone at once")
    p.add_argument("--priority", type=int, default=0)
    add_resource_flags(p, replace=True)
    add_create_queue_flag(p)
    add_json_flag(p)
    p.set_defaults(func=clone_task)


def _add_param_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="SECTION/KEY=VALUE",
        help="hyperparameter (repeat); VALUE is JSON when it parses, else a string",
    )


def _add_moves(commands: Any) -> None:
    p = commands.add_parser("enqueue", help="put a draft task on a queue")
    p.add_argument("id", type=task_id)
    p.add_argument("--queue", type=name, required=True)
    p.add_argument("--priority", type=int, default=0, help="higher runs first")
    add_create_queue_flag(p)
    add_json_flag(p)
    p.set_defaults(func=enqueue_task)
    p = commands.add_parser(
        "move", help="move a queued task to another queue in one step (it stays queued)"
    )
    p.add_argument("id", type=task_id)
    p.add_argument("--queue", type=name, required=True)
    p.add_argument(
        "--priority", type=int, default=None, help="its priority there (default: its own)"
    )
    add_create_queue_flag(p)
    add_json_flag(p)
    p.set_defaults(func=move_task)
    for command, help_text in (
        ("dequeue", "take a queued task back to draft"),
        ("abort", "stop a task (a running one is stopped by its agent)"),
        ("delete", "delete a task that is not queued or running"),
    ):
        p = commands.add_parser(command, help=help_text)
        p.add_argument("id", type=task_id)
        if command != "delete":
            add_json_flag(p)
        p.set_defaults(func=_SIMPLE[command])


def _add_logs(commands: Any) -> None:
    p = commands.add_parser("logs", help="console output of a task")
    p.add_argument("id", type=task_id)
    how = p.add_mutually_exclusive_group()
    how.add_argument("-f", "--follow", action="store_true", help="stream until the task ends")
    how.add_argument(
        "--all", action="store_true", help="the whole log as plain text, streamed (to a file)"
    )
    how.add_argument("--tail", type=int, metavar="N", help="only the last N lines (1..10000)")
    p.set_defaults(func=task_logs)


def list_tasks(client: Client, args: argparse.Namespace) -> int:
    """``task list``."""
    if not 1 <= args.limit <= MAX_PAGE:
        raise UsageError(f"--limit must be between 1 and {MAX_PAGE}")
    filters = {k: getattr(args, k) for k in ("project", "status", "queue", "tag", "parent", "q")}
    filters["owner"] = args.owner
    if args.mine:
        me = client.tokens.me().user
        if me is None:
            raise UsageError("--mine needs a user token: this server does not know who you are")
        filters["owner"] = me
    page = client.tasks.list(limit=args.limit, sort=args.sort, order=args.order, **filters)
    if args.json:
        dump_json(page.items)
        return 0
    headers = ["id", "status", "project", "name", "owner", "queue", "priority", "created"]
    rows: list[tuple[object, ...]] = [
        (
            t.id,
            t.status.value + (f" ({t.state_detail})" if t.state_detail else ""),
            t.project,
            t.name,
            t.owner,
            t.queue,
            t.priority,
            age(t.created) + " ago",
        )
        for t in page.items
    ]
    if args.sort.startswith((METRIC_SORT, METRIC_MIN_SORT, METRIC_MAX_SORT)):
        kind, _, series = args.sort.partition(":")
        headers.append(series if kind == "metric" else f"{series} ({kind.removeprefix('metric_')})")
        values = page.metric_values
        rows = [
            (*row, number(values[t.id]) if t.id in values else "")
            for row, t in zip(rows, page.items, strict=True)
        ]
    print(table(headers, rows))
    return 0


def show_task(client: Client, args: argparse.Namespace) -> int:
    """``task show ID``."""
    task = client.tasks.get(args.id)
    return emit(task, args.json, lambda: describe(task) + results.summary(client, task.id))


def preempted(task: Task) -> str | None:
    """``2 times, last by TASK at TIME``; None when never preempted."""
    if not task.preempted:
        return None
    times = "once" if task.preempted == 1 else f"{task.preempted} times"
    at = task.preempted_at and task.preempted_at.isoformat(timespec="seconds")
    return f"{times}, last by task {task.preempted_by} at {at} (requeued, not counted as a failure)"


def describe(task: Task) -> str:
    """A task as aligned ``key: value`` lines, params flattened to ``Section/key``."""
    script, env, res = task.script, task.environment, task.resources
    status = task.status.value + (" (abort requested)" if task.abort_requested else "")
    dropped = f"{task.logs_dropped} (spool quota reached)" if task.logs_dropped else None
    pairs: list[tuple[str, object]] = [
        ("id", task.id),
        ("name", task.name),
        ("project", task.project),
        ("status", status),
        ("state", task.state_detail),
        ("owner", task.owner),
        ("parent", task.parent),
        ("origin", task.origin),
        ("tags", task.tags),
        ("queue", task.queue and f"{task.queue} (priority {task.priority})"),
        ("worker", task.worker),
        ("attempt", task.attempt or None),
        ("preempted", preempted(task)),
        ("created", task.created.isoformat(timespec="seconds")),
        ("started", task.started and task.started.isoformat(timespec="seconds")),
        ("finished", task.finished and task.finished.isoformat(timespec="seconds")),
        ("exit code", task.exit_code),
        ("failure", task.failure_reason),
        ("dropped lines", dropped),
        ("repository", script.repository),
        ("commit", script.commit),
        ("branch", script.branch),
        ("diff", script.diff and f"{len(script.diff.encode())} bytes"),
        ("entry point", script.entry_point),
        ("working dir", script.working_dir),
        ("args", shlex.join(script.args)),
        ("python", env.python),
        ("requirements", ", ".join(env.requirements)),
        ("repo packages", ", ".join(env.repo_packages)),
        ("lock file", env.lock_file),
        ("installed", ", ".join(f"{p.name}=={p.version}" for p in env.installed)),
        ("docker image", env.docker_image),
        ("resources", describe_resources(res)),
        ("placement", "; ".join(describe_placement(p) for p in task.placement)),
        ("nodes", f"{res.nodes} (one rank per agent)" if res.nodes > 1 else None),
    ]
    pairs += [
        (f"{s}/{k}", scalar(v)) for s, values in task.params.items() for k, v in values.items()
    ]
    return details(pairs)


def create_task(client: Client, args: argparse.Namespace) -> int:
    """``task create``."""
    from_file = (
        read_requirements(args.requirements, _local_root(args)) if args.requirements else None
    )
    environment = Environment(
        python=args.python,
        requirements=[*args.requirement, *(from_file.requirements if from_file else [])],
        docker_image=args.docker_image,
        repo_packages=from_file.repo_packages if from_file else [],
        lock_file=from_file.lock_file if from_file else None,
    )
    spec = TaskCreate(
        name=args.name,
        project=args.project,
        tags=args.tag,
        script=_script(client, args),
        environment=environment,
        params=params_from(args.param),
        resources=resources_from(args),
        queue=args.queue,
        priority=args.priority,
        create_queue=args.create_queue,
    )
    return _print_task(client.tasks.create(spec), args, "created")


def _local_root(args: argparse.Namespace) -> Path | None:
    """The root of a local ``--repo``: a relative ``--requirements`` is read from there, as
    ``Task.init(requirements=...)`` reads it; None (the current folder) otherwise."""
    local = Path(args.repo).expanduser() if args.repo else None
    if local is None or not local.is_dir():
        return None
    return find_root(local)


def _script(client: Client, args: argparse.Namespace) -> Script:
    """The script of ``task create``: a local work tree's state unless told otherwise;
    commits no remote has go to the server as a code bundle."""
    script = Script(
        repository=args.repo,
        commit=args.commit,
        branch=args.branch,
        entry_point=args.script,
        working_dir=args.working_dir,
        args=args.arg,
    )
    local = Path(args.repo).expanduser() if args.repo else None
    if local is None or not local.is_dir() or args.commit:
        return script
    root = find_root(local)
    if root is None:
        raise UsageError(f"--repo {args.repo}: not inside a git work tree")
    try:
        state = capture_repository(root)
    except GitError as exc:
        raise UsageError(f"--repo {args.repo}: {exc}") from None
    print_warnings(list(state.warnings))
    recorded = script.model_copy(
        update={
            "repository": state.repository,
            "commit": state.commit,
            "branch": args.branch or state.branch,
            "diff": "" if args.no_diff else state.diff,
        }
    )
    try:
        shipped, notice = ship_unpushed(client, recorded, root)
    except GitError as exc:
        raise UsageError(f"--repo {args.repo}: cannot bundle the unpushed commits: {exc}") from None
    if notice:
        print(f"runyard: {notice}", file=sys.stderr)
    return shipped


def clone_task(client: Client, args: argparse.Namespace) -> int:
    """``task clone ID``."""
    script_args, resources = None, None
    given = resource_flags_given(args)
    source = client.tasks.get(args.id) if given or (args.arg and not args.no_args) else None
    if args.arg or args.no_args:
        kept = [] if args.no_args or source is None else source.script.args
        script_args = merged_args(kept, args.arg)
    if given and source is not None:
        resources = resources_from(args, source.resources)
    request = CloneRequest(
        name=args.name,
        overrides=dict(parse_param(text) for text in args.param),
        new_params=dict(parse_param(text) for text in args.new_param),
        args=script_args,
        queue=args.queue,
        priority=args.priority,
        create_queue=args.create_queue,
        tags=args.tag,
        pin_installed=args.pin_installed,
        resources=resources,
    )
    return _print_task(client.tasks.clone(args.id, request), args, "cloned")


def enqueue_task(client: Client, args: argparse.Namespace) -> int:
    """``task enqueue ID --queue Q``."""
    task = client.tasks.enqueue(args.id, args.queue, args.priority, create_queue=args.create_queue)
    return _print_task(task, args, "enqueued")


def move_task(client: Client, args: argparse.Namespace) -> int:
    """``task move ID --queue Q``."""
    task = client.tasks.move(
        args.id, args.queue, priority=args.priority, create_queue=args.create_queue
    )
    return _print_task(task, args, "moved")


def dequeue_task(client: Client, args: argparse.Namespace) -> int:
    """``task dequeue ID``."""
    return _print_task(client.tasks.dequeue(args.id), args, "dequeued")


def abort_task(client: Client, args: argparse.Namespace) -> int:
    """``task abort ID``."""
    return _print_task(client.tasks.abort(args.id), args, "aborted")


def delete_task(client: Client, args: argparse.Namespace) -> int:
    """``task delete ID``."""
    client.tasks.delete(args.id)
    print(f"deleted {args.id}")
    return 0


def task_logs(client: Client, args: argparse.Namespace) -> int:
    """``task logs ID [-f | --all | --tail N]``: the lines as the task printed them."""
    if args.all:
        for piece in client.logs.text(args.id):
            sys.stdout.buffer.write(piece)
        return 0
    if args.tail is not None:
        if not 1 <= args.tail <= 10_000:
            raise UsageError("--tail must be between 1 and 10000")
        lines: Iterator[LogLine] = iter(client.logs.tail(args.id, args.tail).lines)
    elif args.follow:
        lines = client.logs.follow(args.id)
    else:
        lines = client.logs.iter(args.id)
    for line in lines:
        sys.stdout.write(line.text if line.text.endswith("\n") else line.text + "\n")
        if args.follow:
            sys.stdout.flush()
    return 0


def _print_task(task: Task, args: argparse.Namespace, verb: str) -> int:
    print_warnings(task.warnings)
    where = f" on {task.queue}" if task.status is TaskStatus.QUEUED and task.queue else ""
    extra = " (abort requested)" if task.abort_requested else ""
    return emit(
        task,
        args.json,
        lambda: f"{verb} {task.id} {task.name!r}: {task.status.value}{where}{extra}",
    )


_SIMPLE = {"dequeue": dequeue_task, "abort": abort_task, "delete": delete_task}
