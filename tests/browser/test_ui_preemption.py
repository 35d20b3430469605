"""The task page of a preempted task, in a real browser; the preemption is real (the
server's jobs process decides it), its agent is played over HTTP."""

import pytest
from playwright.sync_api import Page, expect

from runyard.models import (
    ClaimRequest,
    Heartbeat,
    HeldTask,
    QueueUpdate,
    Resources,
    WorkerRegister,
)
from tests.browser.conftest import Shoot, Stack
from tests.e2e.agent_support import wait_for

pytestmark = pytest.mark.e2e


def test_task_page_says_which_task_preempted_it(page: Page, stack: Stack, shoot: Shoot) -> None:
    client = stack.client
    for name in ("ui-batch", "ui-urgent"):
        client.queues.create(name)
    client.queues.update("ui-batch", QueueUpdate(preemptible=True))
    gpu = Resources(gpus=1)
    worker = client.workers.register(
        WorkerRegister(name="ui-gpu", queues=["ui-urgent", "ui-batch"], resources=gpu, slots=1)
    )
    victim = stack.draft("preempt", "victim", queue="ui-batch", resources=gpu)
    claim = client.workers.claim(worker.id, ClaimRequest(queues=["ui-batch"], free=gpu))
    assert claim.task is not None and claim.task.id == victim and claim.lease_token is not None
    client.tasks.report_started(victim, claim.lease_token)
    urgent = stack.draft("preempt", "urgent", queue="ui-urgent", priority=5, resources=gpu)
    held = Heartbeat(running=[HeldTask(task_id=victim, lease_token=claim.lease_token)])

    # The jobs process marks it once the urgent task has waited --preempt-after (5 s).
    wait_for(
        lambda: client.workers.heartbeat(worker.id, held).preempt.get(victim) == urgent,
        30,
        "the heartbeat to say the victim is preempted",
    )
    client.tasks.report_requeue(victim, claim.lease_token)
    client.workers.unregister(worker.id)

    page.goto(f"{stack.server.url}/#/task/{victim}")
    page.get_by_role("tab", name="Overview").click()  # a queued task opens on its console
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text(f"once, last by {urgent[:8]}")
    expect(facts).to_contain_text("not counted as a failure")
    shoot(page, "task-preempted")
