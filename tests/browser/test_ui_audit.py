"""The audit page lists state-changing requests with their route and object, in a real
browser against a real server, and its filters survive a redraw and a reload."""

import pytest
from playwright.sync_api import Page, expect

from runyard.models import QueueUpdate
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e


def test_audit_page_lists_writes_and_keeps_its_filters(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    stack.client.queues.create("audited")
    stack.client.queues.update("audited", QueueUpdate(max_running=1))
    page.goto(f"{stack.server.url}/#/audit")
    expect(page.locator("#nav a[data-section=audit]")).to_have_class("active")
    row = page.locator("table.audit tr", has_text="name=audited")
    expect(row).to_have_count(1)
    expect(row.locator("td.who")).to_have_text("open")
    expect(row).to_contain_text("/api/v1/queues/{name}")
    expect(row).to_contain_text("PATCH")
    shoot(page, "audit")

    # A caller with no entries: the table empties, and the filter stays in the URL.
    page.locator("input[name=user]").fill("nobody")
    page.locator("input[name=user]").press("Enter")
    expect(page.locator("#audit")).to_contain_text("No state-changing requests")
    page.locator("select[name=since]").select_option("7d")
    assert "user=nobody" in page.url and "since=7d" in page.url
    # Past the 5 s redraw, and after a reload, the filters hold.
    page.wait_for_timeout(5500)
    expect(page.locator("input[name=user]")).to_have_value("nobody")
    page.reload()
    expect(page.locator("input[name=user]")).to_have_value("nobody")
    expect(page.locator("select[name=since]")).to_have_value("7d")
    expect(page.locator("#audit")).to_contain_text("No state-changing requests")
