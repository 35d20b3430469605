"""FastAPI dependencies: the Redis client, the dispatcher, the settings and the caller."""

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
from runyard_server.prometheus import ServerMetrics
from runyard_server.store import (
    Dispatcher,
    ServedQueues,
    current_lease_token,
    resolve_task_id,
)


def _app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning ``app.state.<name>``, which ``create_app`` sets once."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return read


async def _authenticate(request: Request, authorization: str | None) -> Principal:
    tokens: TokenBook = request.app.state.tokens
    r: aioredis.Redis = request.app.state.redis
    principal = await tokens.authenticate(authorization, partial(current_lease_token, r))
    # The audit trail's recorder reads the caller from here (``api/audit_log.py``).
    request.state.principal = principal
    return principal


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return await _authenticate(request, authorization)


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
    who = await _authenticate(request, authorization)
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
CallDep = Annotated[Call, Depends(get_call)]
MetricsDep = Annotated[ServerMetrics, Depends(_app_state("metrics"))]
ServedDep = Annotated[ServedQueues, Depends(_app_state("served"))]
