"""Quotas and fair-share weights: anyone may read them, an admin sets them.

A task over its owner's or project's quota is not refused: it waits in its queue until
they run less (``store/quotas.py``), and its create or enqueue answer says so.
"""

from typing import Annotated

from fastapi import APIRouter, Path

from runyard.models import Name, Quota, QuotaKind, QuotaUpdate
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.auth import Principal
from runyard_server.store import quotas

router = APIRouter(prefix="/quotas", tags=["quotas"], route_class=FiniteJSONRoute)

NameParam = Annotated[Name, Path(description="the user or project")]


@router.get("")
async def list_quotas(r: RedisDep, who: PrincipalDep) -> list[Quota]:
    """Every user and project with a quota or a running task, and what each runs now
    (the user "" is tasks without an owner)."""
    who.require("user")
    return await quotas.list_quotas(r)


async def _set(r: RedisDep, who: Principal, kind: QuotaKind, name: str, body: QuotaUpdate) -> Quota:
    who.require("user")
    who.require_admin()
    return await quotas.set_quota(r, kind, name, body)


@router.put("/users/{name}")
async def set_user_quota(
    name: NameParam, body: QuotaUpdate, r: RedisDep, who: PrincipalDep
) -> Quota:
    """Replace the user's quota and fair-share weight (absent fields: no limit, weight 1)."""
    return await _set(r, who, "user", name, body)


@router.put("/projects/{name}")
async def set_project_quota(
    name: NameParam, body: QuotaUpdate, r: RedisDep, who: PrincipalDep
) -> Quota:
    """Replace the project's quota (absent fields: no limit; a project has no weight)."""
    return await _set(r, who, "project", name, body)
