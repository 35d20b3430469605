"""The task page of a multi-node task: how many nodes it needs, and where each rank ran."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from runyard.models import Environment, Resources, Script, TaskCreate
from tests.browser.conftest import Shoot, Stack
from tests.browser.test_ui import wait_final
from tests.e2e.agent_support import AgentProcess

pytestmark = pytest.mark.e2e


def test_task_page_shows_the_nodes_and_each_ranks_agent(
    page: Page, stack: Stack, shoot: Shoot, tmp_path: Path
) -> None:
    exp = stack.experiment
    task = stack.client.tasks.create(
        TaskCreate(
            project="gangs",
            name="two-ranks",
            script=Script(
                repository=str(exp.path), commit=exp.commit, diff=exp.diff, entry_point="train.py"
            ),
            environment=Environment(requirements=[]),
            resources=Resources(nodes=2),
        )
    )
    page.goto(f"{stack.server.url}/#/task/{task.id}")
    expect(page.get_by_text("2 agents at once, one rank each")).to_be_visible()
    expect(page.get_by_text("Not placed yet: starts once 2 agents have joined.")).to_be_visible()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["RUNYARD_SERVER"] = stack.server.url
    argv = ["--cache-dir", str(tmp_path / "cache"), "--queue", "gangs", "--gang-host", "127.0.0.1"]
    argv += ["--poll-wait-s", "2"]
    agents = [
        AgentProcess(["--name", f"rank-agent-{i}", *argv], env, tmp_path / f"agent{i}.log")
        for i in range(2)
    ]
    try:
        stack.client.tasks.enqueue(task.id, "gangs", create_queue=True)
        done = wait_final(stack, task.id)
    finally:
        for agent in agents:
            agent.process.kill()
            agent.process.wait()
    assert done.status == "completed", done.failure_reason
    page.reload()
    rows = page.locator("table.ranks tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("rank-agent-")
    expect(rows.nth(1).locator("td").first).to_have_text("1")
    shoot(page, "task-ranks")
