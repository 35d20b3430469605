"""``runyard sweep ...``: start, follow, stop and resume hyperparameter sweeps, and
take their best trial further (a clone, or a rerun with the reproduce verdict)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from runyard.cli import reproduce
from runyard.cli.common import UsageError, add_json_flag, full_task_id, name, task_id
from runyard.cli.output import age, dump_json, emit, table
from runyard.cli.purge import days
from runyard.cli.sweep_show import add_show, best_line
from runyard.errors import RunyardError
from runyard.models import CloneBestRequest, PrunerKind, SamplerKind, Sweep, SweepStatus

if TYPE_CHECKING:
    from runyard.client import Client

_SECONDS_PER_DAY = 86400


def register(groups: Any) -> None:
    """Add the ``sweep`` command group to the top-level subparsers."""
    group = groups.add_parser(
        "sweep", help="search hyperparameters over clones of a task, with early stopping"
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_create(commands)
    add_show(commands)

    p = commands.add_parser("list", help="sweeps, newest first")
    p.add_argument("--project")
    p.add_argument("--status", choices=[s.value for s in SweepStatus])
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_json_flag(p)
    p.set_defaults(func=list_sweeps)

    p = commands.add_parser("stop", help="no new trials; the trials in flight are aborted")
    p.add_argument("id", type=full_task_id, metavar="ID")
    p.add_argument("--reason", help="kept on the sweep and in its log")
    add_json_flag(p)
    p.set_defaults(func=stop_sweep)

    p = commands.add_parser("resume", help="start a stopped sweep again")
    p.add_argument("id", type=full_task_id, metavar="ID")
    add_json_flag(p)
    p.set_defaults(func=resume_sweep)

    p = commands.add_parser("best", help="the best trial's params; --clone makes a normal task")
    p.add_argument("id", type=full_task_id, metavar="ID")
    p.add_argument("--clone", action="store_true", help="clone the best trial's task")
    p.add_argument("--queue", type=name, help="with --clone: queue the clone goes to")
    p.add_argument("--name", help="with --clone: the clone's name")
    add_json_flag(p)
    p.set_defaults(func=best_trial)

    p = commands.add_parser(
        "reproduce", help="rerun the best trial unchanged, wait, and check its final metrics"
    )
    p.add_argument("id", type=full_task_id, metavar="ID")
    p.add_argument("--queue", type=name, help="queue the rerun goes to (default: the sweep's)")
    reproduce.add_verdict_flags(p)
    p.set_defaults(func=reproduce_best)


def _add_create(commands: Any) -> None:
    p = commands.add_parser(
        "create",
        help="start a sweep over clones of BASE (or of the file's base)",
        description="Flags override the file's fields; --param adds to its params.",
    )
    # Every option defaults to None, so a file's value stays unless a flag is given.
    p.add_argument("base", nargs="?", type=task_id, metavar="BASE", help="the task to clone")
    p.add_argument("-f", "--file", metavar="YAML", help="a sweep spec (SweepCreate's fields)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="Section/key=DIST",
        help="uniform(lo,hi[,step]), loguniform(lo,hi), int(lo,hi[,step]) or choice(a,b,...)",
    )
    p.add_argument("--objective", metavar="SERIES", help="the metric series to optimise")
    p.add_argument("--direction", choices=["min", "max"])
    p.add_argument("--trials", type=int, help="trials with a result to run (default 20)")
    p.add_argument("--parallel", type=int, help="trials queued or running at once (default 1)")
    p.add_argument("--queue", type=name, help="queue the trials go to")
    p.add_argument("--priority", type=int)
    p.add_argument("--sampler", choices=[s.value for s in SamplerKind], help="default tpe")
    p.add_argument("--pruner", choices=[s.value for s in PrunerKind], help="default none")
    p.add_argument(
        "--sampler-option", action="append", default=[], metavar="KEY=VALUE", dest="sampler_opts"
    )
    p.add_argument(
        "--pruner-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="pruner_opts",
        help="e.g. n_warmup_steps=2, reduction_factor=3",
    )
    p.add_argument("--max-time", metavar="AGE", help="stop after this long, e.g. 6h, 90m or 2d")
    p.add_argument("--seed", type=int)
    p.add_argument("--name")
    add_json_flag(p)
    p.set_defaults(func=create_sweep)


def _options(texts: list[str], flag: str) -> dict[str, Any]:
    """``["n_warmup_steps=2"]`` → ``{"n_warmup_steps": 2}`` (values parsed as JSON)."""
    options: dict[str, Any] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {text!r}: expected KEY=VALUE, e.g. n_warmup_steps=2")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def spec_fields(args: argparse.Namespace) -> dict[str, Any]:
    """What ``sweep create`` asks for: the file's fields, then the flags given on top."""
    # Imported here: only this command reads YAML.
    from runyard.sweep import read_spec

    try:
        fields = read_spec(args.file) if args.file else {}
    except ValueError as exc:
        raise UsageError(f"-f {exc}") from None
    params = dict(fields.get("params") or {})
    for text in args.param:
        path, sep, dist = text.partition("=")
        if not sep or "/" not in path:
            raise UsageError(
                f"--param {text!r}: expected Section/key=DIST, e.g. 'Args/lr=loguniform(1e-4,1e-1)'"
            )
        params[path] = dist
    flags = {
        "base": args.base,
        "objective": args.objective,
        "direction": args.direction,
        "trials": args.trials,
        "parallel": args.parallel,
        "queue": args.queue,
        "priority": args.priority,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "seed": args.seed,
        "name": args.name,
        "max_time_s": args.max_time and days(args.max_time, "--max-time") * _SECONDS_PER_DAY,
    }
    fields.update({k: v for k, v in flags.items() if v is not None})
    for key, texts, flag in (
        ("sampler_options", args.sampler_opts, "--sampler-option"),
        ("pruner_options", args.pruner_opts, "--pruner-option"),
    ):
        if texts:
            fields[key] = {**(fields.get(key) or {}), **_options(texts, flag)}
    if params:
        fields["params"] = params
    missing = [f for f in ("base", "objective", "queue") if fields.get(f) is None]
    if missing or not params:
        needs = ", ".join([*missing, *([] if params else ["params"])])
        raise UsageError(f"sweep create: give {needs} (flags or -f FILE)")
    return fields


