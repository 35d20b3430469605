"""``GET /metrics`` and request ids / request log lines, app in-process on a real Redis."""

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from runyard_server import store
from runyard_server.config import Settings
from runyard_server.main import create_app
from runyard_server.server_log import JsonFormatter

USER, AGENT = "user-metrics-123", "agent-metrics-456"
AS_AGENT = {"Authorization": f"Bearer {AGENT}"}


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, tokens=[f"user:{USER}", f"agent:{AGENT}"])
    headers = {"Authorization": f"Bearer {USER}"}
    with TestClient(create_app(settings), base_url="http://localhost", headers=headers) as client:
        yield client


def scrape(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def claimed(api: TestClient, queue: str) -> tuple[str, str]:
    """Register a worker on ``queue`` and claim its head: (task id, lease token)."""
    worker = api.post(
        "/api/v1/workers", json={"name": "w", "queues": [queue], "resources": {}}, headers=AS_AGENT
    ).json()["id"]
    got = api.post(
        f"/api/v1/workers/{worker}/claim", json={"queues": [queue], "free": {}}, headers=AS_AGENT
    ).json()
    return got["task"]["id"], got["lease_token"]


def reap(redis_url: str, now: float) -> list[str]:
    async def run() -> list[str]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await store.reap_expired(client, now)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_metrics_report_queues_tasks_workers_and_claim_latency(api: TestClient) -> None:
    for _ in range(3):
        api.post(
            "/api/v1/tasks",
            json={"queue": "gpu", "create_queue": True, "script": {"entry_point": "train.py"}},
        )
    api.post("/api/v1/tasks", json={})
    time.sleep(0.05)
    task_id, _ = claimed(api, "gpu")
    got = scrape(api)
    assert got[("runyard_queue_depth", (("queue", "gpu"),))] == 2
    assert got[("runyard_queue_running", (("queue", "gpu"),))] == 1
    assert got[("runyard_queue_oldest_wait_seconds", (("queue", "gpu"),))] >= 0.05
    assert got[("runyard_tasks", (("status", "queued"),))] == 2
    assert got[("runyard_tasks", (("status", "running"),))] == 1
    assert got[("runyard_tasks", (("status", "draft"),))] == 1
    assert got[("runyard_workers", (("state", "alive"),))] == 1
    assert got[("runyard_claim_latency_seconds_count", ())] == 1
    assert got[("runyard_claim_latency_seconds_bucket", (("le", "+Inf"),))] == 1
    api.post("/api/v1/queues", json={"name": "empty"})
    assert scrape(api)[("runyard_queue_oldest_wait_seconds", (("queue", "empty"),))] == 0
    assert task_id


def test_log_bytes_count_stored_lines_once(api: TestClient) -> None:
    task_id = api.post("/api/v1/tasks", json={}).json()["id"]
    batch = {"seq": 0, "lines": [{"text": "hello", "ts": 1.0}, {"text": "world", "ts": 2.0}]}
    api.post(f"/api/v1/tasks/{task_id}/logs", json=batch)
    first = scrape(api)[("runyard_log_bytes_total", ())]
    assert first > len("helloworld")
    api.post(f"/api/v1/tasks/{task_id}/logs", json=batch)  # a retry: stored once, counted once
    assert scrape(api)[("runyard_log_bytes_total", ())] == first


def test_lease_expiries_are_counted_in_redis_by_outcome(api: TestClient, redis_url: str) -> None:
    api.post(
        "/api/v1/tasks",
        json={
            "queue": "q",
            "create_queue": True,
            "max_retries": 1,
            "script": {"entry_point": "train.py"},
        },
    )
    claimed(api, "q")
    assert len(reap(redis_url, time.time() + 3600)) == 1  # requeued: a retry left
    claimed(api, "q")
    assert len(reap(redis_url, time.time() + 7200)) == 1  # failed: "worker lost"
    got = scrape(api)
    assert got[("runyard_lease_expiries_total", (("outcome", "requeued"),))] == 1
    assert got[("runyard_lease_expiries_total", (("outcome", "failed"),))] == 1
    assert got[("runyard_workers", (("state", "alive"),))] == 2


def test_metrics_need_a_user_token(api: TestClient) -> None:
    assert api.get("/metrics", headers={"Authorization": ""}).status_code == 401
    assert api.get("/metrics", headers=AS_AGENT).status_code == 403


def test_a_sane_request_id_is_kept_and_returned(api: TestClient) -> None:
    response = api.get("/api/v1/healthz", headers={"X-Request-ID": "agent-7:claim.42"})
    assert response.headers["x-request-id"] == "agent-7:claim.42"


@pytest.mark.parametrize(
    "given", [None, "", "has space", "x" * 129, 'quote"d', "ünï".encode(), b"a\x00b"]
)
def test_a_missing_or_insane_request_id_is_replaced(
    api: TestClient, given: str | bytes | None
) -> None:
    headers: dict[str, str | bytes] = {} if given is None else {"X-Request-ID": given}
    first = api.get("/api/v1/healthz", headers=headers).headers["x-request-id"]
    second = api.get("/api/v1/healthz", headers=headers).headers["x-request-id"]
    assert first != given and len(first) == 32 and first != second


def test_errors_and_refused_bodies_carry_the_request_id(api: TestClient) -> None:
    response = api.get("/api/v1/tasks/" + "0" * 32, headers={"X-Request-ID": "r1"})
    assert (response.status_code, response.headers["x-request-id"]) == (404, "r1")
    too_big = api.post(
        "/api/v1/tasks", content=b"x", headers={"content-length": str(10**12), "X-Request-ID": "r2"}
    )
    assert (too_big.status_code, too_big.headers["x-request-id"]) == (413, "r2")


def test_one_log_line_per_request_without_query_headers_or_body(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runyard_server.requests")
    api.post(
        "/api/v1/tasks?secret=in-query",
        json={"comment": "secret-in-body"},
        headers={"X-Request-ID": "line-1", "X-Other": "secret-in-header"},
    )
    records = [r for r in caplog.records if r.name == "runyard_server.requests"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["msg"] == "request"
    assert {k: line[k] for k in ("method", "path", "status", "request_id")} == {
        "method": "POST",
        "path": "/api/v1/tasks",
        "status": 201,
        "request_id": "line-1",
    }
    assert line["duration_ms"] >= 0
    text = JsonFormatter().format(records[0]) + caplog.text
    assert "secret" not in text and USER not in text


def test_a_500_carries_the_request_id_in_header_body_and_log(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runyard_server.requests")
    app = create_app(Settings(redis_url=redis_url))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert (response.status_code, response.headers["x-request-id"]) == (500, "bug-1")
    assert "bug-1" in response.json()["detail"]
    logged = [getattr(r, "fields", {}) for r in caplog.records]
    assert {"request_id": "bug-1"} in logged
    assert {"method": "GET", "path": "/boom", "status": 500} in [
        {k: f.get(k) for k in ("method", "path", "status")} for f in logged
    ]
