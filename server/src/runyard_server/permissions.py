"""Who may change what: project roles and queue restrictions, in one function, :func:`can`.

Roles per project (``store/members.py``): a viewer reads; a member creates, clones and
enqueues tasks there, and changes (edits, enqueues, moves, dequeues, aborts, deletes)
its own; a maintainer changes anyone's tasks there and manages the members; a global
admin does everything. A project that lists no members is open to every member-level
user as a member, so a server running before roles existed keeps working; once it
lists members, only they may act on it. A task without an owner (made before named
users, or on an open server) may be changed by any member of its project.

A queue may be restricted (``allowed_projects``, ``allowed_users``): a task goes there
only when its project or its caller is allowed. Reads are not restricted, and neither
is an open server, a configured (bootstrap) user token or an admin. Agent, metrics and
task tokens are refused user routes before these checks (``Principal.require``).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from runyard.models import ProjectRole
from runyard_server.auth import Principal
from runyard_server.errors import Forbidden
from runyard_server.store import keys
from runyard_server.store.queue_settings import names_of

if TYPE_CHECKING:
    import redis.asyncio as aioredis

Action = Literal["create", "change", "manage", "admin"]
"""``create`` a task in a project, ``change`` a task, ``manage`` the project's members,
or what spans every project (purge, queue settings): ``admin`` only."""


@dataclass(frozen=True, slots=True)
class Target:
    """What an action touches, as read from Redis by :func:`load`."""

    project: str
    owner: str | None = None
    listed: bool = False
    """The project lists members."""
    role: ProjectRole | None = None
    """The caller's role in it, when listed."""
    queue: str | None = None
    allowed_projects: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()


def exempt(who: Principal) -> bool:
    """Callers no role or restriction applies to (the checks cost them no Redis call)."""
    return who.role != "user" or who.level == "admin"


def can(who: Principal, action: Action, target: Target) -> None:
    """Raise Forbidden, naming the rule, unless ``who`` may do ``action`` on ``target``."""
    if exempt(who):
        return
    if action == "admin":  # the one admin rule, also used by routes that only need it
        who.require_admin()
        return
    project = f"project {target.project}" if target.project else "tasks without a project"
    role = target.role if target.listed else "member"
    if role is None:
        raise Forbidden(f"user {who.user} is not a member of {project}, which lists its members")
    if role == "viewer":
        raise Forbidden(f"user {who.user} is a viewer of {project} and cannot change it")
    if action == "manage" and role != "maintainer":
        raise Forbidden(
            f"managing the members of {project} needs its maintainer role or admin; "
            f"user {who.user} is a {role} there"
        )
    if action == "change" and role == "member" and target.owner not in (None, who.user):
        raise Forbidden(
            f"the task belongs to {target.owner}: user {who.user}, a member of {project}, "
            "may change only their own tasks (its maintainers may change anyone's)"
        )
    _check_queue(who, target)


def _check_queue(who: Principal, target: Target) -> None:
    if target.queue is None or not (target.allowed_projects or target.allowed_users):
        return
    if who.user in target.allowed_users or target.project in target.allowed_projects:
        return
    rule = [
        f"{what} {', '.join(names)}"
        for what, names in (("projects", target.allowed_projects), ("users", target.allowed_users))
        if names
    ]
    raise Forbidden(
        f"queue {target.queue} is restricted to {' and '.join(rule)}: user {who.user} "
        f"may not put a task of project {target.project or '(none)'} there"
    )


async def load(
    r: "aioredis.Redis", who: Principal, project: str, owner: str | None, queue: str | None
) -> Target:
    """The :class:`Target` of an action by ``who`` (one round trip to Redis)."""
    members = keys.project_members(project)
    async with r.pipeline(transaction=False) as pipe:
        pipe.exists(members)
        pipe.hget(members, who.user or "")
        pipe.hmget(keys.queue_settings(queue or ""), "allowed_projects", "allowed_users")
        listed, role, (projects, users) = await pipe.execute()
    return Target(
        project,
        owner,
        bool(listed),
        cast(ProjectRole | None, role),
        queue,
        tuple(names_of(projects)) if queue else (),
        tuple(names_of(users)) if queue else (),
    )


async def authorize(
    r: "aioredis.Redis",
    who: Principal,
    action: Action,
    project: str | None,
    *,
    owner: str | None = None,
    queue: str | None = None,
) -> None:
    """:func:`can`, with the target read from Redis (skipped for exempt callers)."""
    if exempt(who):
        return
    if action == "admin":
        can(who, action, Target(""))
    else:
        can(who, action, await load(r, who, project or "", owner, queue))


async def authorize_task(
    r: "aioredis.Redis", who: Principal, action: Action, task_id: str, queue: str | None = None
) -> None:
    """:func:`authorize` on task ``task_id``'s project and owner (an unknown task checks
    as one without either; the route answers its 404)."""
    if not exempt(who):
        fields = await r.hmget(keys.task(task_id), "project", "owner")
        project, owner = cast(list[str | None], fields)
        await authorize(r, who, action, project, owner=owner, queue=queue)
