"""The web UI in a real browser against a real server, Redis and agent."""

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from runyard.logship import Spool
from runyard.models import (
    Gpu,
    GpuState,
    GpuTask,
    Heartbeat,
    LogBatch,
    LogLine,
    MetricBatch,
    MetricPoint,
    Resources,
    Task,
    TaskCreate,
    TaskStatus,
    WorkerRegister,
)
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def wait_final(stack: Stack, task_id: str, timeout: float = 120) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = stack.client.tasks.get(task_id)
        if task.status.is_final:
            return task
        if time.monotonic() > deadline:
            pytest.fail(f"task {task_id} is still {task.status}; agent log:\n{stack.agent.log}")
        time.sleep(0.2)


def test_task_list_pages_with_cursors_and_filters(page: Page, stack: Stack, shoot: Shoot) -> None:
    tasks = [
        stack.submit("listing", f"{'alpha' if i % 2 else 'beta'}-{i}", queue=None) for i in range(7)
    ]
    page.goto(f"{stack.server.url}/#/tasks?project=listing&limit=5")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("beta-6")
    shoot(page, "tasks")
    page.click("#older")
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text("beta-0")
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(5)
    page.fill("input[name=q]", "alpha")
    expect(rows).to_have_count(3)
    page.get_by_role("columnheader", name="Name").click()
    expect(rows.first).to_contain_text("alpha-1")
    # The server sorts every task, so the second page continues the first.
    page.fill("input[name=q]", "")
    expect(rows).to_have_count(5)
    expect(rows.nth(3)).to_contain_text("beta-0")
    page.click("#older")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("beta-4")
    expect(rows.last).to_contain_text("beta-6")
    for task, value in ((tasks[2], 0.9), (tasks[3], 0.5)):
        point = MetricPoint(series="val/acc", value=value, ts=time.time())
        stack.client.metrics.append(task.id, MetricBatch(points=[point]))
    page.fill("input[name=metric]", "val/acc")
    page.press("input[name=metric]", "Enter")
    expect(rows.first).to_contain_text("beta-2")
    expect(rows.first.locator("td.col-metric")).to_have_text("0.9")
    expect(rows.nth(1)).to_contain_text("alpha-3")
    expect(page.get_by_role("columnheader", name="val/acc")).to_contain_text("▼")


