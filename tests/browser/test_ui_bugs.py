"""The seven UI bugs of issue 20, each shown in a real browser against a real server."""

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from runyard.models import (
    Environment,
    LogBatch,
    LogLine,
    MetricBatch,
    MetricPoint,
    Script,
    TaskCreate,
    TaskStatus,
)
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def log_metrics(stack: Stack, task_id: str, series: dict[str, list[float]]) -> None:
    points = [
        MetricPoint(series=name, value=v, step=i, ts=time.time() + i)
        for name, values in series.items()
        for i, v in enumerate(values)
    ]
    stack.client.metrics.append(task_id, MetricBatch(points=points))


def test_1_compare_survives_a_series_named_like_an_object_property(
    page: Page, stack: Stack
) -> None:
    a = stack.draft("bug1", "has-constructor")
    b = stack.draft("bug1", "lacks-it")
    log_metrics(stack, a, {"constructor": [1, 2, 3], "loss": [3, 2, 1]})
    log_metrics(stack, b, {"loss": [4, 3, 2], "toString": [1, 1, 1]})
    page.goto(f"{stack.server.url}/#/compare?ids={a},{b}")
    charts = page.locator("#compare-charts .chart-box")
    expect(charts).to_have_count(3)
    expect(page.locator("#compare-charts .uplot")).to_have_count(3)
    # the fixture fails the test on any script error ("l.points.map is not a function")


def test_2_compare_shows_code_differences(page: Page, stack: Stack, shoot: Shoot) -> None:
    common = {"repository": "https://example.com/r.git", "commit": "c" * 40, "entry_point": "t.py"}
    a = stack.draft("bug2", "before", script=Script(**common, args=["--lr", "0.1"], diff=""))
    diff = "diff --git a/t.py b/t.py\n--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    b = stack.draft("bug2", "after", script=Script(**common, args=["--lr", "0.2"], diff=diff))
    page.goto(f"{stack.server.url}/#/compare?ids={a},{b}")
    code = page.locator("#compare-code")
    expect(code.locator("tr.differs")).to_have_count(2)
    expect(code.locator("tr.differs[data-key=args]")).to_contain_text("--lr 0.2")
    expect(code.locator("tr.differs[data-key=diff]")).to_contain_text("+1")
    expect(code.locator("tr[data-key=commit]")).not_to_have_class("differs")
    code.locator("tr[data-key=diff] summary").last.click()
    expect(code.locator(".diff .d-add")).to_contain_text("x = 2")
    shoot(page, "compare-code")


def test_3_compare_counts_each_task_once_and_removes_one(page: Page, stack: Stack) -> None:
    a = stack.draft("bug3", "first")
    b = stack.draft("bug3", "second")
    c = stack.draft("bug3", "third")
    page.goto(f"{stack.server.url}/#/compare?ids={a},{a},nonexistent,{b},{c}")
    expect(page.locator("h1")).to_have_text("Compare 3 tasks")
    expect(page.locator(".error-box")).to_contain_text("nonexistent")
    expect(page.locator(".run-head")).to_have_count(3)
    page.get_by_role("link", name="remove first").click()
    expect(page.locator("h1")).to_have_text("Compare 2 tasks")
    assert a not in page.url and b in page.url and c in page.url
    # hover values live in the legend under each chart, not over it
    log_metrics(stack, b, {"loss": [1, 2]})
    log_metrics(stack, c, {"loss": [2, 1]})
    page.reload()
    chart = page.locator("#compare-charts .uplot").first
    expect(chart.locator(".u-legend")).to_be_visible()
    over = chart.locator(".u-over").bounding_box()
    legend = chart.locator(".u-legend").bounding_box()
    assert over and legend and legend["y"] >= over["y"] + over["height"]


def test_4_clone_of_a_local_run_suggests_a_served_queue(page: Page, stack: Stack) -> None:
    stack.client.queues.create("aaa-nobody-serves")
    claim = stack.client.tasks.start_local(TaskCreate(project="bug4", name="local"))
    assert claim.task is not None and claim.task.queue is None
    page.goto(f"{stack.server.url}/#/clone/{claim.task.id}")
    expect(page.locator("input[name=queue]")).to_have_value("default")
    expect(page.locator("#clone-submit")).to_have_text("Clone and enqueue")


