"""The task page shows what a task asks of GPUs and where the claim placed it."""

import pytest
from playwright.sync_api import Page, expect

from runyard.models import ClaimRequest, GpuFree, Resources, WorkerRegister
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def test_task_page_shows_the_gpu_request_and_its_placement(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    wants = Resources(gpus=0.5, gpu_model="A100*", gpu_memory_gb=40)
    task_id = stack.draft("gpus", "shared", queue="gpu-ui", create_queue=True, resources=wants)
    worker = stack.client.workers.register(
        WorkerRegister(name="gpu-box", queues=["gpu-ui"], resources=Resources(gpus=2))
    )
    gpus = [
        GpuFree(index=i, name="NVIDIA A100-SXM4-80GB", memory_gb=80, free=free)
        for i, free in enumerate([1.0, 0.5])
    ]
    claim = ClaimRequest(queues=["gpu-ui"], free=Resources(), gpus=gpus)
    claimed = stack.client.workers.claim(worker.id, claim)
    assert claimed.task is not None and claimed.task.id == task_id

    page.goto(f"{stack.server.url}/#/task/{task_id}")
    page.get_by_role("tab", name="Overview").click()  # a running task opens on its console

    expect(page.locator("#placement")).to_contain_text("gpu-box")
    expect(page.locator("#placement")).to_contain_text("— GPU 1 (share 0.5)")
    resources = page.locator(".card", has_text="Resources needed")
    expect(resources).to_contain_text("0.5 (a share of one GPU)")
    expect(resources).to_contain_text("A100*")
    expect(resources).to_contain_text("≥ 40 GB each")
    shoot(page, "task-gpu-placement")
