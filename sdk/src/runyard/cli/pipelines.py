"""``runyard pipeline ...``: run a pipeline from YAML (or by id), rerun a run with changed
parameters, show a run's steps, list runs, abort a run."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from runyard.cli.common import UsageError, add_json_flag
from runyard.cli.output import age, details, dump_json, table
from runyard.models import PipelineRun, RunStatus

if TYPE_CHECKING:
    from runyard.client import Client

_POLL_S = 1.0


def register(groups: Any) -> None:
    """Add the ``pipeline`` command group to the top-level subparsers."""
    group = groups.add_parser("pipeline", help="run pipelines (DAGs of steps) and follow runs")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("run", help="run a pipeline from a YAML file, or a stored one")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--file", help="the pipeline's YAML definition")
    source.add_argument("--pipeline", metavar="ID", help="a stored pipeline's id")
    _add_run_flags(p)
    p.set_defaults(func=run_pipeline)

    p = commands.add_parser("rerun", help="clone a run with changed pipeline parameters")
    p.add_argument("run_id", metavar="RUN_ID")
    _add_run_flags(p)
    p.set_defaults(func=rerun)

    p = commands.add_parser("show", help="a run with each step's status, task and cache hit")
    p.add_argument("run_id", metavar="RUN_ID")
    add_json_flag(p)
    p.set_defaults(func=show_run)

    p = commands.add_parser("list", help="pipeline runs, newest first")
    p.add_argument("--pipeline", metavar="ID", help="only this pipeline's runs")
    p.add_argument("--limit", type=int, default=50)
    add_json_flag(p)
    p.set_defaults(func=list_runs)

    p = commands.add_parser("abort", help="abort a run: skip its waiting steps, abort its tasks")
    p.add_argument("run_id", metavar="RUN_ID")
    add_json_flag(p)
    p.set_defaults(func=abort_run)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter (repeat); VALUE is JSON when it parses, else a string",
    )
    p.add_argument("--no-cache", action="store_true", help="run every step, reusing nothing")
    p.add_argument(
        "--wait", action="store_true", help="follow the run to its end; exit 1 unless completed"
    )
    add_json_flag(p)


def _params(texts: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {text!r}: expected NAME=VALUE, e.g. lr=0.01")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def run_pipeline(client: Client, args: argparse.Namespace) -> int:
    """``pipeline run -f FILE | --pipeline ID [--param k=v] [--no-cache] [--wait]``."""
    params = _params(args.param)
    if args.file:
        from runyard.pipeline import Pipeline

        try:
            pipeline = Pipeline.from_yaml(args.file, client)
        except (OSError, ValueError, ImportError) as error:
            raise UsageError(f"{args.file}: {error}") from None
        run = pipeline.run(params, no_cache=args.no_cache)
    else:
        run = client.pipelines.run(args.pipeline, params, no_cache=args.no_cache)
    return _answer(client, run, args)


def rerun(client: Client, args: argparse.Namespace) -> int:
    """``pipeline rerun RUN_ID [--param k=v] [--no-cache] [--wait]``."""
    run = client.pipelines.clone_run(args.run_id, _params(args.param), no_cache=args.no_cache)
    return _answer(client, run, args)


def _answer(client: Client, run: PipelineRun, args: argparse.Namespace) -> int:
    if args.wait:
        while not run.status.is_final:
            time.sleep(_POLL_S)
            run = client.pipelines.get_run(run.id)
    _print(run, args.json)
    return 0 if not args.wait or run.status is RunStatus.COMPLETED else 1


def show_run(client: Client, args: argparse.Namespace) -> int:
    """``pipeline show RUN_ID``."""
    _print(client.pipelines.get_run(args.run_id), args.json)
    return 0


def list_runs(client: Client, args: argparse.Namespace) -> int:
    """``pipeline list [--pipeline ID]``."""
    runs = client.pipelines.runs(args.pipeline, args.limit)
    if args.json:
        dump_json(runs)
        return 0
    rows = [
        (
            run.id,
            run.status.value,
            run.name,
            run.owner,
            f"{sum(s.status.value == 'completed' for s in run.steps)}/{len(run.steps)}",
            age(run.created) + " ago",
        )
        for run in runs
    ]
    print(table(["id", "status", "pipeline", "owner", "steps done", "created"], rows))
    return 0


def abort_run(client: Client, args: argparse.Namespace) -> int:
    """``pipeline abort RUN_ID``."""
    _print(client.pipelines.abort_run(args.run_id), args.json)
    return 0


def _print(run: PipelineRun, as_json: bool) -> None:
    if as_json:
        dump_json(run)
    else:
        print(describe(run))


def describe(run: PipelineRun) -> str:
    """A run's facts, then one line per step."""
    head = details(
        [
            ("run", run.id),
            ("pipeline", f"{run.name} ({run.pipeline})"),
            ("status", run.status.value),
            ("reason", run.reason),
            ("owner", run.owner),
            ("params", json.dumps(run.params) if run.params else None),
            ("cloned from", run.cloned_from),
        ]
    )
    rows = [
        (
            step.name,
            step.status.value,
            step.task,
            f"hit (task {step.cached_from})" if step.cache_hit else None,
            step.attempts,
            step.reason,
        )
        for step in run.steps
    ]
    return head + "\n\n" + table(["step", "status", "task", "cache", "attempts", "reason"], rows)
