"""HTTP API: a unique prefix (≥ 6 hex digits) of a task id works wherever a task id is
a path parameter; an ambiguous one names the tasks it matches (issue 11)."""

import time

import redis
from fastapi.testclient import TestClient

from runyard.models import TaskCreate
from runyard_server.store import keys, scripts
from runyard_server.store.tasks import queue_create

TWINS = ("abcdef12a" + "0" * 23, "abcdef12b" + "0" * 23)


def add_twins(redis_url: str) -> None:
    """Two tasks whose ids share their first 8 digits, made with the server's own script."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        create = r.script_load(scripts.source("create"))
        with r.pipeline(transaction=False) as pipe:
            for num, task_id in enumerate(TWINS, 1):
                body = TaskCreate(name="twin")
                queue_create(pipe, create, task_id, body, time.time(), num)
            assert [reply[0] for reply in pipe.execute()] == ["ok", "ok"]


def test_a_unique_prefix_names_the_task_in_every_task_route(api: TestClient) -> None:
    task = api.post(
        "/tasks",
        json={"name": "short", "params": {"A": {"x": 1}}, "script": {"entry_point": "train.py"}},
    ).json()
    prefix = task["id"][:6]

    assert api.get(f"/tasks/{prefix}").json()["id"] == task["id"]
    assert api.get(f"/tasks/{prefix}/metrics").status_code == 200
    assert api.get(f"/tasks/{prefix}/artifacts").json() == []
    assert api.get(f"/tasks/{prefix}/logs").status_code == 200
    clone = api.post(f"/tasks/{prefix}/clone", json={"overrides": {"A/x": 2}}).json()
    assert clone["parent"] == task["id"]
    queued = api.post(f"/tasks/{prefix}/enqueue", json={"queue": "q", "create_queue": True})
    assert queued.json()["id"] == task["id"]


def test_an_ambiguous_prefix_lists_the_matches_and_a_longer_one_resolves(
    api: TestClient, redis_url: str
) -> None:
    add_twins(redis_url)

    ambiguous = api.get("/tasks/abcdef12")

    assert ambiguous.status_code == 422, ambiguous.text
    detail = ambiguous.json()["detail"]
    assert "task id prefix abcdef12 is ambiguous" in detail
    assert TWINS[0] in detail and TWINS[1] in detail
    assert api.get("/tasks/abcdef12b").json()["id"] == TWINS[1]


def test_an_unknown_or_too_short_prefix_is_a_404(api: TestClient) -> None:
    api.post("/tasks", json={"name": "lonely"})

    unknown = api.get("/tasks/0000000")
    too_short = api.get("/tasks/abcde")

    assert unknown.status_code == 404 and "no task id starts with 0000000" in unknown.text
    assert too_short.status_code == 404 and "task abcde does not exist" in too_short.text


def test_a_deleted_task_leaves_the_prefix_index(api: TestClient, redis_url: str) -> None:
    task = api.post("/tasks", json={"name": "gone"}).json()

    assert api.delete(f"/tasks/{task['id'][:8]}").status_code == 204

    assert api.get(f"/tasks/{task['id'][:8]}").status_code == 404
    with redis.Redis.from_url(redis_url) as r:
        assert r.zcard(keys.TASK_IDS) == 0
