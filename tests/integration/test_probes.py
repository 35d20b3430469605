"""Liveness and readiness differ: a Redis outage fails readiness, not liveness."""

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.main import create_app


def test_livez_answers_while_redis_is_down_and_healthz_does_not(
    redis_factory: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    redis = redis_factory()
    settings = Settings(redis_url=redis.url, data_dir=tmp_path)
    with TestClient(
        create_app(settings), base_url="http://localhost", raise_server_exceptions=False
    ) as api:
        assert api.get("/api/v1/healthz").status_code == 200
        redis.kill()
        assert api.get("/api/v1/livez").status_code == 200
        assert api.get("/api/v1/healthz").status_code == 503
