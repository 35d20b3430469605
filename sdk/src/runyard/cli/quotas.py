"""``runyard quota ...``: list and set per-user and per-project quotas."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag, name
from runyard.cli.output import emit, table
from runyard.cli.queues import _limit, _of
from runyard.models import Quota, QuotaUpdate

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``quota`` command group to the top-level subparsers."""
    group = groups.add_parser("quota", help="per-user and per-project quotas")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("list", help="quotas and what each user and project runs now")
    add_json_flag(p)
    p.set_defaults(func=list_quotas)

    p = commands.add_parser(
        "set",
        help="replace a user's or project's quota (admins; an option not given: no limit)",
        description="A task over its owner's or project's quota is not refused: it waits "
        "in its queue until they run less.",
    )
    p.add_argument("kind", choices=["user", "project"])
    p.add_argument("name", type=name)
    p.add_argument("--max-running", type=_limit(int), metavar="N|none", help="most tasks running")
    p.add_argument(
        "--max-gpus", type=_limit(float), metavar="G|none", help="most GPUs held, shares as shares"
    )
    p.add_argument(
        "--weight",
        type=float,
        help="a user's fair-share weight (default 1): twice the weight, twice the share",
    )
    add_json_flag(p)
    p.set_defaults(func=set_quota)


_HEAD = ["kind", "name", "running", "gpus", "weight"]


def _row(q: Quota) -> tuple[object, ...]:
    name = q.name or "(no owner)"
    return (q.kind, name, _of(q.running, q.max_running), _of(q.gpus, q.max_gpus), f"{q.weight:g}")


def list_quotas(client: Client, args: argparse.Namespace) -> int:
    """``quota list``."""
    quotas = client.quotas.list()
    return emit(quotas, args.json, lambda: table(_HEAD, [_row(q) for q in quotas]))


def set_quota(client: Client, args: argparse.Namespace) -> int:
    """``quota set user|project NAME [--max-running N] [--max-gpus G] [--weight W]``."""
    body = QuotaUpdate(max_running=args.max_running, max_gpus=args.max_gpus, weight=args.weight)
    quota = client.quotas.set(args.kind, args.name, body)
    return emit(quota, args.json, lambda: table(_HEAD, [_row(quota)]))
