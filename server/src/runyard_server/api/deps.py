"""FastAPI dependencies: the Redis client, the dispatcher, the settings and the caller."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request

from runyard_server.artifact_files import ArtifactStore
from runyard_server.audit_archive import AuditArchive
from runyard_server.auth import Principal, TokenBook
from runyard_server.config import Settings
from runyard_server.history_files import HistoryStore
from runyard_server.permissions import Action, authorize_task
from runyard_server.prometheus import ServerMetrics
from runyard_server.store import (
    Dispatcher,
    ServedQueues,
    current_lease_token,
    resolve_task_id,
)
from runyard_server.store.identity import token_record


def _app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning ``app.state.<name>``, which ``create_app`` sets once."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return read


async def authenticate(request: Request, authorization: str | None) -> Principal:
    """The caller, resolved once per request by every route (through ``get_principal``
    or ``get_call``): a viewer is refused here on anything that changes state."""
    tokens: TokenBook = request.app.state.tokens
    r: aioredis.Redis = request.app.state.redis
    who = await tokens.authenticate(
        authorization,
        partial(current_lease_token, r),
        lambda secret: token_record(r, secret, time.time()),
    )
    # The audit trail's recorder reads the caller from here (``api/audit_log.py``).
    request.state.principal = who
    route = request.scope.get("route")
    who.check_write(request.method, getattr(route, "path", ""))
    return who


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return await authenticate(request, authorization)


@dataclass(frozen=True, slots=True)
class Call:
    """The caller and the app state, as one dependency, for the routes called most
    (claim, heartbeat, the agent reports, creates).

    FastAPI spends about fifty Python calls per request on each dependency it resolves:
    one in place of six halves what a claim costs FastAPI. (A route that also takes
    ``TaskIdDep`` keeps ``PrincipalDep``: with both, the caller would be authenticated
    twice.)
    """

    who: Principal
    redis: aioredis.Redis
    settings: Settings
    dispatcher: Dispatcher
    tokens: TokenBook
    metrics: ServerMetrics
    served: ServedQueues


async def get_call(request: Request, authorization: Annotated[str | None, Header()] = None) -> Call:
    state = request.app.state
    who = await authenticate(request, authorization)
    return Call(
        who,
        state.redis,
        state.settings,
        state.dispatcher,
        state.tokens,
        state.metrics,
        state.served,
    )


async def get_task_id(
    task_id: str, request: Request, _who: Annotated[Principal, Depends(get_principal)]
) -> str:
    """The ``{task_id}`` path parameter, a unique prefix (≥ 6 hex digits) made whole.

    It depends on the caller so that an unauthenticated request learns nothing about
    which ids exist (FastAPI authenticates once per request and reuses the result).
    """
    return await resolve_task_id(request.app.state.redis, task_id)


@dataclass(frozen=True, slots=True)
class TaskAccess:
    """A task route's task, its caller allowed the route's action on it."""

    task_id: str
    who: Principal
    action: Action
    redis: aioredis.Redis

    async def use_queue(self, queue: str | None) -> None:
        """Also check the action against ``queue``'s restriction (when one is named)."""
        if queue is not None:
            await authorize_task(self.redis, self.who, self.action, self.task_id, queue)


def task_access(action: Action) -> Callable[..., Awaitable[TaskAccess]]:
    """A dependency checking ``action`` on the ``{task_id}`` task (``permissions.can``)."""

    async def check(
        task_id: Annotated[str, Depends(get_task_id)],
        request: Request,
        who: Annotated[Principal, Depends(get_principal)],
    ) -> TaskAccess:
        r: aioredis.Redis = request.app.state.redis
        await authorize_task(r, who, action, task_id)
        return TaskAccess(task_id, who, action, r)

    return check


RedisDep = Annotated[aioredis.Redis, Depends(_app_state("redis"))]
DispatcherDep = Annotated[Dispatcher, Depends(_app_state("dispatcher"))]
SettingsDep = Annotated[Settings, Depends(_app_state("settings"))]
TokensDep = Annotated[TokenBook, Depends(_app_state("tokens"))]
ArtifactFilesDep = Annotated[ArtifactStore, Depends(_app_state("artifact_files"))]
HistoryDep = Annotated[HistoryStore, Depends(_app_state("history"))]
AuditArchiveDep = Annotated[AuditArchive, Depends(_app_state("audit_archive"))]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
TaskIdDep = Annotated[str, Depends(get_task_id)]
"""A task id path parameter that may be a short prefix (user routes; agents send full ids)."""
ChangeTaskDep = Annotated[TaskAccess, Depends(task_access("change"))]
"""The task of a route that changes it: its owner or a maintainer of its project."""
CloneTaskDep = Annotated[TaskAccess, Depends(task_access("create"))]
"""The task of a route that makes a task in its project: a member there."""
CallDep = Annotated[Call, Depends(get_call)]
MetricsDep = Annotated[ServerMetrics, Depends(_app_state("metrics"))]
ServedDep = Annotated[ServedQueues, Depends(_app_state("served"))]
