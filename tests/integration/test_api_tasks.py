"""HTTP API for task records and queue moves, on a real Redis, app in-process."""

import pytest
from fastapi.testclient import TestClient


def new_task(api: TestClient, **fields: object) -> dict[str, object]:
    body = {
        "project": "vision",
        "name": "baseline",
        "script": {"repository": "https://example.com/r.git", "entry_point": "train.py"},
        "params": {"General": {"lr": 0.1, "epochs": 3, "nested": {"opt": "sgd"}}},
        **fields,
    }
    response = api.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_created_task_is_a_draft_and_readable(api: TestClient) -> None:
    task = new_task(api)
    assert task["status"] == "draft"
    got = api.get(f"/tasks/{task['id']}").json()
    assert got["params"]["General"] == {"lr": 0.1, "epochs": 3, "nested": {"opt": "sgd"}}
    assert got["script"]["entry_point"] == "train.py"


def test_create_with_queue_enqueues(api: TestClient) -> None:
    task = new_task(api, queue="gpu", create_queue=True, priority=5)
    assert task["status"] == "queued"
    assert task["queue"] == "gpu"
    assert api.get("/queues/gpu").json()["entries"][0]["task_id"] == task["id"]


def test_unknown_task_is_404_with_error_body(api: TestClient) -> None:
    response = api.get("/tasks/" + "0" * 32)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"project": "../etc"}, "project"),
        ({"project": "a\nb"}, "project"),
        ({"environment": {"requirements": ["--index-url http://evil"]}}, "pip option"),
        ({"script": {"repository": "--upload-pack=touch /tmp/x"}}, "option"),
        ({"script": {"entry_point": "/etc/passwd"}}, "relative"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"resources": {"gpus": "two"}}, "gpus"),
        ({"priority": 10**9, "queue": "q", "create_queue": True}, "priority"),
    ],
)
def test_bad_task_input_is_422_naming_the_problem(
    api: TestClient, body: dict[str, object], fragment: str
) -> None:
    response = api.post("/tasks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
    assert fragment in response.json()["detail"]


def test_malformed_json_is_400(api: TestClient) -> None:
    response = api.post(
        "/tasks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_oversize_body_is_413(api: TestClient) -> None:
    from runyard.models.limits import MAX_BODY_BYTES

    response = api.post(
        "/tasks",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_oversize_diff_is_refused(api: TestClient) -> None:
    from runyard.models.limits import MAX_DIFF_BYTES

    response = api.post("/tasks", json={"script": {"diff": "x" * (MAX_DIFF_BYTES + 1)}})
    assert response.status_code in (413, 422)
    assert "diff" in response.json()["detail"]


def test_patch_only_while_draft(api: TestClient) -> None:
    task = new_task(api)
    patched = api.patch(f"/tasks/{task['id']}", json={"name": "renamed", "tags": ["a"]})
    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    api.post(f"/tasks/{task['id']}/enqueue", json={"queue": "q", "create_queue": True})
    refused = api.patch(f"/tasks/{task['id']}", json={"name": "again"})
    assert refused.status_code == 409
    assert "queued" in refused.json()["detail"]
    labelled = api.patch(f"/tasks/{task['id']}", json={"tags": ["a", "good"], "comment": "ok"})
    assert labelled.status_code == 200
    assert labelled.json()["tags"] == ["a", "good"]
    tagged = api.get("/tasks", params={"tag": "good"}).json()["items"]
    assert [t["id"] for t in tagged] == [task["id"]]


def test_clone_copies_spec_sets_parent_and_applies_overrides_with_types(api: TestClient) -> None:
    task = new_task(api, tags=["base"])
    body = {"overrides": {"General/lr": 0.01, "General/nested/opt": "adam"}, "name": "lr-0.01"}
    clone = api.post(f"/tasks/{task['id']}/clone", json=body)
    assert clone.status_code == 201, clone.text
    got = clone.json()
    assert got["parent"] == task["id"]
    assert got["status"] == "draft"
    assert got["name"] == "lr-0.01"
    assert got["params"]["General"] == {"lr": 0.01, "epochs": 3, "nested": {"opt": "adam"}}
    assert got["script"] == task["script"]
    original = api.get(f"/tasks/{task['id']}").json()
    assert original["params"]["General"]["lr"] == 0.1


def test_clone_override_through_a_plain_value_is_a_422_naming_the_path(api: TestClient) -> None:
    task = new_task(api)
    for field in ("overrides", "new_params"):
        refused = api.post(f"/tasks/{task['id']}/clone", json={field: {"General/lr/x": 1}})
        assert refused.status_code == 422
        assert refused.json()["error"] == "invalid"
        assert "'General/lr/x'" in refused.json()["detail"]


def test_clone_with_queue_is_queued(api: TestClient) -> None:
    task = new_task(api)
    clone = api.post(
        f"/tasks/{task['id']}/clone", json={"queue": "cpu", "create_queue": True}
    ).json()
    assert clone["status"] == "queued"
    assert clone["queue"] == "cpu"


def test_enqueue_dequeue_and_illegal_transitions_name_current_status(api: TestClient) -> None:
    task = new_task(api)
    tid = task["id"]
    queue = {"queue": "q", "create_queue": True}
    assert api.post(f"/tasks/{tid}/enqueue", json=queue).json()["status"] == "queued"
    again = api.post(f"/tasks/{tid}/enqueue", json={"queue": "q"})
    assert again.status_code == 409
    assert "queued" in again.json()["detail"]
    assert api.post(f"/tasks/{tid}/dequeue").json()["status"] == "draft"
    assert api.get("/queues/q").json()["depth"] == 0
    not_queued = api.post(f"/tasks/{tid}/dequeue")
    assert not_queued.status_code == 409
    assert "draft" in not_queued.json()["detail"]


def test_abort_of_queued_task_ends_it_and_final_task_refuses(api: TestClient) -> None:
    task = new_task(api, queue="q", create_queue=True)
    aborted = api.post(f"/tasks/{task['id']}/abort").json()
    assert aborted["status"] == "aborted"
    assert api.get("/queues/q").json()["depth"] == 0
    assert api.post(f"/tasks/{task['id']}/abort").status_code == 409


def test_delete_refused_while_queued_then_allowed(api: TestClient) -> None:
    task = new_task(api, queue="q", create_queue=True)
    assert api.delete(f"/tasks/{task['id']}").status_code == 409
    api.post(f"/tasks/{task['id']}/dequeue")
    assert api.delete(f"/tasks/{task['id']}").status_code == 204
    assert api.get(f"/tasks/{task['id']}").status_code == 404


def test_list_filters_and_pages_newest_first(api: TestClient) -> None:
    ids = [new_task(api, name=f"t{i}", project="p1" if i % 2 else "p2")["id"] for i in range(7)]
    page = api.get("/tasks", params={"project": "p1", "limit": 2}).json()
    assert [t["name"] for t in page["items"]] == ["t5", "t3"]
    rest = api.get("/tasks", params={"project": "p1", "limit": 2, "cursor": page["next_cursor"]})
    assert [t["name"] for t in rest.json()["items"]] == ["t1"]
    assert rest.json()["next_cursor"] is None
    everything = api.get("/tasks", params={"limit": 100}).json()["items"]
    assert [t["id"] for t in everything] == ids[::-1]
    assert len(api.get("/tasks", params={"status": "queued"}).json()["items"]) == 0
    assert api.get("/tasks", params={"status": "nonsense"}).status_code == 422
    assert api.get("/tasks", params={"limit": 0}).status_code == 422


def test_list_sorts_by_a_final_metric_across_pages(api: TestClient) -> None:
    values = [0.3, None, 0.9, 0.3, 0.1]
    ids = []
    for i, value in enumerate(values):
        task = new_task(api, name=f"Run-{i}")
        ids.append(task["id"])
        if value is not None:
            point = {"series": "val/acc", "value": value, "ts": 1.0}
            assert api.post(f"/tasks/{task['id']}/metrics", json={"points": [point]}).is_success

    seen, shown, cursor = [], {}, None
    while True:
        params = {"sort": "metric:val/acc", "limit": 2, "cursor": cursor, "q": "run-"}
        page = api.get("/tasks", params={k: v for k, v in params.items() if v}).json()
        seen += [t["id"] for t in page["items"]]
        shown |= page["metric_values"]
        if (cursor := page["next_cursor"]) is None:
            break

    tied = sorted([ids[0], ids[3]], reverse=True)  # equal values: by id, descending too
    assert seen == [ids[2], *tied, ids[4], ids[1]]
    assert shown == {ids[0]: 0.3, ids[2]: 0.9, ids[3]: 0.3, ids[4]: 0.1}
    by_name = api.get("/tasks", params={"sort": "name", "order": "desc", "limit": 1}).json()
    assert by_name["items"][0]["id"] == ids[4]
    foreign = api.get("/tasks", params={"sort": "started", "cursor": by_name["next_cursor"]})
    assert foreign.status_code == 422 and "another sort" in foreign.json()["detail"]
    assert api.get("/tasks", params={"sort": "metric:"}).status_code == 422
    assert api.get("/tasks", params={"order": "sideways"}).status_code == 422