def test_5_queue_pages_keep_their_size_and_a_dequeued_task_can_be_enqueued(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    ids = [stack.draft("bug5", f"w{i:03d}", queue="long", create_queue=True) for i in range(230)]
    stack.client.queues.create("other")
    page.goto(f"{stack.server.url}/#/queues/long")
    rows = page.locator("#queue-entries tbody tr")
    expect(rows).to_have_count(100)
    page.click("#queue-next")
    page.click("#queue-next")
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text("w200")
    expect(rows.first.locator("td").first).to_have_text("201")
    rows.first.get_by_role("button", name="down").click()
    expect(rows.nth(1)).to_contain_text("w200")
    expect(rows).to_have_count(30)
    # move one to another queue: off this one, onto the other with its priority
    rows.last.locator("select[name=target]").select_option("other")
    rows.last.get_by_role("button", name="Move").click()
    expect(rows).to_have_count(29)
    assert stack.client.tasks.get(ids[-1]).queue == "other"
    shoot(page, "queue-paged")
    rows.first.get_by_role("button", name="Dequeue").click()
    expect(rows).to_have_count(28)
    dequeued = ids[201]
    assert stack.client.tasks.get(dequeued).status is TaskStatus.DRAFT
    page.goto(f"{stack.server.url}/#/task/{dequeued}")
    page.click("#action-enqueue")
    # a queue a live worker serves is suggested, never merely the first by name
    expect(page.locator("#enqueue-form input[name=queue]")).to_have_value("default")
    page.fill("#enqueue-form input[name=queue]", "long")
    page.locator("#enqueue-form").get_by_role("button", name="Enqueue").click()
    expect(page.locator("h1 .badge")).to_have_text("queued")
    assert stack.client.tasks.get(dequeued).queue == "long"
    page.click("#action-dequeue")
    expect(page.locator("h1 .badge")).to_have_text("draft")


def test_6_console_colours_waiting_state_title_page_size(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    task_id = stack.draft("bug6", "colourful", queue="parked-6", create_queue=True)
    lines = [
        LogLine(text="\x1b[31mred error\x1b[0m then plain", ts=time.time()),
        LogLine(text="\x1b[1;38;5;82mbold green\x1b[0m \x1b[2Kprogress", ts=time.time()),
    ]
    stack.client.logs.append(task_id, LogBatch(seq=0, lines=lines))
    page.goto(f"{stack.server.url}/#/task/{task_id}?tab=console")
    console = page.locator("#console")
    expect(console.locator(".a-fg-c1")).to_have_text("red error")
    expect(console.locator(".a-bold")).to_have_text("bold green")
    expect(console).not_to_contain_text("[31m")
    expect(console).not_to_contain_text("\x1b")
    expect(page.locator(".live-state")).to_contain_text("queued")
    expect(page.locator(".live-state")).not_to_contain_text("live")
    assert "colourful" in page.title()
    shoot(page, "console-ansi")
    page.get_by_role("link", name="Queues", exact=True).click()
    expect(page.locator("h1")).to_have_text("Queues")
    assert "colourful" not in page.title()
    page.goto(f"{stack.server.url}/#/tasks?limit=1000")
    expect(page.locator("select[name=limit]")).to_have_value("1000")
    page.goto(f"{stack.server.url}/#/tasks?limit=banana")
    expect(page.locator("select[name=limit]")).to_have_value("50")


def test_6_the_ui_works_with_storage_blocked(browser: Browser, stack: Stack) -> None:
    stack.draft("bug6b", "visible-without-storage")
    context = browser.new_context()
    blocked = """
    for (const name of ["localStorage", "sessionStorage"]) {
      const blocked = () => { throw new DOMException("blocked", "SecurityError"); };
      Object.defineProperty(window, name, { get: blocked });
    }
    """
    context.add_init_script(blocked)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{stack.server.url}/#/tasks?project=bug6b")
    expect(tab.locator("table.tasks")).to_contain_text("visible-without-storage")
    tab.goto(f"{stack.server.url}/#/compare?ids=x,y")
    expect(tab.locator("h1")).to_have_text("Compare 0 tasks")
    context.close()
    assert not errors


def test_7_the_task_list_sends_summaries_not_diffs(page: Page, stack: Stack) -> None:
    diff = "diff --git a/x b/x\n" + "+" + "y" * 1_000_000 + "\n"
    for i in range(5):
        stack.client.tasks.create(
            TaskCreate(
                project="bug7",
                name=f"huge-{i}",
                script=Script(entry_point="t.py", diff=diff),
                environment=Environment(requirements=[f"pkg{j}==1.0" for j in range(500)]),
            )
        )
    with page.expect_response(lambda r: "/api/v1/tasks?" in r.url) as listed:
        page.goto(f"{stack.server.url}/#/tasks?project=bug7")
    expect(page.locator("table.tasks tbody tr")).to_have_count(5)
    size = len(listed.value.body())
    assert size < 20_000, f"a page of 5 tasks with 1 MB diffs is {size} bytes"


def test_downloaded_log_is_the_whole_console(page: Page, stack: Stack) -> None:
    task_id = stack.draft("download", "logged")
    lines = [LogLine(text=f"line {i}", ts=time.time()) for i in range(2500)]
    stack.client.logs.append(task_id, LogBatch(seq=0, lines=lines))
    page.goto(f"{stack.server.url}/#/task/{task_id}?tab=console")
    expect(page.locator("#console")).to_contain_text("line 2499")
    with page.expect_download() as download:
        page.get_by_role("button", name="download").click()
    text = Path(download.value.path()).read_text()
    assert "line 0" in text and "line 2499" in text
