"""HTTP API for queues, workers, claims, reports and logs, on a real Redis."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from runyard_server.config import Settings
from runyard_server.main import create_app


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, lease_s=5, first_lease_s=2)
    with TestClient(create_app(settings), base_url="http://localhost/api/v1") as client:
        yield client


def queued(api: TestClient, queue: str = "q", priority: int = 0, gpus: int = 0) -> str:
    body = {
        "queue": queue,
        "create_queue": True,
        "priority": priority,
        "resources": {"gpus": gpus},
        "script": {"entry_point": "train.py"},
    }
    response = api.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def register(api: TestClient, queues: list[str], gpus: int = 0) -> str:
    body = {"name": "w1", "queues": queues, "resources": {"gpus": gpus, "cpus": 4, "memory_gb": 8}}
    response = api.post("/workers", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def claim(api: TestClient, worker: str, queues: list[str], gpus: int = 0) -> dict[str, object]:
    body = {"queues": queues, "free": {"gpus": gpus, "cpus": 4, "memory_gb": 8}, "wait_s": 0}
    response = api.post(f"/workers/{worker}/claim", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_queue_crud_and_conflicts(api: TestClient) -> None:
    assert api.post("/queues", json={"name": "gpu"}).status_code == 201
    assert api.post("/queues", json={"name": "gpu"}).status_code == 409
    assert api.post("/queues", json={"name": "a/b"}).status_code == 422
    assert "gpu" in [q["name"] for q in api.get("/queues").json()]
    queued(api, "gpu")
    assert api.delete("/queues/gpu").status_code == 409
    assert api.get("/queues/missing").status_code == 404


def test_queue_shows_priority_then_fifo_and_move(api: TestClient) -> None:
    low, high, low2 = queued(api), queued(api, priority=10), queued(api)
    detail = api.get("/queues/q").json()
    assert [e["task_id"] for e in detail["entries"]] == [high, low, low2]
    assert detail["depth"] == 3
    assert detail["oldest_wait_s"] >= 0
    moved = api.post("/queues/q/move", json={"task_id": low2, "to": "top"}).json()
    assert [e["task_id"] for e in moved["entries"]] == [low2, high, low]
    bad = api.post("/queues/q/move", json={"task_id": "f" * 32, "to": "top"})
    assert bad.status_code == 404


def test_claim_report_lifecycle_and_stale_token(api: TestClient) -> None:
    tid = queued(api)
    worker = register(api, ["q"])
    got = claim(api, worker, ["q"])
    assert got["task"]["id"] == tid  # type: ignore[index]
    token = got["lease_token"]
    assert claim(api, worker, ["q"])["task"] is None
    stale = api.post(f"/tasks/{tid}/started", json={"lease_token": "not-the-token"})
    assert stale.status_code == 409
    assert stale.json()["error"] == "stale_lease"
    assert api.post(f"/tasks/{tid}/started", json={"lease_token": token}).status_code == 200
    done = api.post(f"/tasks/{tid}/completed", json={"lease_token": token, "exit_code": 0})
    assert done.json()["status"] == "completed"
    again = api.post(f"/tasks/{tid}/failed", json={"lease_token": token, "reason": "x"})
    assert again.status_code == 409


def test_failed_report_keeps_kind_in_reason(api: TestClient) -> None:
    tid = queued(api)
    worker = register(api, ["q"])
    token = claim(api, worker, ["q"])["lease_token"]
    body = {"lease_token": token, "kind": "environment", "reason": "install failed", "exit_code": 1}
    task = api.post(f"/tasks/{tid}/failed", json=body).json()
    assert task["status"] == "failed"
    assert task["failure_reason"].startswith("environment:")


def test_gpu_task_skipped_for_small_agent(api: TestClient) -> None:
    big = queued(api, gpus=2)
    small = queued(api)
    worker = register(api, ["q"], gpus=1)
    assert claim(api, worker, ["q"], gpus=1)["task"]["id"] == small  # type: ignore[index]
    assert claim(api, worker, ["q"], gpus=1)["task"] is None
    assert api.get("/queues/q").json()["entries"][0]["task_id"] == big


def test_heartbeat_reports_abort_and_worker_list(api: TestClient) -> None:
    tid = queued(api)
    worker = register(api, ["q"])
    token = claim(api, worker, ["q"])["lease_token"]
    api.post(f"/tasks/{tid}/abort")
    reply = api.post(
        f"/workers/{worker}/heartbeat", json={"running": [{"task_id": tid, "lease_token": token}]}
    ).json()
    assert reply["abort"] == [tid]
    workers = api.get("/workers").json()
    assert workers[0]["alive"] is True
    assert workers[0]["running"] == [tid]
    unknown = api.post("/workers/nope/heartbeat", json={"running": []})
    assert unknown.status_code == 404


def test_logs_roundtrip_idempotent_by_seq(api: TestClient) -> None:
    tid = queued(api)
    lines = [{"stream": "stdout", "text": f"line {i}", "ts": 1.0} for i in range(3)]
    assert api.post(f"/tasks/{tid}/logs", json={"seq": 0, "lines": lines}).json()["accepted"]
    assert not api.post(f"/tasks/{tid}/logs", json={"seq": 0, "lines": lines}).json()["accepted"]
    page = api.get(f"/tasks/{tid}/logs").json()
    assert [line["text"] for line in page["lines"]] == ["line 0", "line 1", "line 2"]
    more = api.get(f"/tasks/{tid}/logs", params={"after": page["cursor"]}).json()
    assert more["lines"] == []


def test_claim_wait_bounds_are_validated(api: TestClient) -> None:
    worker = register(api, ["q"])
    body = {"queues": ["q"], "free": {}, "wait_s": 31}
    assert api.post(f"/workers/{worker}/claim", json=body).status_code == 422


def test_healthz_and_openapi(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    spec = api.get("/openapi.json").json()
    assert "/api/v1/workers/{worker_id}/claim" in spec["paths"]


def test_a_queued_task_moves_to_another_queue_in_one_call(api: TestClient) -> None:
    task = queued(api, "q", priority=4)
    draft = api.post("/tasks", json={"script": {"entry_point": "train.py"}}).json()["id"]
    assert api.post("/queues", json={"name": "gpu"}).status_code == 201

    moved = api.post(f"/tasks/{task}/move", json={"queue": "gpu"})

    assert moved.status_code == 200, moved.text
    assert moved.json()["queue"] == "gpu" and moved.json()["priority"] == 4
    assert moved.json()["status"] == "queued"
    assert "no live worker" in " ".join(moved.json()["warnings"])
    assert [e["task_id"] for e in api.get("/queues/gpu").json()["entries"]] == [task]
    assert api.get("/queues/q").json()["entries"] == []
    missing = api.post(f"/tasks/{task}/move", json={"queue": "nowhere"})
    assert missing.status_code == 404 and "queue nowhere does not exist" in missing.text
    assert api.get(f"/tasks/{task}").json()["queue"] == "gpu"
    same = api.post(f"/tasks/{task}/move", json={"queue": "gpu"})
    assert same.status_code == 409 and "already" in same.text
    not_queued = api.post(f"/tasks/{draft}/move", json={"queue": "gpu"})
    assert not_queued.status_code == 409 and "only a queued task" in not_queued.text
    bad = api.post(f"/tasks/{task}/move", json={"queue": "a b", "priority": 10**9})
    assert bad.status_code == 422
    made = api.post(
        f"/tasks/{task}/move", json={"queue": "new", "create_queue": True, "priority": 1}
    )
    assert made.status_code == 200 and made.json()["priority"] == 1