def test_running_task_console_shows_a_line_printed_after_the_page_loaded(
    page: Page, stack: Stack, shoot: Shoot, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gate = tmp_path_factory.mktemp("gate") / "open"
    task = stack.submit("live", "gated", args=["--gate", str(gate)])
    page.goto(f"{stack.server.url}/#/task/{task.id}")
    console = page.locator("#console")
    expect(console).to_contain_text("waiting for the gate", timeout=90_000)
    page.evaluate("window.loadedOnce = true")
    expect(page.locator(".live-state")).to_have_text("● live")
    shoot(page, "task-console-running")
    gate.touch()
    expect(console).to_contain_text("gate opened: printed after the page loaded")
    expect(console).to_contain_text("the task is completed")
    expect(page.locator("h1 .badge")).to_have_text("completed")
    assert page.evaluate("window.loadedOnce") is True, "the page reloaded"
    shoot(page, "task-console-done")

    page.get_by_role("tab", name="Overview").click()
    expect(page.locator("#timeline")).to_contain_text("ran")
    expect(page.locator(".params")).to_contain_text("General/lr")
    shoot(page, "task-overview")
    page.get_by_role("tab", name="Metrics").click()
    expect(page.locator("#charts .uplot")).to_have_count(2)
    shoot(page, "task-metrics")
    page.get_by_role("tab", name="Code").click()
    expect(page.locator(".diff .d-add")).to_contain_text("uncommitted change applied")
    shoot(page, "task-code")
    page.get_by_role("tab", name="Environment").click()
    expect(page.locator("#panel-environment")).to_contain_text("UI_TEST")
    page.get_by_role("tab", name="Artifacts").click()
    expect(page.locator("table.artifacts")).to_contain_text("summary.json")
    shoot(page, "task-artifacts")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "summary.json"
    assert json.loads(Path(download.value.path()).read_text())["lr"] == 0.1


def test_clone_form_reruns_the_task_with_a_changed_parameter(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    original = stack.submit("cloning", "original", params={"lr": 0.1, "epochs": 3, "opt": "sgd"})
    assert wait_final(stack, original.id).status is TaskStatus.COMPLETED
    page.goto(f"{stack.server.url}/#/task/{original.id}")
    page.click("#action-clone")
    page.fill("input[name='General/lr']", "0.5")
    page.fill("input[name='General/opt']", "42")
    expect(page.locator("tr.changed")).to_have_count(2)
    shoot(page, "clone-form")
    page.click("#clone-submit")
    expect(page).not_to_have_url(re.compile(f"(clone|task)/{original.id}"))
    new_task = re.search(r"#/task/([0-9a-f]{32})", page.url)
    assert new_task is not None, page.url
    clone_id = new_task.group(1)
    console = page.locator("#console")
    expect(console).to_contain_text(
        'params lr=0.5 (float) epochs=3 (int) opt="42" (str)', timeout=90_000
    )
    expect(page.locator("h1 .badge")).to_have_text("completed")
    clone = stack.client.tasks.get(clone_id)
    assert clone.parent == original.id
    assert clone.params["General"] == {"lr": 0.5, "epochs": 3, "opt": "42"}
    page.get_by_role("tab", name="Overview").click()
    expect(page.locator(".card", has_text="Lineage")).to_contain_text("original")


def test_compare_shows_differences_and_overlaid_curves(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    slow = stack.submit("comparing", "slow", params={"lr": 0.1, "epochs": 4})
    fast = stack.submit("comparing", "fast", params={"lr": 0.4, "epochs": 4})
    for task in (slow, fast):
        assert wait_final(stack, task.id).status is TaskStatus.COMPLETED
    page.goto(f"{stack.server.url}/#/tasks?project=comparing")
    for name in ("slow", "fast"):
        page.get_by_role("checkbox", name=f"select {name}").check()
    page.click("#bulk-compare")
    params = page.locator(".card", has_text="Parameters")
    expect(params.locator("tr.differs")).to_have_count(1)
    expect(params.locator("tr.differs")).to_contain_text("General/lr")
    expect(page.locator(".card", has_text="Final metrics").locator("tr.differs")).to_have_count(2)
    charts = page.locator("#compare-charts .uplot")
    expect(charts).to_have_count(2)
    # one legend row per run besides the x axis's
    expect(charts.first.locator(".u-legend .u-series")).to_have_count(3)
    shoot(page, "compare")
    page.get_by_label("only rows that differ").check()
    expect(params.locator("tbody tr")).to_have_count(1)


def test_queue_page_reorders_and_dequeues(page: Page, stack: Stack, shoot: Shoot) -> None:
    # Nobody serves "parked", so the tasks wait there.
    waiting = [stack.submit("queueing", f"waiting-{i}", queue="parked") for i in range(3)]
    page.goto(f"{stack.server.url}/#/queues/parked")
    rows = page.locator("#queue-entries tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("waiting-0")
    rows.nth(2).get_by_role("button", name="top").click()
    expect(rows.first).to_contain_text("waiting-2")
    rows.first.get_by_role("button", name="down").click()
    expect(rows.nth(1)).to_contain_text("waiting-2")
    shoot(page, "queues")
    rows.first.get_by_role("button", name="Dequeue").click()
    expect(rows).to_have_count(2)
    assert stack.client.tasks.get(waiting[0].id).status is TaskStatus.DRAFT


def test_workers_page_shows_the_live_agent(page: Page, stack: Stack, shoot: Shoot) -> None:
    page.goto(f"{stack.server.url}/#/workers")
    card = page.locator(".worker[data-worker=ui-agent]")
    expect(card).to_contain_text("alive")
    expect(card).to_contain_text("default")
    shoot(page, "workers")


def test_workers_page_shows_each_gpu_busy_and_its_tasks(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    task_id = stack.draft("gpus", "shared-eval")
    a100 = {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80}
    worker = stack.client.workers.register(
        WorkerRegister(
            name="gpu-ui-box",
            queues=["gpu"],
            resources=Resources(gpus=2),
            gpus=[Gpu(index=0, peers=[1], **a100), Gpu(index=1, peers=[0], **a100)],
        )
    )
    state = [
        GpuState(index=0, tasks=[GpuTask(task_id=task_id, share=0.5)]),
        GpuState(index=1, busy=True, foreign_mb=4096),
    ]
    stack.client.workers.heartbeat(worker.id, Heartbeat(gpu_state=state))

    page.goto(f"{stack.server.url}/#/workers")
    card = page.locator(".worker[data-worker=gpu-ui-box]")
    first, second = card.locator("li[data-gpu='0']"), card.locator("li[data-gpu='1']")
    expect(first).to_contain_text("NVIDIA A100-SXM4-80GB · 80 GB · NVLink #1")
    expect(first.locator(".badge")).to_have_text("in use")
    expect(first.locator("a.task-link")).to_have_text("shared-eval")
    expect(first).to_contain_text("shared-eval (0.5 GPU)")
    expect(second.locator(".badge")).to_have_text("busy")
    expect(second).to_contain_text("4096 MiB foreign")
    shoot(page, "workers-gpus")


def test_abort_stops_a_running_task(
    page: Page, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gate = tmp_path_factory.mktemp("never") / "open"
    task = stack.submit("aborting", "endless", args=["--gate", str(gate)])
    page.goto(f"{stack.server.url}/#/task/{task.id}")
    expect(page.locator("#console")).to_contain_text("waiting for the gate", timeout=90_000)
    page.click("#action-abort")
    page.click("#action-abort")
    expect(page.locator("h1 .badge").first).to_have_text("aborted", timeout=30_000)


def test_task_page_shows_how_many_console_lines_were_dropped(page: Page, stack: Stack) -> None:
    claim = stack.client.tasks.start_local(TaskCreate(project="dropped", name="spooled"))
    assert claim.task is not None
    spool = Spool()
    spool.put_many("stdout", ["before the gap", "after the gap"])
    spool.finish()
    chunk = spool.next_chunk(0)
    assert chunk is not None
    chunk.dropped = 1234
    stack.client.logs.append_encoded(claim.task.id, chunk.body(0, claim.lease_token))
    page.goto(f"{stack.server.url}/#/task/{claim.task.id}")
    expect(page.locator("#logs-dropped")).to_contain_text("1234 console lines were dropped")


def test_console_opens_on_the_tail_and_loads_earlier_pages_on_demand(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    task = stack.submit("console", "long-log", queue=None)
    for seq in range(5):
        lines = [LogLine(text=f"row {seq * 500 + i}", ts=time.time()) for i in range(500)]
        stack.client.logs.append(task.id, LogBatch(seq=seq, lines=lines))
    stack.client.tasks.abort(task.id)
    page.goto(f"{stack.server.url}/#/task/{task.id}")
    page.get_by_role("tab", name="Console").click()
    console = page.locator("#console")
    expect(console).to_contain_text("row 2499")
    expect(console).to_contain_text("the task is aborted")
    expect(console.locator(".line")).to_have_count(1001)  # the last 1,000 and the end mark
    expect(console).not_to_contain_text("row 1499\n")
    earlier = page.get_by_role("button", name="earlier lines")
    earlier.click()
    expect(console.locator(".line")).to_have_count(2001)
    earlier.click()
    expect(console.locator(".line").first).to_contain_text("row 0")
    expect(earlier).to_be_hidden()
    shoot(page, "task-console-earlier")
