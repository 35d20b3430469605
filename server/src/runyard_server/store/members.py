"""Project members and their roles (``ry:project:{name}:members``, ``keys.py``).

A project lists no members until an admin adds the first (its maintainer, who may
then add the others); ``permissions.py`` says what each role may do.
"""

from typing import TYPE_CHECKING, cast

from redis.exceptions import WatchError

from runyard.models import ProjectMember, ProjectRole
from runyard_server.errors import Conflict, NotFound
from runyard_server.store import keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis


async def list_members(r: "aioredis.Redis", project: str) -> list[ProjectMember]:
    """The project's members by name (empty: it lists none, so it is open to members)."""
    rows = cast(dict[str, str], await r.hgetall(keys.project_members(project)))
    return [ProjectMember(user=u, role=cast(ProjectRole, rows[u])) for u in sorted(rows)]


async def set_member(r: "aioredis.Redis", project: str, user: str, role: ProjectRole) -> None:
    """Give ``user`` (who must exist) ``role`` in ``project``."""
    async with r.pipeline(transaction=True) as pipe:
        try:
            # The user must not vanish between the check and the write.
            await pipe.watch(keys.user(user))
            if not await pipe.exists(keys.user(user)):
                raise NotFound(f"user {user} does not exist")
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hset(keys.project_members(project), user, role)
            await pipe.execute()
        except WatchError:
            raise Conflict(f"user {user} changed while it was added; retry") from None


async def remove_member(r: "aioredis.Redis", project: str, user: str) -> None:
    """Take ``user`` off the project; NotFound when not a member."""
    if not await r.hdel(keys.project_members(project), user):
        raise NotFound(f"user {user} is not a member of project {project}")
