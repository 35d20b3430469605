"""``runyard project member ...``: who may act on a project, and in which role."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from runyard.cli.common import add_json_flag, name
from runyard.cli.output import emit, table

if TYPE_CHECKING:
    from runyard.client import Client
    from runyard.models import ProjectMember

ROLES = ("viewer", "member", "maintainer")


def register(groups: Any) -> None:
    """Add the ``project`` command group to the top-level subparsers."""
    group = groups.add_parser("project", help="a project's members and their roles")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    member = commands.add_parser("member", help="add, list and remove a project's members")
    actions = member.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("add", help="give a user a role in the project (or change it)")
    p.add_argument("project", type=name)
    p.add_argument("user", type=name)
    p.add_argument("--role", choices=ROLES, default="member")
    add_json_flag(p)
    p.set_defaults(func=add_member)

    p = actions.add_parser("list", help="the project's members (none: open to every member)")
    p.add_argument("project", type=name)
    add_json_flag(p)
    p.set_defaults(func=list_members)

    p = actions.add_parser("remove", help="take a user off the project")
    p.add_argument("project", type=name)
    p.add_argument("user", type=name)
    p.set_defaults(func=remove_member)


def add_member(client: Client, args: argparse.Namespace) -> int:
    """``project member add PROJECT USER --role ROLE``: prints the members after."""
    members = client.projects.set_member(args.project, args.user, args.role)
    return emit(members, args.json, lambda: table(["user", "role"], _rows(members)))


def list_members(client: Client, args: argparse.Namespace) -> int:
    """``project member list PROJECT``."""
    members = client.projects.members(args.project)

    def text() -> str:
        if not members:
            return f"project {args.project} lists no members: every member-level user may act on it"
        return table(["user", "role"], _rows(members))

    return emit(members, args.json, text)


def remove_member(client: Client, args: argparse.Namespace) -> int:
    """``project member remove PROJECT USER``."""
    client.projects.remove_member(args.project, args.user)
    print(f"user {args.user} removed from project {args.project}")
    return 0


def _rows(members: list[ProjectMember]) -> list[tuple[str, str]]:
    return [(m.user, m.role) for m in members]
