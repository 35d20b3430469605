"""Queue settings over HTTP on a real Redis: PATCH, what the list shows, bad input."""

from fastapi.testclient import TestClient


def test_patch_sets_and_clears_limits_and_the_list_shows_them(api: TestClient) -> None:
    assert api.post("/queues", json={"name": "gpu"}).status_code == 201
    fresh = api.get("/queues/gpu").json()
    assert (fresh["max_running"], fresh["max_gpus"], fresh["preemptible"]) == (None, None, False)
    assert (fresh["running"], fresh["gpus_in_use"]) == (0, 0.0)

    body = {"max_running": 3, "max_gpus": 2.5, "preemptible": True}
    changed = api.patch("/queues/gpu", json=body)
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in body} == body
    listed = {q["name"]: q for q in api.get("/queues").json()}["gpu"]
    assert {k: listed[k] for k in body} == body

    # Partial: a field not sent keeps its value; null clears a limit.
    partial = api.patch("/queues/gpu", json={"max_gpus": None}).json()
    assert (partial["max_running"], partial["max_gpus"], partial["preemptible"]) == (3, None, True)
    off = api.patch("/queues/gpu", json={"preemptible": False, "max_running": 0}).json()
    assert (off["max_running"], off["preemptible"]) == (0, False)


def test_patch_refuses_unknown_queue_and_bad_fields(api: TestClient) -> None:
    assert api.patch("/queues/nowhere", json={"max_running": 1}).status_code == 404
    assert api.post("/queues", json={"name": "cpu"}).status_code == 201
    for body, field in [
        ({"max_running": -1}, "max_running"),
        ({"max_running": 1.5}, "max_running"),
        ({"max_gpus": -0.5}, "max_gpus"),
        ({"preemptible": None}, "preemptible"),
        ({"max_tasks": 2}, "max_tasks"),
    ]:
        response = api.patch("/queues/cpu", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (body, response.text)
    assert api.get("/queues/cpu").json()["max_running"] is None


def test_a_deleted_queue_forgets_its_settings(api: TestClient) -> None:
    assert api.post("/queues", json={"name": "tmp"}).status_code == 201
    assert api.patch("/queues/tmp", json={"max_running": 1}).status_code == 200
    assert api.delete("/queues/tmp").status_code == 204
    assert api.post("/queues", json={"name": "tmp"}).status_code == 201
    assert api.get("/queues/tmp").json()["max_running"] is None
