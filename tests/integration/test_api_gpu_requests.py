"""Typed and fractional GPU requests over HTTP: bad ones are 422s naming the field, a
claim with the agent's GPUs records the placement, a clone can ask for other GPUs."""

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

CODE = {"entry_point": "train.py"}
AGENT_GPUS = [
    {"index": 0, "name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "free": 1, "group": 0},
    {"index": 1, "name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "free": 0.5, "group": 0},
]


@pytest.mark.parametrize(
    ("resources", "fragments"),
    [
        ({"gpus": 0.3}, ("resources.gpus", "0.5, 0.25 or 0.125")),
        ({"gpus": 1.5}, ("resources.gpus", "whole number")),
        ({"gpus": 1, "gpu_model": "A100(.*)"}, ("resources.gpu_model", "wildcards")),
        ({"gpus": 1, "gpu_model": "*a*b*c*d*e"}, ("resources.gpu_model", "'*'")),
        ({"gpus": 1, "gpu_memory_gb": -1}, ("resources.gpu_memory_gb",)),
        ({"gpus": 0.5, "gpu_interconnect": "nvlink"}, ("gpu_interconnect", "whole number")),
        ({"gpus": 2, "gpu_interconnect": "nvswitch"}, ("resources.gpu_interconnect",)),
        ({"gpu_model": "A100*"}, ("gpu_model", "gpus > 0")),
    ],
)
def test_a_bad_gpu_request_is_a_422_naming_the_field(
    api: TestClient, resources: dict[str, object], fragments: tuple[str, ...]
) -> None:
    response = api.post("/tasks", json={"script": CODE, "resources": resources})
    assert response.status_code == 422, response.text
    for fragment in fragments:
        assert fragment in response.json()["detail"]


def test_a_bad_gpu_list_in_a_claim_is_a_422(api: TestClient) -> None:
    worker = api.post("/workers", json={"name": "w", "queues": ["q"], "resources": {}}).json()
    bad = [{**AGENT_GPUS[0], "free": 2}]
    body = {"queues": ["q"], "free": {}, "gpus": bad}
    response = api.post(f"/workers/{worker['id']}/claim", json=body)
    assert response.status_code == 422, response.text
    assert "gpus.0.free" in response.json()["detail"]


def test_a_claim_with_the_agents_gpus_records_the_placement(api: TestClient) -> None:
    resources = {"gpus": 0.5, "gpu_model": "a100*", "gpu_memory_gb": 40}
    created = api.post(
        "/tasks", json={"script": CODE, "queue": "q", "create_queue": True, "resources": resources}
    ).json()
    worker = api.post("/workers", json={"name": "w", "queues": ["q"], "resources": {}}).json()

    claimed = api.post(
        f"/workers/{worker['id']}/claim", json={"queues": ["q"], "free": {}, "gpus": AGENT_GPUS}
    ).json()

    assert claimed["task"]["id"] == created["id"]
    placement = [{"worker": worker["id"], "rank": 0, "gpu_indices": [1], "gpu_fraction": 0.5}]
    assert claimed["task"]["placement"] == placement
    assert api.get(f"/tasks/{created['id']}").json()["placement"] == placement
    assert claimed["task"]["resources"] == {
        "gpus": 0.5,
        "cpus": 0,
        "memory_gb": 0,
        "gpu_memory_gb": 40,
        "gpu_model": "a100*",
    }


def test_a_clone_asks_for_other_gpus_and_a_bad_one_is_a_422(api: TestClient) -> None:
    source = api.post("/tasks", json={"script": CODE, "resources": {"gpus": 1}}).json()
    wanted = {"gpus": 4, "gpu_model": "*H100*", "gpu_interconnect": "nvlink"}

    clone = api.post(f"/tasks/{source['id']}/clone", json={"resources": wanted})
    refused = api.post(f"/tasks/{source['id']}/clone", json={"resources": {"gpus": 0.75}})

    assert clone.status_code == 201, clone.text
    assert {k: clone.json()["resources"][k] for k in wanted} == wanted
    assert refused.status_code == 422 and "resources.gpus" in refused.json()["detail"]


def test_editing_a_draft_drops_the_typed_fields_it_no_longer_asks_for(api: TestClient) -> None:
    typed = {"gpus": 2, "gpu_model": "*H100*", "gpu_memory_gb": 70, "gpu_interconnect": "nvlink"}
    draft = api.post("/tasks", json={"script": CODE, "resources": typed}).json()

    edited = api.patch(f"/tasks/{draft['id']}", json={"resources": {"gpus": 1}})
    api.post(f"/tasks/{draft['id']}/enqueue", json={"queue": "q", "create_queue": True})
    worker = api.post("/workers", json={"name": "w", "queues": ["q"], "resources": {}}).json()
    # An agent without a GPU list takes only untyped tasks: the edit left nothing typed.
    claimed = api.post(
        f"/workers/{worker['id']}/claim", json={"queues": ["q"], "free": {"gpus": 1}}
    ).json()

    assert edited.status_code == 200, edited.text
    assert edited.json()["resources"] == {"gpus": 1, "cpus": 0, "memory_gb": 0}
    assert claimed["task"]["id"] == draft["id"]


class _OlderResources(BaseModel):
    """``Resources`` as an agent older than typed requests has it."""

    model_config = ConfigDict(extra="forbid")
    gpus: int = 0
    cpus: float = 0
    memory_gb: float = 0


def test_an_older_agent_reads_the_untyped_task_it_claims(api: TestClient) -> None:
    api.post("/tasks", json={"script": CODE, "queue": "q", "create_queue": True,
                             "resources": {"gpus": 2, "cpus": 1}})  # fmt: skip
    body = {"name": "old", "queues": ["q"], "resources": {"gpus": 2},
            "gpus": [{"index": 0, "name": "Tesla V100-SXM2-16GB"}]}  # fmt: skip
    worker = api.post("/workers", json=body).json()

    claimed = api.post(
        f"/workers/{worker['id']}/claim", json={"queues": ["q"], "free": {"gpus": 2, "cpus": 4}}
    ).json()

    older = _OlderResources.model_validate(claimed["task"]["resources"])
    assert (older.gpus, older.cpus) == (2, 1)
    listed = api.get("/workers").json()
    assert [set(gpu) for w in listed for gpu in w["gpus"]] == [
        {"index", "name", "memory_gb", "uuid"}
    ]
