"""The FastAPI application: ``create_app(settings)`` wires routes, errors and lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from runyard._version import __version__
from runyard.models.routes import API_PREFIX
from runyard_server import server_log
from runyard_server.api.audit_log import AuditMiddleware
from runyard_server.api.body_limit import BodyLimitMiddleware
from runyard_server.api.edge import EdgeMiddleware
from runyard_server.api.errors import ERROR_RESPONSES, install_error_handlers
from runyard_server.api.long_poll import LongPollMiddleware
from runyard_server.api.replica_ack import ReplicaAckMiddleware
from runyard_server.api.routes import (
    artifacts,
    audit,
    bundles,
    health,
    local_runs,
    log_stream,
    logs,
    projects,
    prometheus,
    queues,
    quotas,
    reports,
    sweeps,
    task_metrics,
    tasks,
    tokens,
    users,
    workers,
)
from runyard_server.api_docs import install_api_docs
from runyard_server.auth import TokenBook
from runyard_server.config import Settings
from runyard_server.prometheus import ServerMetrics
from runyard_server.redis_client import connect, on_master_change
from runyard_server.storage import open_stores
from runyard_server.store import Dispatcher, ServedQueues
from runyard_server.store.backfill import backfill_indexes
from runyard_server.store.migrate import rename_untagged_keys
from runyard_server.store.queue_settings import backfill_running
from runyard_server.store.quotas import backfill_owners
from runyard_server.web import install_web

log = logging.getLogger("runyard_server")


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings``; its Redis (URL or Sentinel set) must be reachable."""
    if not settings.external_redis:
        raise ValueError("create_app needs settings.redis_url (the CLI fills it in)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A blocking pool makes a burst wait for a connection instead of failing. After a
        # Redis restart every pooled connection is dead: one idle over a second is
        # PINGed first and reconnected once if that fails, so no request gets a 503
        # from a stale connection.
        client = connect(
            settings, pool_size=128, health_check_interval=1, retry=Retry(NoBackoff(), 1)
        )
        # A cluster client learns the slots here, before the dispatcher subscribes.
        await client.initialize()
        if not settings.redis_cluster and await rename_untagged_keys(client):
            log.info("renamed the keys of a store written before the {ry} hash tag")
        indexed = await backfill_indexes(client)
        if indexed:
            log.info("indexed %d tasks recorded before the listing indexes", indexed)
        if held := await backfill_running(client):
            log.info("counted %d running tasks claimed before the queue limits", held)
        if owned := await backfill_owners(client):
            log.info("counted the waiting owners of %d queues (fair share)", owned)
        dispatcher = Dispatcher(client)
        await dispatcher.start()
        on_master_change(client, dispatcher.resubscribe)
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
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tokens = TokenBook(settings.tokens)
    stores = open_stores(settings)
    app.state.artifact_files = stores.artifacts
    app.state.history = stores.history
    app.state.audit_archive = stores.audit
    app.state.metrics = ServerMetrics()
    app.state.served = ServedQueues(settings.alive_after_s)
    install_error_handlers(app)
    if settings.redis_min_replicas_ack:
        app.add_middleware(
            ReplicaAckMiddleware,
            replicas=settings.redis_min_replicas_ack,
            timeout_ms=settings.redis_ack_timeout_ms,
        )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(LongPollMiddleware)
    # Inside the edge middleware, which sets the request id it records.
    app.add_middleware(AuditMiddleware)
    # Added last, so outermost: a 413 from the body limit gets its id and log line too.
    app.add_middleware(EdgeMiddleware, settings=settings)
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
        projects,
        tokens,
        users,
        audit,
        quotas,
        sweeps,
    )
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    # Top level, where Prometheus scrapers look by default.
    app.include_router(prometheus.router, responses=ERROR_RESPONSES)
    install_api_docs(app)
    install_web(app)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``runyard-server --workers N`` process: settings from ``RUNYARD_*``."""
    settings = Settings()
    server_log.configure(settings.log_level)
    return create_app(settings)
