"""Acknowledged means replicated (``--redis-min-replicas-ack``), and a demoted master's
READONLY refusal is a 503 ``unavailable``, never a 500."""

import time
from collections.abc import Callable

import redis
from fastapi.testclient import TestClient

from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.main import create_app
from runyard_server.store import keys


def _api(**settings: object) -> TestClient:
    return TestClient(
        create_app(Settings.model_validate(settings)), base_url="http://localhost/api/v1"
    )


def _replica_of(master: EmbeddedRedis, replica: EmbeddedRedis) -> None:
    r = redis.Redis.from_url(replica.url)
    r.config_set("masterauth", master.password)
    r.replicaof("127.0.0.1", master.port)
    deadline = time.monotonic() + 20
    while r.info("replication")["master_link_status"] != "up":
        assert time.monotonic() < deadline, "the replica never synced"
        time.sleep(0.05)
    r.close()


def test_without_the_replicas_asked_for_a_write_answers_503_and_a_read_does_not(
    redis_url: str,
) -> None:
    with _api(redis_url=redis_url, redis_min_replicas_ack=1, redis_ack_timeout_ms=100) as api:
        refused = api.post("/tasks", json={"name": "unreplicated"})
        listed = api.get("/tasks")
    assert refused.status_code == 503
    assert refused.json()["error"] == "unavailable"
    assert "did not copy this change to 1 replica(s) within 100 ms" in refused.json()["detail"]
    assert listed.status_code == 200
    # The master made the write: the 503 says it may be lost, not that it did not happen.
    assert [task["name"] for task in listed.json()["items"]] == ["unreplicated"]


def test_with_a_replica_a_write_is_acknowledged_once_the_replica_has_it(
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    master, replica = redis_factory(), redis_factory()
    _replica_of(master, replica)
    with _api(redis_url=master.url, redis_min_replicas_ack=1) as api:
        created = api.post("/tasks", json={"name": "replicated"})
    assert created.status_code == 201, created.text
    # Acknowledged means the replica has it already, not eventually.
    on_replica = redis.Redis.from_url(replica.url, decode_responses=True)
    assert on_replica.hget(keys.task(created.json()["id"]), "name") == "replicated"
    on_replica.close()


def test_a_write_to_a_demoted_master_answers_503_unavailable_not_500(
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    master, demoted = redis_factory(), redis_factory()
    _replica_of(master, demoted)
    with _api(redis_url=demoted.url) as api:
        refused = api.post("/tasks", json={"name": "x"})
        queue = api.post("/queues", json={"name": "q"})
    for response in (refused, queue):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "unavailable"
