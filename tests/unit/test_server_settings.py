"""Server settings: the Redis password kept apart from the URL, Sentinel, the cluster
flag, metrics tokens."""

import pytest
import redis
from pydantic import ValidationError

from runyard_server.cli import load_settings
from runyard_server.config import Settings, parse_token, sentinel_addresses


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://redis:6379/0", "redis://:p%40ss%2Fw%3Ard@redis:6379/0"),
        ("redis://old@redis:6379/0", "redis://old:p%40ss%2Fw%3Ard@redis:6379/0"),
        ("rediss://u:old@redis:6380/1", "rediss://u:p%40ss%2Fw%3Ard@redis:6380/1"),
    ],
)
def test_a_redis_password_goes_into_the_url_quoted(url: str, expected: str) -> None:
    settings = Settings(redis_url=url, redis_password="p@ss/w:rd")
    assert settings.redis_url == expected
    pool = redis.ConnectionPool.from_url(expected)
    assert pool.connection_kwargs["password"] == "p@ss/w:rd"


def test_a_redis_password_without_a_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="set redis_url too"):
        Settings(redis_password="secret-secret")


def test_a_redis_cluster_needs_the_url_of_a_node() -> None:
    with pytest.raises(ValidationError, match="redis_cluster needs redis_url"):
        Settings(redis_cluster=True)


def test_the_cluster_flag_reaches_the_jobs_process_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = load_settings(["--redis-url", "redis://node:7000/0", "--redis-cluster"])
    for name, value in given.to_env().items():
        monkeypatch.setenv(name, value)

    assert given.redis_cluster
    assert Settings(redis_url="redis://node:7000/0").redis_cluster


def test_a_metrics_token_has_its_own_role() -> None:
    assert parse_token("metrics:scrape-only-1").role == "metrics"
    assert parse_token("metrics:scrape-only-1").token == "scrape-only-1"


def test_sentinel_settings_travel_to_worker_processes_with_the_password_apart() -> None:
    settings = Settings(
        redis_sentinel="10.0.0.1:26379, sentinel-b:26380",
        redis_master="runyard",
        redis_password="s3cret-redis",
        redis_sentinel_password="s3cret-sentinel",
        redis_min_replicas_ack=1,
    )
    assert sentinel_addresses(settings.redis_sentinel or "") == [
        ("10.0.0.1", 26379),
        ("sentinel-b", 26380),
    ]
    assert settings.redis_url is None and settings.redis_password == "s3cret-redis"
    env = settings.to_env()
    assert env["RUNYARD_REDIS_SENTINEL"] == "10.0.0.1:26379, sentinel-b:26380"
    assert env["RUNYARD_REDIS_MIN_REPLICAS_ACK"] == "1"
    rebuilt = Settings.model_validate(
        {k.removeprefix("RUNYARD_").lower(): v for k, v in env.items()}
    )
    assert rebuilt.redis_master == "runyard"
    assert rebuilt.redis_sentinel_password == "s3cret-sentinel"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"redis_sentinel": "host:26379"}, "go together"),
        ({"redis_master": "runyard"}, "go together"),
        (
            {"redis_sentinel": "h:1", "redis_master": "m", "redis_url": "redis://h"},
            "not both",
        ),
        ({"redis_sentinel": "h:1,nohost", "redis_master": "m"}, "'nohost' is not HOST:PORT"),
        ({"redis_sentinel": "h:99999", "redis_master": "m"}, "'h:99999' is not HOST:PORT"),
        ({"redis_min_replicas_ack": -1}, "greater than or equal to 0"),
        ({"redis_min_replicas_ack": 1}, "the embedded Redis has none"),
    ],
)
def test_sentinel_settings_that_cannot_work_are_refused(
    given: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings.model_validate(given)
