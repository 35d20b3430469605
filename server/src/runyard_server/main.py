"""The FastAPI application: ``create_app(settings)`` wires routes, errors and lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from runyard._version import __version__
from runyard.models.routes import API_PREFIX
from runyard_server import server_log
from runyard_server.api.body_limit import BodyLimitMiddleware
from runyard_server.api.errors import ERROR_RESPONSES, install_error_handlers
from runyard_server.api.long_poll import LongPollMiddleware
from runyard_server.api.request_log import RequestLogMiddleware
from runyard_server.api.routes import (
    artifacts,
    bundles,
    health,
    local_runs,
    log_stream,
    logs,
    prometheus,
    queues,
    reports,
    task_metrics,
    tasks,
    workers,
)
from runyard_server.artifact_files import ArtifactFiles
from runyard_server.auth import TokenBook
from runyard_server.config import Settings
from runyard_server.history_files import LocalHistory
from runyard_server.prometheus import ServerMetrics
from runyard_server.store import Dispatcher, ServedQueues
from runyard_server.store.backfill import backfill_indexes
from runyard_server.web import install_web

log = logging.getLogger("runyard_server")


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings``; its Redis must be reachable at ``settings.redis_url``."""
    if not settings.redis_url:
        raise ValueError("create_app needs settings.redis_url (the CLI fills it in)")
    redis_url = settings.redis_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A blocking pool makes a burst wait for a connection instead of failing. After a
        # Redis restart every pooled connection is dead: one idle over a second is
        # PINGed first and reconnected once if that fails (a command itself is never
        # retried, it may have run), so no request gets a 503 from a stale connection.
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url,
            decode_responses=True,
            max_connections=128,
            timeout=20,
            health_check_interval=1,
            retry=Retry(NoBackoff(), 1),
        )
        client = aioredis.Redis(connection_pool=pool)
        indexed = await backfill_indexes(client)
        if indexed:
            log.info("indexed %d tasks recorded before the listing indexes", indexed)
        dispatcher = Dispatcher(client)
        await dispatcher.start()
        app.state.redis = client
        app.state.dispatcher = dispatcher
        try:
            yield
        finally:
            await dispatcher.stop()
            await client.aclose()

    app = FastAPI(
        title="Runyard",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tokens = TokenBook(settings.tokens)
    app.state.artifact_files = ArtifactFiles(settings.artifact_dir)
    app.state.history = LocalHistory(settings.history_dir)
    app.state.metrics = ServerMetrics()
    app.state.served = ServedQueues(settings.alive_after_s)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(LongPollMiddleware)
    # Added last, so outermost: a 413 from the body limit gets its id and log line too.
    app.add_middleware(RequestLogMiddleware)
    app.include_router(health.router, prefix=API_PREFIX)
    # Routes are matched in this order, one by one: the agents' hot routes come first.
    routers = (
        workers,
        reports,
        logs,
        tasks,
        local_runs,
        log_stream,
        task_metrics,
        artifacts,
        bundles,
        queues,
    )
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    # Top level, where Prometheus scrapers look by default.
    app.include_router(prometheus.router, responses=ERROR_RESPONSES)
    install_web(app)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``runyard-server --workers N`` process: settings from ``RUNYARD_*``."""
    settings = Settings()
    server_log.configure(settings.log_level)
    return create_app(settings)
