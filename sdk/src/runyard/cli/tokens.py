"""``runyard token ...``: create, list and revoke one's own API tokens."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag, name
from runyard.cli.output import dump_json, emit, table

if TYPE_CHECKING:
    from runyard.client import Client

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(groups: Any) -> None:
    """Add the ``token`` command group to the top-level subparsers."""
    group = groups.add_parser("token", help="create, list and revoke your API tokens")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("create", help="a new token, printed once (keep it)")
    p.add_argument("--name", type=name, default="default")
    p.add_argument("--expires", type=expiry, metavar="30d", help="stops working after (s/m/h/d)")
    p.add_argument("--pool", type=name, help="an agent-pool token instead (admins only)")
    add_json_flag(p)
    p.set_defaults(func=create_token)

    p = commands.add_parser("list", help="your tokens (an admin: every token), never the secrets")
    add_json_flag(p)
    p.set_defaults(func=list_tokens)

    p = commands.add_parser("revoke", help="a token stops working at once")
    p.add_argument("id")
    p.set_defaults(func=revoke_token)


def expiry(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``3600s`` (or plain seconds) as seconds."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h or 90m")
    return int(match[1]) * _UNITS[match[2] or "s"]


def create_token(client: Client, args: argparse.Namespace) -> int:
    """``token create``: the secret on stdout, the rest on stderr, so it pipes to a file."""
    made = client.tokens.create(args.name, args.expires, args.pool)
    if args.json:
        dump_json(made)
        return 0
    owner = f"agent pool {made.pool}" if made.pool else f"user {made.user}"
    until = made.expires.isoformat(timespec="seconds") if made.expires else "never"
    print(
        f"token {made.id} ({made.name}) for {owner}, expires {until}; shown only now:",
        file=sys.stderr,
    )
    print(made.token)
    return 0


def list_tokens(client: Client, args: argparse.Namespace) -> int:
    """``token list``."""
    found = client.tokens.list()

    def text() -> str:
        rows = [
            (
                t.id,
                t.name,
                f"pool:{t.pool}" if t.pool else t.user,
                t.created.isoformat(timespec="seconds"),
                t.expires.isoformat(timespec="seconds") if t.expires else "never",
            )
            for t in found
        ]
        return table(["id", "name", "for", "created", "expires"], rows)

    return emit(found, args.json, text)


def revoke_token(client: Client, args: argparse.Namespace) -> int:
    """``token revoke ID``."""
    client.tokens.revoke(args.id)
    print(f"token {args.id} revoked")
    return 0
