"""``POST /tasks:batch``: many tasks in one request, created all or none."""

from fastapi.testclient import TestClient

from runyard.models.limits import MAX_BATCH_TASKS

CODE = {"entry_point": "train.py"}


def spec(i: int, **fields: object) -> dict[str, object]:
    params = {"General": {"lr": i / 10}}
    return {"project": "sweep", "name": f"lr-{i}", "params": params, "script": CODE, **fields}


def all_tasks(api: TestClient) -> list[dict[str, object]]:
    page = api.get("/tasks", params={"limit": 1000}).json()
    return list(page["items"])


def test_a_batch_creates_every_task_in_order_and_queues_them_fifo(api: TestClient) -> None:
    api.post("/queues", json={"name": "gpu"})
    body = {"tasks": [spec(i, queue="gpu") for i in range(5)] + [spec(9)]}

    created = api.post("/tasks:batch", json=body)

    assert created.status_code == 201, created.text
    ids = created.json()["ids"]
    assert len(ids) == 6
    tasks = [api.get(f"/tasks/{task_id}").json() for task_id in ids]
    assert [t["name"] for t in tasks] == [f"lr-{i}" for i in (0, 1, 2, 3, 4, 9)]
    assert [t["status"] for t in tasks] == ["queued"] * 5 + ["draft"]
    assert tasks[2]["params"] == {"General": {"lr": 0.2}}
    entries = api.get("/queues/gpu").json()["entries"]
    assert [e["task_id"] for e in entries] == ids[:5]
    assert created.json()["warnings"] == [
        "no live worker serves queue gpu (no worker is live); the task waits until one does"
    ]


def test_a_batch_naming_a_missing_queue_creates_nothing(api: TestClient) -> None:
    api.post("/queues", json={"name": "gpu"})
    body = {"tasks": [spec(0, queue="gpu"), spec(1, queue="nosuchqueue"), spec(2)]}

    refused = api.post("/tasks:batch", json=body)

    assert refused.status_code == 404
    assert "queue nosuchqueue does not exist" in refused.json()["detail"]
    assert all_tasks(api) == []
    assert api.get("/queues/gpu").json()["entries"] == []


def test_a_batch_with_one_queued_task_without_code_creates_nothing(api: TestClient) -> None:
    codeless = {"name": "nocode", "queue": "gpu", "create_queue": True}
    body = {"tasks": [spec(0, queue="gpu", create_queue=True), codeless]}

    refused = api.post("/tasks:batch", json=body)

    assert refused.status_code // 100 == 4, refused.text
    assert all_tasks(api) == []


def test_a_batch_with_one_invalid_task_creates_nothing(api: TestClient) -> None:
    body = {"tasks": [spec(0), spec(1, priority=10**9), spec(2)]}

    refused = api.post("/tasks:batch", json=body)

    assert refused.status_code == 422
    assert "priority" in refused.text
    assert all_tasks(api) == []


def test_a_batch_may_create_its_queue_and_holds_at_most_the_limit(api: TestClient) -> None:
    made = api.post("/tasks:batch", json={"tasks": [spec(0, queue="new", create_queue=True)]})
    assert made.status_code == 201, made.text
    assert [q["name"] for q in api.get("/queues").json()] == ["new"]

    too_many = {"tasks": [spec(i) for i in range(MAX_BATCH_TASKS + 1)]}
    assert api.post("/tasks:batch", json=too_many).status_code == 422
    assert api.post("/tasks:batch", json={"tasks": []}).status_code == 422
    assert len(all_tasks(api)) == 1
