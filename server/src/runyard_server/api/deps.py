"""FastAPI dependencies: the Redis client, the dispatcher, the settings and the caller."""

from functools import partial
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request

from runyard_server.artifact_files import ArtifactFiles
from runyard_server.auth import Principal, TokenBook
from runyard_server.config import Settings
from runyard_server.history_files import HistoryStore
from runyard_server.metrics import ServerMetrics
from runyard_server.store import Dispatcher, current_lease_token


async def get_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


async def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_tokens(request: Request) -> TokenBook:
    tokens: TokenBook = request.app.state.tokens
    return tokens


async def get_artifact_files(request: Request) -> ArtifactFiles:
    files: ArtifactFiles = request.app.state.artifact_files
    return files


async def get_history(request: Request) -> HistoryStore:
    history: HistoryStore = request.app.state.history
    return history


async def get_metrics(request: Request) -> ServerMetrics:
    metrics: ServerMetrics = request.app.state.metrics
    return metrics


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    tokens: TokenBook = request.app.state.tokens
    r: aioredis.Redis = request.app.state.redis
    return await tokens.authenticate(authorization, partial(current_lease_token, r))


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TokensDep = Annotated[TokenBook, Depends(get_tokens)]
ArtifactFilesDep = Annotated[ArtifactFiles, Depends(get_artifact_files)]
HistoryDep = Annotated[HistoryStore, Depends(get_history)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
MetricsDep = Annotated[ServerMetrics, Depends(get_metrics)]
