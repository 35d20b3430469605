"""Fixtures of the end-to-end tests: a client of the test's server, agent processes."""

from collections.abc import Iterator

import pytest

from runyard.client import Client
from tests.e2e.agent_support import agent_factory
from tests.servers import ServerProcess

__all__ = ["agent_factory", "client"]


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client
