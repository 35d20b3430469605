"""Server settings: the Redis password kept apart from the URL, the cluster flag,
metrics tokens."""

import pytest
import redis
from pydantic import ValidationError

from runyard_server.cli import load_settings
from runyard_server.config import Settings, parse_token


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
