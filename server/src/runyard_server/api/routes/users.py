"""Named users, for admins: list them, change a role, remove one (``/users``).

Users are added with ``runyard-server admin user add`` (which prints the first token);
over HTTP an admin manages those that exist. Removing a user deletes their tokens in
the same step, so every replica refuses them from the next request.
"""

from fastapi import APIRouter, Response

from runyard.models import User, UserPatch
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.store import identity

router = APIRouter(prefix="/users", tags=["users"], route_class=FiniteJSONRoute)


@router.get("")
async def list_users(r: RedisDep, who: PrincipalDep) -> list[User]:
    """Every named user and their role."""
    who.require("user")
    who.require_admin()
    return await identity.list_users(r)


@router.patch("/{name}")
async def set_role(name: str, body: UserPatch, r: RedisDep, who: PrincipalDep) -> User:
    """Give a user a new role; it counts from their next request."""
    who.require("user")
    who.require_admin()
    return await identity.set_role(r, name, body.role)


@router.delete("/{name}", status_code=204)
async def remove_user(name: str, r: RedisDep, who: PrincipalDep) -> Response:
    """Remove a user and revoke every token of theirs at once."""
    who.require("user")
    who.require_admin()
    await identity.remove_user(r, name)
    return Response(status_code=204)
