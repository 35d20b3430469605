"""Fixtures of the store and queue-engine tests."""

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.integration.store_support import client


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client of the test's Redis (flushed around the test), closed after it."""
    redis_client = client(redis_url)
    yield redis_client
    await redis_client.aclose()
