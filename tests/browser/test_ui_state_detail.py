"""What an agent says of a running task (``state_detail``, e.g. a Slurm job still
pending) shows beside its status badge, on the task page and in the tasks table; the
agent is played over HTTP."""

import pytest
from playwright.sync_api import Page, expect

from runyard.models import ClaimRequest, Heartbeat, HeldTask, Resources, WorkerRegister
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def test_a_pending_slurm_job_shows_its_reason_beside_the_status(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    client = stack.client
    client.queues.create("ui-slurm")
    worker = client.workers.register(
        WorkerRegister(name="ui-slurm", queues=["ui-slurm"], resources=Resources(), slots=1)
    )
    task = stack.draft("slurmui", "waiting", queue="ui-slurm")
    claim = client.workers.claim(worker.id, ClaimRequest(queues=["ui-slurm"], free=Resources()))
    assert claim.task is not None and claim.lease_token is not None
    pending = "pending in Slurm: Resources (job 42)"
    held = HeldTask(task_id=task, lease_token=claim.lease_token, state_detail=pending)
    client.workers.heartbeat(worker.id, Heartbeat(running=[held]))

    page.goto(f"{stack.server.url}/#/task/{task}")
    expect(page.locator("h1 .state-detail")).to_have_text(pending)
    page.goto(f"{stack.server.url}/#/tasks?project=slurmui")
    expect(page.locator("table .state-detail")).to_have_text(pending)
    shoot(page, "tasks-pending-in-slurm")
