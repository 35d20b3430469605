"""The runs table's min/max metric columns, and the queue page's one-step move, in a
real browser against a real server."""

import time

import pytest
from playwright.sync_api import Page, expect

from runyard.models import MetricBatch, MetricPoint, TaskStatus
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def test_runs_table_shows_and_sorts_by_a_metric_min_and_max(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    curves = {"dips": [3.0, 0.1, 2.5], "steady": [1.0, 0.8, 0.7], "spikes": [2.0, 9.0, 1.2]}
    ids = {name: stack.draft("extremes", name) for name in curves}
    for name, values in curves.items():
        points = [
            MetricPoint(series="val/loss", value=v, step=i, ts=time.time() + i)
            for i, v in enumerate(values)
        ]
        stack.client.metrics.append(ids[name], MetricBatch(points=points))
    page.goto(f"{stack.server.url}/#/tasks?project=extremes&limit=2")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(2)
    page.locator("#column-chooser summary").click()
    page.get_by_label("val/loss (min)").check()
    page.get_by_label("val/loss (max)").check()
    shoot(page, "column-chooser-min-max")
    page.locator("#column-chooser summary").click()

    low = page.get_by_role("columnheader", name="val/loss (min)")
    low.click()  # a metric sorts descending first
    expect(low).to_contain_text("▼")
    low.click()
    expect(low).to_contain_text("▲")
    expect(rows.first).to_contain_text("dips")
    expect(rows.first.locator("td.col-metric").first).to_have_text("0.1")
    expect(rows.nth(1)).to_contain_text("steady")
    page.click("#older")  # the sort holds across pages: the server sorts
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("spikes")
    expect(rows.first.locator("td.col-metric").first).to_have_text("1.2")
    page.get_by_role("columnheader", name="val/loss (max)").click()
    expect(rows.first).to_contain_text("spikes")
    expect(rows.first.locator("td.col-metric").last).to_have_text("9")
    shoot(page, "runs-table-min-max")
    page.reload()  # the chosen columns and the sort are kept
    expect(page.get_by_role("columnheader", name="val/loss (max)")).to_contain_text("▼")


def test_queue_page_moves_a_task_in_one_step_and_a_refused_move_leaves_it_queued(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    task_id = stack.draft("mover", "to-move", queue="move-src", create_queue=True, priority=2)
    stack.client.queues.create("move-dst")
    stack.client.queues.create("move-gone")
    page.goto(f"{stack.server.url}/#/queues/move-src")
    rows = page.locator("#queue-entries tbody tr")
    expect(rows).to_have_count(1)
    stack.client.queues.delete("move-gone")  # after the page listed it as a target

    rows.first.locator("select[name=target]").select_option("move-gone")
    rows.first.get_by_role("button", name="Move").click()
    expect(page.get_by_role("alert")).to_contain_text("queue move-gone does not exist")
    task = stack.client.tasks.get(task_id)
    assert task.status is TaskStatus.QUEUED and task.queue == "move-src"  # never a draft

    target = rows.first.locator("select[name=target]")
    target.select_option("move-dst")
    # The page redraws every 3 s; the pick must survive a redraw before Move is pressed
    # (it once fell back to the first queue listed, `default`, where the agent ran it).
    page.wait_for_function("el => !el.isConnected", arg=target.element_handle(), timeout=10_000)
    expect(target).to_have_value("move-dst")
    rows.first.get_by_role("button", name="Move").click()
    expect(rows).to_have_count(0)
    moved = stack.client.tasks.get(task_id)
    assert moved.status is TaskStatus.QUEUED and moved.queue == "move-dst" and moved.priority == 2
    shoot(page, "queue-moved-in-one-step")
