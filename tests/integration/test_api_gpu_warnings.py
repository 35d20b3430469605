"""Create and enqueue warn when no live worker serving the queue could ever meet a typed
GPU request (judged from the GPUs the workers registered), or the queue's ``max_gpus``
is below what the task holds; the task is queued all the same."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

H100 = "NVIDIA H100 80GB HBM3"
CODE = {"entry_point": "train.py"}


def quads(name: str, memory_gb: float) -> list[dict[str, Any]]:
    """8 GPUs in two NVLink quads (a hybrid cube-mesh)."""
    return [
        {
            "index": i,
            "name": name,
            "memory_gb": memory_gb,
            "peers": [p for p in range(i // 4 * 4, i // 4 * 4 + 4) if p != i],
        }
        for i in range(8)
    ]


@pytest.fixture
def fleet(api: TestClient) -> TestClient:
    """Queue gpu served by an 8 x H100 agent (NVML's 79.6 GB) and a 2 x A100 40GB one."""
    a100s = [{"index": i, "name": "NVIDIA A100-PCIE-40GB", "memory_gb": 39.4} for i in (0, 1)]
    for name, gpus in (("h100", quads(H100, 79.6)), ("a100", a100s)):
        body = {"name": name, "queues": ["gpu"], "resources": {"gpus": len(gpus)}, "gpus": gpus}
        assert api.post("/workers", json=body).status_code == 201
    api.post("/queues", json={"name": "gpu"})
    return api


def warnings(api: TestClient, **resources: Any) -> list[str]:
    created = api.post("/tasks", json={"queue": "gpu", "script": CODE, "resources": resources})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "queued"
    return list(created.json()["warnings"])


def test_requests_some_worker_could_meet_are_not_warned_about(fleet: TestClient) -> None:
    assert warnings(fleet, gpus=8, gpu_model="H100*") == []
    assert warnings(fleet, gpus=4, gpu_model="h100*", gpu_interconnect="nvlink") == []
    assert warnings(fleet, gpus=0.5, gpu_model="A100*", gpu_memory_gb=39) == []
    assert warnings(fleet, gpus=2, gpu_memory_gb=79.5, nodes=1) == []


def test_an_80_gb_h100_request_names_what_nvml_reports(fleet: TestClient) -> None:
    [warned] = warnings(fleet, gpus=1, gpu_model="H100*", gpu_memory_gb=80)
    assert warned.startswith(
        "no live worker serving queue gpu has 1 GPU(s) matching 'H100*' with at least 80 GB each"
    )
    assert "8 x NVIDIA H100 80GB HBM3 (79.6 GB)" in warned
    assert "2 x NVIDIA A100-PCIE-40GB (39.4 GB)" in warned
    assert "NVML reports 79.6 GB for NVIDIA H100 80GB HBM3" in warned
    assert "gpu_memory_gb 79" in warned


def test_a_model_count_or_nvlink_set_no_worker_has_is_warned_about(fleet: TestClient) -> None:
    [model] = warnings(fleet, gpus=1, gpu_model="L4")
    assert "matching 'L4'" in model and "NVML" not in model
    [count] = warnings(fleet, gpus=9)
    assert count.startswith("no live worker serving queue gpu has 9 GPU(s) (")
    [linked] = warnings(fleet, gpus=5, gpu_interconnect="nvlink")
    assert "5 GPU(s), all NVLink peers of each other" in linked
    [gang] = warnings(fleet, gpus=4, gpu_model="H100*", nodes=2)
    assert gang.startswith("only 1 live worker(s) serve queue gpu with what a rank needs")


def test_a_queue_max_gpus_below_gpus_times_nodes_is_warned_about(fleet: TestClient) -> None:
    assert fleet.patch("/queues/gpu", json={"max_gpus": 2}).status_code == 200
    assert warnings(fleet, gpus=2, nodes=1) == []
    [limited] = warnings(fleet, gpus=2, nodes=2, gpu_model="*")
    assert limited.startswith("queue gpu lets its running tasks hold 2 GPU(s) at most")
    assert "the task holds 4" in limited
    [gang, held] = warnings(fleet, gpus=2, nodes=2, gpu_model="H100*")
    assert gang.startswith("only 1 live worker(s) serve queue gpu") and "holds 4" in held


def test_enqueue_clone_and_batch_warn_as_create_does(fleet: TestClient) -> None:
    h100 = {"gpus": 1, "gpu_model": "H100*", "gpu_memory_gb": 80}
    draft = fleet.post("/tasks", json={"script": CODE, "resources": h100}).json()
    assert draft["status"] == "draft" and draft["warnings"] == []

    enqueued = fleet.post(f"/tasks/{draft['id']}/enqueue", json={"queue": "gpu"}).json()
    cloned = fleet.post(f"/tasks/{draft['id']}/clone", json={"queue": "gpu"}).json()
    batch = fleet.post(
        "/tasks:batch",
        json={"tasks": [{"queue": "gpu", "script": CODE, "resources": h100}] * 3},
    ).json()

    for warned in (enqueued["warnings"], cloned["warnings"], batch["warnings"]):
        assert len(warned) == 1 and "matching 'H100*' with at least 80 GB" in warned[0]


def test_a_worker_registering_later_counts_at_once(fleet: TestClient) -> None:
    assert warnings(fleet, gpus=1, gpu_model="L4") != []
    l4 = [{"index": 0, "name": "NVIDIA L4", "memory_gb": 22.5}]
    body = {"name": "l4", "queues": ["gpu"], "resources": {"gpus": 1}, "gpus": l4}
    assert fleet.post("/workers", json=body).status_code == 201
    assert warnings(fleet, gpus=1, gpu_model="L4") == []


def test_an_agent_that_sent_only_a_gpu_count_meets_untyped_requests_only(api: TestClient) -> None:
    body = {"name": "old", "queues": ["old"], "resources": {"gpus": 2}}
    assert api.post("/workers", json=body).status_code == 201
    spec = {"queue": "old", "create_queue": True, "script": CODE}

    untyped = api.post("/tasks", json={**spec, "resources": {"gpus": 2}}).json()
    typed = api.post("/tasks", json={**spec, "resources": {"gpus": 1, "gpu_model": "A*"}}).json()

    assert untyped["warnings"] == []
    [warned] = typed["warnings"]
    assert "the most one has: 2 GPU(s) of no reported type" in warned
