"""API tokens of named users and agent pools, and who the caller is (``GET /me``).

A user makes, lists and revokes their own tokens; an admin also makes agent-pool
tokens and sees and revokes everyone's. The secret is in the reply to the create
and nowhere else (``store/identity.py`` keeps its hash).
"""

import time

from fastapi import APIRouter, Response

from runyard.models import Me, TokenCreate, TokenCreated, TokenInfo
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.errors import Forbidden, Invalid
from runyard_server.store import identity

router = APIRouter(tags=["tokens"], route_class=FiniteJSONRoute)


@router.get("/me")
async def whoami(who: PrincipalDep) -> Me:
    """Who the server takes the caller to be."""
    who.require("user")
    return Me(kind=who.role, user=who.user, role=who.level)


@router.post("/tokens", status_code=201)
async def create_token(body: TokenCreate, r: RedisDep, who: PrincipalDep) -> TokenCreated:
    """A new token for the caller (or, admins, for an agent pool); the secret is shown
    this once."""
    who.require("user")
    if body.pool is not None and not who.is_admin:
        raise Forbidden("only an admin can make agent-pool tokens")
    if body.pool is None and who.user is None:
        raise Invalid("a user token belongs to a user: call with one (or give 'pool')")
    secret, info = await identity.create_token(
        r,
        name=body.name,
        user=None if body.pool else who.user,
        pool=body.pool,
        expires_in_s=body.expires_in_s,
        now=time.time(),
    )
    return TokenCreated(**info.model_dump(), token=secret)


@router.get("/tokens")
async def list_tokens(r: RedisDep, who: PrincipalDep) -> list[TokenInfo]:
    """The caller's tokens (an admin's: every token), without their secrets."""
    who.require("user")
    return await identity.list_tokens(r, None if who.is_admin else who.user or "")


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, r: RedisDep, who: PrincipalDep) -> Response:
    """Revoke one of the caller's tokens (an admin: any); it stops working at once."""
    who.require("user")
    await identity.revoke_token(r, token_id, None if who.is_admin else who.user or "")
    return Response(status_code=204)
