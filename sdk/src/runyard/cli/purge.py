"""``runyard task purge --older-than AGE``: delete final tasks that finished long ago."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from runyard.cli.common import UsageError, add_json_flag
from runyard.cli.output import dump_json
from runyard.models import PurgeRequest

if TYPE_CHECKING:  # the CLI imports the HTTP client only once a command runs
    from runyard.client import Client

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([dhm]?)$")
_DAYS_PER = {"d": 1.0, "": 1.0, "h": 1 / 24, "m": 1 / 1440}


def add(commands: Any) -> None:
    """Add ``task purge`` to the ``task`` subcommands."""
    p = commands.add_parser(
        "purge", help="delete completed, failed and aborted tasks that finished long ago"
    )
    p.add_argument(
        "--older-than", required=True, metavar="AGE", help="e.g. 30d, 12h or 90m (plain: days)"
    )
    p.add_argument("--project", help="only tasks of this project")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    add_json_flag(p)
    p.set_defaults(func=purge_tasks)


def days(age: str, flag: str = "--older-than") -> float:
    """``30d``, ``12h``, ``90m`` or ``30`` as days; UsageError (naming ``flag``) otherwise."""
    found = _AGE.match(age.strip())
    if not found or float(found[1]) <= 0:
        raise UsageError(f"{flag} {age!r}: give a positive age such as 30d, 12h or 90m")
    return float(found[1]) * _DAYS_PER[found[2]]


def purge_tasks(client: Client, args: argparse.Namespace) -> int:
    """Call the purge route until nothing more matches (one call on a dry run)."""
    body = PurgeRequest(
        older_than_days=days(args.older_than), project=args.project, dry_run=args.dry_run
    )
    ids: list[str] = []
    while True:
        result = client.tasks.purge(body)
        ids += result.tasks
        if args.dry_run or not result.more or not result.tasks:
            break
    if args.json:
        dump_json({"tasks": ids, "dry_run": args.dry_run})
        return 0
    for task_id in ids:
        print(task_id)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(ids)} task(s)")
    return 0
