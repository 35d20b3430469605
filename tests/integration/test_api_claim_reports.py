"""A claim carries the end reports of the tasks the worker held (``ClaimRequest.ended``)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

FREE = {"gpus": 1, "cpus": 4, "memory_gb": 8}


@pytest.fixture
def worker(api: TestClient) -> str:
    registered = api.post("/workers", json={"name": "w", "queues": ["q"], "resources": FREE})
    assert registered.status_code == 201, registered.text
    return str(registered.json()["id"])


def queue_tasks(api: TestClient, count: int) -> list[str]:
    code = {"entry_point": "train.py"}
    tasks = [
        {"name": f"t{i}", "queue": "q", "create_queue": True, "script": code} for i in range(count)
    ]
    return list(api.post("/tasks:batch", json={"tasks": tasks}).json()["ids"])


def claim(api: TestClient, worker: str, *ended: dict[str, Any]) -> dict[str, Any]:
    body = {"queues": ["q"], "free": FREE, "ended": list(ended)}
    response = api.post(f"/workers/{worker}/claim", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ended(claimed: dict[str, Any], status: str = "completed", **fields: Any) -> dict[str, Any]:
    task_id, token = claimed["task"]["id"], claimed["lease_token"]
    return {"task_id": task_id, "lease_token": token, "status": status, **fields}


def test_a_claim_reports_the_held_task_completed_and_takes_the_next(
    api: TestClient, worker: str
) -> None:
    first, second = queue_tasks(api, 2)
    held = claim(api, worker)

    nxt = claim(api, worker, ended(held, exit_code=0))

    assert nxt["task"]["id"] == second and nxt["refused"] == []
    done = api.get(f"/tasks/{first}").json()
    assert done["status"] == "completed" and done["exit_code"] == 0 and done["finished"]
    assert api.get("/workers").json()[0]["running"] == [second]


def test_a_report_sent_again_after_a_lost_reply_is_taken_once(api: TestClient, worker: str) -> None:
    (first,) = queue_tasks(api, 1)
    held = claim(api, worker)
    claim(api, worker, ended(held))
    finished = api.get(f"/tasks/{first}").json()["finished"]

    again = claim(api, worker, ended(held))

    assert again["refused"] == [] and again["task"] is None
    assert api.get(f"/tasks/{first}").json()["finished"] == finished


def test_a_stale_report_is_refused_and_the_claim_still_happens(
    api: TestClient, worker: str
) -> None:
    first, second = queue_tasks(api, 2)
    held = claim(api, worker)
    stale = {**ended(held), "lease_token": "0" * 32}

    nxt = claim(api, worker, stale)

    assert nxt["refused"] == [first] and nxt["task"]["id"] == second
    assert api.get(f"/tasks/{first}").json()["status"] == "running"


def test_a_failed_report_needs_a_reason_and_records_its_kind(api: TestClient, worker: str) -> None:
    (first,) = queue_tasks(api, 1)
    held = claim(api, worker)
    without = {"queues": ["q"], "free": FREE, "ended": [ended(held, "failed")]}
    refused = api.post(f"/workers/{worker}/claim", json=without)
    assert refused.status_code == 422 and "needs a reason" in refused.text

    claim(api, worker, ended(held, "failed", kind="environment", reason="no wheel", exit_code=1))

    failed = api.get(f"/tasks/{first}").json()
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "environment: no wheel"
