"""The queues page shows a queue's limits and lets an operator change them, in a real
browser against a real server; what was typed survives the page's 3 s redraw."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def test_queue_page_edits_limits_and_keeps_what_was_typed_across_a_redraw(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    stack.client.queues.create("limited")
    page.goto(f"{stack.server.url}/#/queues/limited")
    form = page.locator("form.limits-form")
    running = form.locator("input[name=max_running]")
    expect(running).to_have_value("")

    running.fill("2")
    # While the field has the focus the detail is not redrawn (the caret would go).
    listed = page.locator("table.queues").element_handle()
    page.wait_for_function("el => !el.isConnected", arg=listed, timeout=10_000)
    expect(running).to_be_focused()
    form.locator("input[name=max_gpus]").fill("1.5")
    form.locator("input[name=preemptible]").check()
    page.locator("h1").click()  # focus gone: the next redraw replaces the form
    page.wait_for_function("el => !el.isConnected", arg=running.element_handle(), timeout=10_000)
    expect(running).to_have_value("2")
    expect(form.locator("input[name=max_gpus]")).to_have_value("1.5")
    expect(form.locator("input[name=preemptible]")).to_be_checked()

    form.get_by_role("button", name="Save limits").click()
    row = page.locator("table.queues tr[data-queue=limited]")
    expect(row.locator("td.running")).to_have_text("0 / 2")
    expect(row.locator("td.gpus")).to_have_text("0 / 1.5")
    expect(row.locator("td.preemptible")).to_have_text("yes")
    saved = stack.client.queues.get("limited")
    assert (saved.max_running, saved.max_gpus, saved.preemptible) == (2, 1.5, True)
    shoot(page, "queue-limits")

    form.locator("input[name=max_running]").fill("")  # empty: no limit
    form.get_by_role("button", name="Save limits").click()
    expect(row.locator("td.running")).to_have_text("0")
    assert stack.client.queues.get("limited").max_running is None
