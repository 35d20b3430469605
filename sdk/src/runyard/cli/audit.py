"""``runyard audit --since 1d [--user U]``: who changed what, newest first."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag
from runyard.cli.output import emit, table
from runyard.cli.purge import days
from runyard.models import AuditEntry

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``audit`` command to the top-level subparsers."""
    p = groups.add_parser("audit", help="the audit trail: who changed what, when, from where")
    p.add_argument("--since", default="1d", metavar="AGE", help="e.g. 1d, 12h or 90m (default 1d)")
    p.add_argument("--user", help="only this caller's requests (a role or a user name)")
    p.add_argument("--limit", type=int, default=1000, help="at most this many entries")
    add_json_flag(p)
    p.set_defaults(func=list_audit)


def _row(e: AuditEntry) -> tuple[object, ...]:
    when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (when, e.who, e.method, e.route, e.object, e.status, e.client, e.request_id)


def list_audit(client: Client, args: argparse.Namespace) -> int:
    since = time.time() - days(args.since, "--since") * 86400
    entries = client.audit.list(since, args.user, args.limit)
    head = ["when (UTC)", "who", "method", "route", "object", "status", "client", "request"]
    return emit(entries, args.json, lambda: table(head, map(_row, entries)))
