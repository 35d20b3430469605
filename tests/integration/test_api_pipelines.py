"""HTTP API for pipelines and their runs, on a real Redis, app in-process: define, run
(its first steps queued before the answer), list, read, clone with a changed parameter,
abort; bad definitions are 4xx naming the problem."""

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _base(api: TestClient) -> str:
    body = {
        "project": "vision",
        "script": {"repository": "https://example.com/r.git", "entry_point": "train.py"},
        "params": {"Args": {"lr": 0.1, "data": ""}},
    }
    response = api.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _pipeline(api: TestClient, base: str, **fields: Any) -> dict[str, Any]:
    api.post("/queues", json={"name": "pq"})
    body = {
        "name": "two-step",
        "project": "vision",
        "params": {"lr": 0.5},
        "queue": "pq",
        "steps": [
            {"name": "prepare", "base": base},
            {
                "name": "train",
                "base": base,
                "parents": ["prepare"],
                "params": {"Args/lr": "${params.lr}", "Args/data": "${prepare.artifacts.d}"},
            },
        ],
        **fields,
    }
    response = api.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_run_queues_its_first_step_and_can_be_read_cloned_and_aborted(
    api: TestClient,
) -> None:
    pipeline = _pipeline(api, _base(api))
    assert api.get(f"/pipelines/{pipeline['id']}").json()["steps"][1]["parents"] == ["prepare"]
    assert pipeline["id"] in [p["id"] for p in api.get("/pipelines").json()["items"]]

    started = api.post(f"/pipelines/{pipeline['id']}/runs", json={"params": {"lr": 0.25}})
    assert started.status_code == 201, started.text
    run = started.json()
    assert run["params"] == {"lr": 0.25}
    assert [s["status"] for s in run["steps"]] == ["queued", "waiting"]
    task = api.get(f"/tasks/{run['steps'][0]['task']}").json()
    assert task["status"] == "queued" and task["queue"] == "pq"
    assert task["origin"] == f"pipeline:{run['id']}:prepare"

    clone = api.post(f"/pipelines/runs/{run['id']}/clone", json={"params": {"lr": 1.0}}).json()
    assert clone["cloned_from"] == run["id"] and clone["params"] == {"lr": 1.0}
    listed = api.get("/pipelines/runs", params={"pipeline": pipeline["id"]}).json()["items"]
    assert [r["id"] for r in listed] == [clone["id"], run["id"]]

    aborted = api.post(f"/pipelines/runs/{run['id']}/abort")
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["status"] == "aborted"
    assert [s["status"] for s in aborted.json()["steps"]] == ["aborted", "skipped"]
    assert api.get(f"/tasks/{run['steps'][0]['task']}").json()["status"] == "aborted"
    # Aborting an aborted run answers it as it is.
    assert api.post(f"/pipelines/runs/{clone['id']}/abort").json()["status"] == "aborted"
    assert api.post(f"/pipelines/runs/{clone['id']}/abort").json()["status"] == "aborted"
    assert api.get(f"/pipelines/runs/{run['id']}").json()["status"] == "aborted"


@pytest.mark.parametrize(
    ("step", "status", "fragment"),
    [
        ({"name": "a", "base": "f" * 32}, 404, "base task"),
        ({"name": "a", "base": "BASE", "params": {"Args/nope": 1}}, 422, "no param 'Args/nope'"),
        ({"name": "a", "base": "BASE", "parents": ["ghost"]}, 422, "parent ghost"),
        ({"name": "a", "base": "BASE", "params": {"Args/lr": "${x.metrics.m}"}}, 422, "ancestor"),
    ],
)
def test_bad_pipelines_are_refused_naming_the_problem(
    api: TestClient, step: dict[str, Any], status: int, fragment: str
) -> None:
    base = _base(api)
    if step.get("base") == "BASE":
        step = {**step, "base": base}
    response = api.post("/pipelines", json={"name": "bad", "steps": [step]})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_a_run_with_an_undeclared_param_or_unknown_pipeline_is_refused(api: TestClient) -> None:
    pipeline = _pipeline(api, _base(api))
    response = api.post(f"/pipelines/{pipeline['id']}/runs", json={"params": {"lr2": 1}})
    assert response.status_code == 422 and "'lr2' is not declared" in response.json()["detail"]
    assert api.post(f"/pipelines/{'0' * 32}/runs", json={}).status_code == 404
    assert api.get("/pipelines/runs/not-an-id").status_code == 404
