"""HTTP API: a clone's overrides are checked, and a queue move says where it went wrong.

A typo in an override, a value of the wrong kind, or a queue name nobody serves used
to be accepted and surfaced only as a run with the old value or a task that waited
forever (issue 11).
"""

from typing import Any

from fastapi.testclient import TestClient

PARAMS = {"Args": {"lr": 0.1, "epochs": 3, "opt": "sgd"}}


def draft(api: TestClient) -> str:
    response = api.post(
        "/tasks", json={"name": "base", "params": PARAMS, "script": {"entry_point": "train.py"}}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def refused(response: Any, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for needle in needles:
        assert needle in detail


def test_clone_refuses_an_unknown_override_naming_the_closest_param(api: TestClient) -> None:
    source = draft(api)

    response = api.post(f"/tasks/{source}/clone", json={"overrides": {"Args/lrr": 0.01}})

    refused(response, 422, "'Args/lrr'", "did you mean Args/lr", "--new-param")
    assert len(api.get("/tasks").json()["items"]) == 1


def test_clone_refuses_a_value_that_cannot_take_the_recorded_type(api: TestClient) -> None:
    source = draft(api)

    response = api.post(f"/tasks/{source}/clone", json={"overrides": {"Args/lr": "fast"}})

    refused(response, 422, "'Args/lr'", "'fast' is not a float")


def test_clone_converts_overrides_and_adds_new_params_on_purpose(api: TestClient) -> None:
    source = draft(api)
    body = {"overrides": {"Args/epochs": "5", "Args/lr": 1}, "new_params": {"Args/seed": 7}}

    clone = api.post(f"/tasks/{source}/clone", json=body).json()

    assert clone["params"] == {"Args": {"lr": 1.0, "epochs": 5, "opt": "sgd", "seed": 7}}
    again = api.post(f"/tasks/{source}/clone", json={"new_params": {"Args/lr": 2}})
    refused(again, 422, "'Args/lr' already exists")


def test_a_move_to_a_queue_that_does_not_exist_asks_for_create_queue(api: TestClient) -> None:
    source = draft(api)

    refused(
        api.post(f"/tasks/{source}/enqueue", json={"queue": "nosuchqueue"}),
        404,
        "queue nosuchqueue does not exist",
        "--create-queue",
        "create_queue",
    )
    refused(api.post(f"/tasks/{source}/clone", json={"queue": "nosuchqueue"}), 404, "create_queue")
    refused(
        api.post("/tasks", json={"queue": "nosuchqueue", "script": {"entry_point": "train.py"}}),
        404,
        "create_queue",
    )
    assert api.get("/queues").json() == []
    assert [t["status"] for t in api.get("/tasks").json()["items"]] == ["draft"]


def test_a_move_to_a_queue_no_live_worker_serves_warns_naming_the_served_ones(
    api: TestClient,
) -> None:
    lonely = api.post(
        "/tasks", json={"queue": "cpu", "create_queue": True, "script": {"entry_point": "train.py"}}
    ).json()
    assert lonely["status"] == "queued"
    assert lonely["warnings"] == [
        "no live worker serves queue cpu (no worker is live); the task waits until one does"
    ]
    worker = {"name": "w", "queues": ["gpu", "big"], "resources": {}}
    assert api.post("/workers", json=worker).status_code == 201

    source = draft(api)
    moved = api.post(f"/tasks/{source}/enqueue", json={"queue": "cpu"}).json()
    served = api.post(f"/tasks/{draft(api)}/clone", json={"queue": "gpu"}).json()

    assert moved["status"] == "queued"
    assert "live workers serve big, gpu" in moved["warnings"][0]
    assert served["status"] == "queued" and served["warnings"] == []
    assert api.get(f"/tasks/{source}").json()["warnings"] == []
