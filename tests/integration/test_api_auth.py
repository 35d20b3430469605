"""Bearer tokens: user, agent and task roles, on a real Redis."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from runyard_server.config import Settings, parse_token
from runyard_server.main import create_app

USER, AGENT = "user-secret-123", "agent-secret-456"


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, tokens=[f"user:{USER}", f"agent:{AGENT}"])
    with TestClient(create_app(settings), base_url="http://localhost/api/v1") as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_or_wrong_token_is_401_except_healthz(api: TestClient) -> None:
    assert api.get("/healthz").status_code == 200
    assert api.get("/tasks").status_code == 401
    wrong = api.get("/tasks", headers=auth("nope-nope-nope"))
    assert wrong.status_code == 401
    assert "nope-nope-nope" not in wrong.text


def test_agent_token_cannot_create_or_read_tasks(api: TestClient) -> None:
    assert api.post("/tasks", json={}, headers=auth(AGENT)).status_code == 403
    assert api.get("/tasks", headers=auth(AGENT)).status_code == 403
    assert api.post("/tasks", json={}, headers=auth(USER)).status_code == 201


def test_task_token_from_claim_writes_only_its_own_task(api: TestClient) -> None:
    mine = api.post(
        "/tasks",
        json={"queue": "q", "create_queue": True, "script": {"entry_point": "train.py"}},
        headers=auth(USER),
    ).json()["id"]
    other = api.post("/tasks", json={}, headers=auth(USER)).json()["id"]
    worker = api.post(
        "/workers", json={"name": "w", "queues": ["q"], "resources": {}}, headers=auth(AGENT)
    ).json()["id"]
    got = api.post(
        f"/workers/{worker}/claim", json={"queues": ["q"], "free": {}}, headers=auth(AGENT)
    ).json()
    task_token = got["task_token"]
    assert task_token and USER not in task_token and AGENT not in task_token
    batch = {"seq": 0, "lines": [{"text": "hi", "ts": 1.0}]}
    assert api.post(f"/tasks/{mine}/logs", json=batch, headers=auth(task_token)).status_code == 200
    assert api.get(f"/tasks/{mine}", headers=auth(task_token)).status_code == 200
    assert api.post(f"/tasks/{other}/logs", json=batch, headers=auth(task_token)).status_code == 403
    assert api.get(f"/tasks/{other}", headers=auth(task_token)).status_code == 403
    assert api.post("/tasks", json={}, headers=auth(task_token)).status_code == 403


def test_forged_task_token_is_refused(api: TestClient) -> None:
    forged = "rytask." + "a" * 32 + "." + "0" * 64
    assert api.get("/tasks/" + "a" * 32, headers=auth(forged)).status_code == 401


def test_non_loopback_host_without_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="RUNYARD_TOKENS"):
        Settings(host="0.0.0.0", redis_url="redis://x").check_exposure()
    Settings(host="0.0.0.0", tokens=["user:longenough"]).check_exposure()


def test_short_token_is_refused() -> None:
    with pytest.raises(ValueError, match="8 characters"):
        parse_token("user:abc")


def test_task_token_stops_working_once_the_task_is_claimed_again(api: TestClient) -> None:
    tid = api.post(
        "/tasks",
        json={"queue": "q", "create_queue": True, "script": {"entry_point": "train.py"}},
        headers=auth(USER),
    ).json()["id"]
    worker = api.post(
        "/workers", json={"name": "w", "queues": ["q"], "resources": {}}, headers=auth(AGENT)
    ).json()["id"]
    claim = {"queues": ["q"], "free": {}}
    first = api.post(f"/workers/{worker}/claim", json=claim, headers=auth(AGENT)).json()
    old_token = first["task_token"]
    batch = {"seq": 0, "lines": [{"text": "hi", "ts": 1.0}]}
    assert api.post(f"/tasks/{tid}/logs", json=batch, headers=auth(old_token)).status_code == 200
    requeue = {"lease_token": first["lease_token"]}
    assert api.post(f"/tasks/{tid}/requeue", json=requeue, headers=auth(AGENT)).status_code == 200
    second = api.post(f"/workers/{worker}/claim", json=claim, headers=auth(AGENT)).json()
    assert second["task"]["id"] == tid
    refused = api.post(f"/tasks/{tid}/logs", json=batch, headers=auth(old_token))
    assert refused.status_code == 401
    assert "attempt" in refused.json()["detail"]
    fresh = api.post(f"/tasks/{tid}/logs", json=batch, headers=auth(second["task_token"]))
    assert fresh.status_code == 200
