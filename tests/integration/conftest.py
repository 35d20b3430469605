"""Fixtures of the integration tests: the store and queue-engine tests each run on a plain
Redis and on a 3-master Redis Cluster, with scripts that fail on any key they were not
given; ``api`` is the app in-process on the session's Redis."""

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from runyard_server import store
from runyard_server.config import Settings
from runyard_server.main import create_app
from tests.integration.store_support import StoreRedis, client
from tests.strict_keys import strict_sources


@pytest.fixture(params=["redis", "cluster"])
def store_redis(request: pytest.FixtureRequest) -> Iterator[StoreRedis]:
    """The test's Redis, empty at its start and flushed after it: the session's plain
    Redis, or the session's Redis Cluster."""
    if request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        yield StoreRedis(cluster.url, cluster=True)
        cluster.flush()
    else:
        yield StoreRedis(request.getfixturevalue("redis_url"), cluster=False)


@pytest.fixture
async def r(store_redis: StoreRedis) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client of the test's Redis, closed after it."""
    redis_client = client(store_redis)
    # A cluster client learns the slots on first use; a Dispatcher's SUBSCRIBE needs them.
    await redis_client.initialize()
    yield redis_client
    await redis_client.aclose()


@pytest.fixture
async def dispatcher(r: aioredis.Redis) -> AsyncIterator[store.Dispatcher]:
    """A started Dispatcher on ``r`` (the process's one pub/sub subscription), stopped after."""
    started = store.Dispatcher(r)
    await started.start()
    yield started
    await started.stop()


@pytest.fixture(autouse=True)
def strict_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store script run in this process checks that each key it touches is in
    its KEYS (a Redis Cluster only checks that they share a slot)."""
    strict_sources(monkeypatch)


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    """The API in-process on the session's Redis, addressed as ``http://localhost/api/v1``."""
    with TestClient(
        create_app(Settings(redis_url=redis_url)), base_url="http://localhost/api/v1"
    ) as c:
        yield c
