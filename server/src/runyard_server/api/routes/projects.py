"""Projects, tags and metric series: what the UI's project view and filter suggestions show."""

from typing import Annotated

from fastapi import APIRouter, Query

from runyard.models import Project
from runyard_server.api.deps import PrincipalDep, RedisDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.store.labels import list_metric_series, list_projects, list_tags

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
