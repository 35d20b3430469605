"""Redis killed and back on the same port: the server's next requests all succeed.

Every connection the server had pooled died with Redis. The soak saw a 503 ("redis
unavailable: Connection closed by server") 16 s after Redis was back, from a request
that drew such a connection; the server must notice a dead connection before it
sends a command on it.
"""

import time
from collections.abc import Callable

import requests

from runyard_server.embedded import EmbeddedRedis
from tests.servers import ServerProcess

REQUESTS = 40


def _statuses(api: str) -> list[int]:
    # Concurrent-looking load: separate sessions so the server draws several pooled
    # connections, not one.
    statuses = []
    for i in range(REQUESTS):
        with requests.Session() as http:
            response = http.post(
                f"{api}/tasks",
                json={
                    "name": f"t{i}",
                    "queue": "q",
                    "create_queue": True,
                    "script": {"entry_point": "train.py"},
                },
                timeout=10,
            )
            statuses.append(response.status_code)
            statuses.append(http.get(f"{api}/queues/q", timeout=10).status_code)
    return statuses


def test_requests_after_a_redis_restart_do_not_fail_on_dead_pooled_connections(
    server_factory: Callable[..., ServerProcess],
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    external = redis_factory()
    server = server_factory("--redis-url", external.url, "--no-jobs")
    assert set(_statuses(server.api)) == {200, 201}

    external.kill()
    external.start()
    time.sleep(2)  # idle long enough that nothing is "just used"

    statuses = _statuses(server.api)
    assert [s for s in statuses if s >= 500] == []