def create_sweep(client: Client, args: argparse.Namespace) -> int:
    """``sweep create BASE --param P=DIST ... --objective S --queue Q`` or ``-f FILE``."""
    from runyard.sweep import spec_from

    sweep = client.sweeps.create(spec_from(client, spec_fields(args)))
    return emit(sweep, args.json, lambda: _created(sweep))


def _created(sweep: Sweep) -> str:
    return (
        f"created sweep {sweep.id} ({sweep.name}): {sweep.trials} trials, {sweep.parallel} at "
        f"once on {sweep.queue}, {sweep.direction} {sweep.objective}\n"
        f"follow it with: runyard sweep show {sweep.id} --watch"
    )


def list_sweeps(client: Client, args: argparse.Namespace) -> int:
    """``sweep list``."""
    sweeps = client.sweeps.list(project=args.project, status=args.status, limit=args.limit).sweeps
    rows = [
        (
            s.id,
            s.name,
            s.project,
            s.status.value,
            f"{s.counts.completed + s.counts.failed + s.counts.pruned}/{s.trials}",
            s.counts.running + s.counts.queued,
            f"{s.direction} {s.objective}",
            "-" if s.best is None else f"{s.best.value:.6g}",
            age(s.created),
        )
        for s in sweeps
    ]
    head = ["id", "name", "project", "status", "trials", "in flight", "objective", "best", "age"]
    return emit(sweeps, args.json, lambda: table(head, rows))


def stop_sweep(client: Client, args: argparse.Namespace) -> int:
    """``sweep stop ID``."""
    sweep = client.sweeps.stop(args.id, args.reason)
    return emit(sweep, args.json, lambda: f"sweep {sweep.id} {sweep.status.value}")


def resume_sweep(client: Client, args: argparse.Namespace) -> int:
    """``sweep resume ID``."""
    sweep = client.sweeps.resume(args.id)
    return emit(sweep, args.json, lambda: f"sweep {sweep.id} {sweep.status.value}")


def best_trial(client: Client, args: argparse.Namespace) -> int:
    """``sweep best ID [--clone [--queue Q] [--name N]]``."""
    if not args.clone and (args.queue or args.name):
        raise UsageError("--queue and --name go with --clone")
    sweep = client.sweeps.get(args.id)
    if sweep.best is None:
        raise RunyardError(f"sweep {sweep.id} has no completed trial yet")
    if not args.clone:
        if args.json:
            dump_json(sweep.best)
        else:
            print(best_line(sweep))
            for path, value in sweep.best.params.items():
                print(f"  {path}={json.dumps(value)}")
        return 0
    request = CloneBestRequest(name=args.name, queue=args.queue)
    task = client.sweeps.clone_best(sweep.id, request)
    where = f"queued on {task.queue}" if task.queue else "a draft"
    return emit(task, args.json, lambda: f"cloned best trial as task {task.id} ({where})")


def reproduce_best(client: Client, args: argparse.Namespace) -> int:
    """``sweep reproduce ID``: ``task reproduce --wait`` of the best trial's task."""
    sweep = client.sweeps.get(args.id)
    if sweep.best is None:
        raise RunyardError(f"sweep {sweep.id} has no completed trial to reproduce yet")
    if not args.json:
        print(best_line(sweep), flush=True)
    args.id, args.wait = sweep.best.task_id, True
    args.queue = args.queue or sweep.queue
    return reproduce.reproduce_task(client, args)
