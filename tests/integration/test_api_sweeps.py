"""``/api/v1/sweeps`` in-process on a real Redis: a sweep is checked against its base task
(a 4xx naming the param), read back with its trials, curves and log, stopped and resumed.
The controller that runs the trials is tested in ``test_sweep_controller.py``."""

from typing import Any

from fastapi.testclient import TestClient

BASE = {
    "name": "base",
    "script": {"entry_point": "train.py"},
    "params": {"Args": {"lr": 0.01, "layers": 2, "opt": "adam"}},
}


def _base(api: TestClient, **fields: Any) -> str:
    assert api.post("/queues", json={"name": "gpu"}).status_code in (201, 409)
    created = api.post("/tasks", json={**BASE, **fields})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _sweep(base: str, **fields: Any) -> dict[str, Any]:
    return {
        "base": base,
        "params": {"Args/lr": "loguniform(1e-4,1e-1)", "Args/layers": "int(1,4)"},
        "objective": "val/loss",
        "queue": "gpu",
        "trials": 5,
        "parallel": 2,
        **fields,
    }


def test_a_sweep_is_created_and_read_back_with_its_trials_curves_and_log(api: TestClient) -> None:
    base = _base(api)
    created = api.post("/sweeps", json=_sweep(base, sampler="random", pruner="median"))
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert sweep["status"] == "running" and sweep["name"] == "sweep of base"
    assert sweep["project"] == "default" and sweep["counts"]["completed"] == 0

    assert api.get(f"/sweeps/{sweep['id']}").json()["id"] == sweep["id"]
    assert [s["id"] for s in api.get("/sweeps").json()["sweeps"]] == [sweep["id"]]
    assert api.get("/sweeps", params={"status": "done"}).json()["sweeps"] == []
    assert api.get(f"/sweeps/{sweep['id']}/trials").json() == {"trials": []}
    assert api.get(f"/sweeps/{sweep['id']}/curves").json() == {
        "objective": "val/loss",
        "curves": [],
    }
    log = api.get(f"/sweeps/{sweep['id']}/events").json()["events"]
    assert [e["kind"] for e in log] == ["created"]


def test_a_param_the_base_lacks_or_cannot_take_is_a_422_naming_it(api: TestClient) -> None:
    base = _base(api)
    unknown = api.post("/sweeps", json=_sweep(base, params={"Args/momentum": "uniform(0,1)"}))
    assert unknown.status_code == 422
    assert "param 'Args/momentum'" in unknown.json()["detail"]
    wrong = api.post("/sweeps", json=_sweep(base, params={"Args/layers": "choice(a,b)"}))
    assert wrong.status_code == 422
    assert "param 'Args/layers'" in wrong.json()["detail"]
    bad_text = api.post("/sweeps", json=_sweep(base, params={"Args/lr": "normal(0,1)"}))
    assert bad_text.status_code == 422 and "Args/lr" in bad_text.text
    assert (
        api.post("/sweeps", json=_sweep(base, params={"Args/opt": "choice(sgd,adam)"})).status_code
        == 201
    )


def test_an_unknown_base_or_queue_or_a_base_without_code_is_refused(api: TestClient) -> None:
    base = _base(api)
    assert api.post("/sweeps", json=_sweep("0" * 32)).status_code == 404
    no_queue = api.post("/sweeps", json=_sweep(base, queue="nowhere"))
    assert no_queue.status_code == 404 and "queue nowhere" in no_queue.json()["detail"]
    codeless = _base(api, script={})
    refused = api.post("/sweeps", json=_sweep(codeless))
    assert refused.status_code == 422 and "cannot queue its clones" in refused.json()["detail"]
    assert api.get(f"/sweeps/{'0' * 32}").status_code == 404


def test_stop_and_resume_move_a_sweep_and_say_so_in_its_log(api: TestClient) -> None:
    sweep = api.post("/sweeps", json=_sweep(_base(api))).json()

    stopped = api.post(f"/sweeps/{sweep['id']}/stop", json={"reason": "enough"})
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped" and stopped.json()["reason"] == "enough"
    again = api.post(f"/sweeps/{sweep['id']}/stop", json={})
    assert again.status_code == 409 and "not running" in again.json()["detail"]
    resumed = api.post(f"/sweeps/{sweep['id']}/resume")
    assert resumed.json()["status"] == "running" and resumed.json()["reason"] is None
    assert api.post(f"/sweeps/{sweep['id']}/resume").status_code == 409
    kinds = [e["kind"] for e in api.get(f"/sweeps/{sweep['id']}/events").json()["events"]]
    assert kinds == ["created", "stopped", "resumed"]


def test_clone_best_before_any_trial_completed_is_a_409(api: TestClient) -> None:
    sweep = api.post("/sweeps", json=_sweep(_base(api))).json()
    refused = api.post(f"/sweeps/{sweep['id']}/clone-best", json={"queue": "gpu"})
    assert refused.status_code == 409 and "no completed trial" in refused.json()["detail"]
