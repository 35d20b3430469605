"""``runyard user ...``: list users, change a role, remove a user (admins only)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, get_args

from runyard.cli.common import add_json_flag, name
from runyard.cli.output import emit, table
from runyard.models import UserRole

if TYPE_CHECKING:
    from runyard.client import Client


def register(groups: Any) -> None:
    """Add the ``user`` command group to the top-level subparsers."""
    group = groups.add_parser("user", help="list users, change a role, remove a user (admins)")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("list", help="every user and their role")
    add_json_flag(p)
    p.set_defaults(func=list_users)

    p = commands.add_parser("role", help="give a user another role")
    p.add_argument("name", type=name)
    p.add_argument("role", choices=get_args(UserRole))
    add_json_flag(p)
    p.set_defaults(func=set_role)

    p = commands.add_parser("remove", help="remove a user; their tokens stop working at once")
    p.add_argument("name", type=name)
    p.set_defaults(func=remove_user)


def list_users(client: Client, args: argparse.Namespace) -> int:
    """``user list``."""
    found = client.users.list()

    def text() -> str:
        rows = [(u.name, u.role, u.created.isoformat(timespec="seconds")) for u in found]
        return table(["name", "role", "created"], rows)

    return emit(found, args.json, text)


def set_role(client: Client, args: argparse.Namespace) -> int:
    """``user role NAME ROLE``."""
    user = client.users.set_role(args.name, args.role)
    return emit(user, args.json, lambda: f"user {user.name} is now {user.role}")


def remove_user(client: Client, args: argparse.Namespace) -> int:
    """``user remove NAME``."""
    client.users.remove(args.name)
    print(f"user {args.name} removed; their tokens no longer work")
    return 0
