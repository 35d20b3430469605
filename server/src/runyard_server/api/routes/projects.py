"""Projects, tags and metric series: what the UI's project view and filter suggestions
show; a project's members and their roles (``permissions.py``)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from runyard.models import MemberSet, Project, ProjectMember
from runyard.models.names import Name
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.permissions import authorize
from runyard_server.store.labels import list_metric_series, list_projects, list_tags
from runyard_server.store.members import list_members, remove_member, set_member

router = APIRouter(tags=["projects"], route_class=FiniteJSONRoute)


@router.get("/projects")
async def get_projects(
    r: RedisDep,
    who: PrincipalDep,
    latest: Annotated[int, Query(ge=0, le=20, description="newest tasks per project")] = 5,
) -> list[Project]:
    """Every project with its task count and newest tasks, by name."""
    who.require("user")
    return await list_projects(r, latest)


@router.get("/tags")
async def get_tags(r: RedisDep, who: PrincipalDep) -> list[str]:
    """Every tag some task has, sorted."""
    who.require("user")
    return await list_tags(r)


@router.get("/metric-series")
async def get_metric_series(r: RedisDep, who: PrincipalDep) -> list[str]:
    """Every metric series some task has logged, sorted (the runs table's metric columns)."""
    who.require("user")
    return await list_metric_series(r)


@router.get("/projects/{name}/members")
async def get_members(name: Name, r: RedisDep, who: PrincipalDep) -> list[ProjectMember]:
    """The project's members and their roles (none listed: open to every member)."""
    who.require("user")
    return await list_members(r, name)


@router.put("/projects/{name}/members/{user}")
async def put_member(
    name: Name, user: Name, body: MemberSet, r: RedisDep, who: PrincipalDep
) -> list[ProjectMember]:
    """Give ``user`` a role in the project (its maintainers or an admin)."""
    who.require("user")
    await authorize(r, who, "manage", name)
    await set_member(r, name, user, body.role)
    return await list_members(r, name)


@router.delete("/projects/{name}/members/{user}", status_code=204)
async def delete_member(name: Name, user: Name, r: RedisDep, who: PrincipalDep) -> Response:
    """Take ``user`` off the project (its maintainers or an admin)."""
    who.require("user")
    await authorize(r, who, "manage", name)
    await remove_member(r, name, user)
    return Response(status_code=204)
