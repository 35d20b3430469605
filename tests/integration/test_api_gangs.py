"""Multi-node tasks over HTTP: long-polling claims form a gang, each rank's task token works."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runyard_server.config import Settings
from runyard_server.main import create_app
from tests.integration.test_api_auth import AGENT, USER, auth


@pytest.fixture
def api(redis_url: str) -> Iterator[TestClient]:
    """An app that checks user and agent tokens (and gives claims task tokens)."""
    settings = Settings(redis_url=redis_url, tokens=[f"user:{USER}", f"agent:{AGENT}"])
    with TestClient(create_app(settings), base_url="http://localhost/api/v1") as client:
        yield client


def test_long_polling_claims_form_a_gang_and_each_ranks_task_token_writes_its_task(
    api: TestClient,
) -> None:
    spec = {"queue": "q", "create_queue": True, "script": {"entry_point": "train.py"}}
    task = api.post("/tasks", json={**spec, "resources": {"nodes": 2}}, headers=auth(USER)).json()
    workers = [
        api.post(
            "/workers",
            json={"name": f"w{i}", "queues": ["q"], "resources": {}},
            headers=auth(AGENT),
        ).json()["id"]
        for i in range(2)
    ]

    def claim(i: int) -> Any:
        body = {
            "queues": ["q"],
            "free": {},
            "wait_s": 10,
            "gang_host": "10.0.0.1",
            "gang_port": 29500 + i,
        }
        return api.post(f"/workers/{workers[i]}/claim", json=body, headers=auth(AGENT)).json()

    with ThreadPoolExecutor(2) as pool:
        claims = list(pool.map(claim, range(2)))

    assert sorted(c["gang"]["rank"] for c in claims) == [0, 1]
    rank0 = next(c for c in claims if c["gang"]["rank"] == 0)
    assert {(c["gang"]["master_addr"], c["gang"]["master_port"]) for c in claims} == {
        ("10.0.0.1", 29500 + workers.index(rank0["task"]["worker"]))
    }
    assert claims[0]["lease_token"] != claims[1]["lease_token"]
    for i, got in enumerate(claims):
        assert got["task"]["id"] == task["id"] and got["task"]["status"] == "running"
        batch = {
            "seq": 0,
            "lines": [{"text": f"rank {i}", "ts": 1.0}],
            "lease_token": got["lease_token"],
        }
        sent = api.post(f"/tasks/{task['id']}/logs", json=batch, headers=auth(got["task_token"]))
        assert sent.status_code == 200, sent.text


def test_a_bad_gang_offer_or_node_count_is_a_422_naming_the_field(api: TestClient) -> None:
    worker = api.post(
        "/workers", json={"name": "w", "queues": ["q"], "resources": {}}, headers=auth(AGENT)
    ).json()["id"]
    for offer in ({"gang_host": "a b", "gang_port": 1}, {"gang_host": "h", "gang_port": 70000}):
        body = {"queues": ["q"], "free": {}, **offer}
        refused = api.post(f"/workers/{worker}/claim", json=body, headers=auth(AGENT))
        assert refused.status_code == 422 and "gang_" in refused.text
    too_many = {"script": {"entry_point": "t.py"}, "resources": {"nodes": 65}}
    refused = api.post("/tasks", json=too_many, headers=auth(USER))
    assert refused.status_code == 422 and "nodes" in refused.text


def test_a_gang_task_on_a_queue_with_too_few_live_workers_is_warned_about(
    api: TestClient,
) -> None:
    spec = {"queue": "small", "create_queue": True, "script": {"entry_point": "t.py"}}
    gang = {**spec, "resources": {"nodes": 2}}
    api.post(
        "/workers", json={"name": "w0", "queues": ["small"], "resources": {}}, headers=auth(AGENT)
    )

    warned = api.post("/tasks", json=gang, headers=auth(USER)).json()["warnings"]
    api.post(
        "/workers", json={"name": "w1", "queues": ["small"], "resources": {}}, headers=auth(AGENT)
    )
    fine = api.post("/tasks", json=gang, headers=auth(USER)).json()["warnings"]

    assert len(warned) == 1 and "only 1 live worker(s) serve queue small" in warned[0]
    assert fine == []
