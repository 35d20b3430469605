"""Metrics and artifacts over HTTP, on a real Redis and a real artifact folder."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runyard.models.limits import MAX_METRIC_POINTS_PER_BATCH
from runyard_server.config import Settings
from runyard_server.main import create_app


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path)
    with TestClient(create_app(settings), base_url="http://localhost/api/v1") as client:
        yield client


@pytest.fixture
def task_id(api: TestClient) -> str:
    return str(api.post("/tasks", json={"name": "t"}).json()["id"])


def test_metrics_keep_series_order_steps_and_final_values(api: TestClient, task_id: str) -> None:
    points = [
        {"series": "val/acc", "value": 0.5, "step": 0, "ts": 1.0},
        {"series": "loss", "value": 2.0, "step": 0, "ts": 1.0},
        {"series": "val/acc", "value": 0.75, "step": 1, "ts": 2.0},
    ]
    assert api.post(f"/tasks/{task_id}/metrics", json={"points": points}).json() == {"accepted": 3}
    got = api.get(f"/tasks/{task_id}/metrics").json()
    assert [p["value"] for p in got["series"]["val/acc"]] == [0.5, 0.75]
    assert [p["step"] for p in got["series"]["val/acc"]] == [0, 1]
    assert got["final"] == {"val/acc": 0.75, "loss": 2.0}


@pytest.mark.parametrize(
    "point",
    [
        {"series": "../x", "value": 1, "ts": 1},
        {"series": "ok", "value": "NaN", "ts": 1},
        {"series": "ok", "value": 1, "ts": 1, "step": -1},
    ],
)
def test_bad_metric_points_are_422(api: TestClient, task_id: str, point: dict[str, object]) -> None:
    response = api.post(f"/tasks/{task_id}/metrics", json={"points": [point]})
    assert response.status_code == 422
    assert api.get(f"/tasks/{task_id}/metrics").json()["series"] == {}


def test_oversize_metric_batch_is_refused_whole(api: TestClient, task_id: str) -> None:
    points = [{"series": "s", "value": 1, "ts": 1}] * (MAX_METRIC_POINTS_PER_BATCH + 1)
    assert api.post(f"/tasks/{task_id}/metrics", json={"points": points}).status_code == 422
    assert api.get(f"/tasks/{task_id}/metrics").json()["final"] == {}


def test_artifact_upload_list_download_roundtrip(api: TestClient, task_id: str) -> None:
    data = bytes(range(256)) * 1000
    created = api.post(f"/tasks/{task_id}/artifacts/model.pt", content=data)
    assert created.status_code == 201, created.text
    assert created.json()["sha256"] == hashlib.sha256(data).hexdigest()
    listed = api.get(f"/tasks/{task_id}/artifacts").json()
    assert [(a["name"], a["size"]) for a in listed] == [("model.pt", len(data))]
    downloaded = api.get(f"/tasks/{task_id}/artifacts/model.pt")
    assert downloaded.content == data


@pytest.mark.parametrize("name", ["..", ".hidden", "a%2Fb", "a b", "x" * 65])
def test_artifact_names_that_escape_or_hide_are_refused(
    api: TestClient, task_id: str, name: str, tmp_path: Path
) -> None:
    response = api.post(f"/tasks/{task_id}/artifacts/{name}", content=b"x")
    assert 400 <= response.status_code < 500, response.text
    assert not (tmp_path / "artifacts" / task_id).exists() or not any(
        (tmp_path / "artifacts" / task_id).iterdir()
    )


def test_artifact_of_unknown_task_is_404_and_writes_nothing(
    api: TestClient, tmp_path: Path
) -> None:
    response = api.post("/tasks/" + "a" * 32 + "/artifacts/x.bin", content=b"data")
    assert response.status_code == 404
    assert not (tmp_path / "artifacts" / ("a" * 32)).exists()


def test_deleting_a_task_removes_its_results(api: TestClient, task_id: str, tmp_path: Path) -> None:
    api.post(f"/tasks/{task_id}/artifacts/a.txt", content=b"hello")
    api.post(f"/tasks/{task_id}/metrics", json={"points": [{"series": "s", "value": 1, "ts": 1}]})
    assert api.delete(f"/tasks/{task_id}").status_code == 204
    assert not (tmp_path / "artifacts" / task_id).exists()
    assert api.get(f"/tasks/{task_id}/metrics").status_code == 404


def test_local_run_starts_running_and_reports_its_own_end(api: TestClient) -> None:
    started = api.post("/local-runs", json={"name": "laptop", "params": {"General": {"lr": 1}}})
    assert started.status_code == 201, started.text
    run = started.json()
    tid, token = run["task"]["id"], run["lease_token"]
    assert run["task"]["status"] == "running"
    assert run["task"]["worker"] is None
    done = api.post(f"/tasks/{tid}/completed", json={"lease_token": token, "exit_code": 0})
    assert done.json()["status"] == "completed"
    assert api.post("/local-runs", json={"queue": "q"}).status_code == 422


def test_aborting_a_local_run_ends_it_at_once(api: TestClient) -> None:
    run = api.post("/local-runs", json={}).json()
    tid, token = run["task"]["id"], run["lease_token"]
    assert api.post(f"/tasks/{tid}/abort").json()["status"] == "aborted"
    late = api.post(f"/tasks/{tid}/completed", json={"lease_token": token})
    assert late.status_code == 409


def test_a_local_run_may_record_params_as_it_goes_but_nothing_else(api: TestClient) -> None:
    run = api.post("/local-runs", json={"params": {"General": {"lr": 1}}}).json()
    tid = run["task"]["id"]
    params = {"General": {"lr": 1}, "Args": {"batch": 32}}
    patched = api.patch(f"/tasks/{tid}", json={"params": params})
    assert patched.status_code == 200, patched.text
    assert patched.json()["params"]["Args"] == {"batch": 32}
    refused = api.patch(f"/tasks/{tid}", json={"name": "renamed"})
    assert refused.status_code == 409
    assert "running" in refused.json()["detail"]


def test_a_local_run_that_stops_pinging_is_failed_by_the_reaper(
    api: TestClient, redis_url: str
) -> None:
    import asyncio
    import time

    import redis.asyncio as aioredis

    from runyard_server import store

    run = api.post("/local-runs", json={}).json()
    tid, token = run["task"]["id"], run["lease_token"]
    assert api.post(f"/tasks/{tid}/ping", json={"lease_token": token}).status_code == 200
    assert api.post(f"/tasks/{tid}/ping", json={"lease_token": "x" * 32}).status_code == 409

    async def reap(at: float) -> list[str]:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await store.reap_expired(r, at)
        finally:
            await r.aclose()

    assert asyncio.run(reap(time.time() + 60)) == []
    assert asyncio.run(reap(time.time() + 3600)) == [tid]
    task = api.get(f"/tasks/{tid}").json()
    assert task["status"] == "failed"
    assert "local run stopped reporting" in task["failure_reason"]
