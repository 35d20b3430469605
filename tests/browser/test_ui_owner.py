"""The tasks page shows who created each task and filters by owner; the task page says who."""

import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from runyard.client import Client
from runyard.models import Script, TaskCreate
from tests.browser.conftest import Stack

pytestmark = pytest.mark.e2e


def test_tasks_page_has_an_owner_column_and_filter(page: Page, stack: Stack) -> None:
    # The stack's server is open (no tokens); a stored token still names its user.
    add = [
        sys.executable,
        "-m",
        "runyard_server",
        "admin",
        "--data-dir",
        str(stack.server.data_dir),
    ]
    done = subprocess.run(
        [*add, "user", "add", "olga", "--role", "member"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with Client(stack.server.url, done.stdout.strip()) as olga:
        hers = olga.tasks.create(
            TaskCreate(project="owners", name="olgas-run", script=Script(entry_point="train.py"))
        )
    stack.draft("owners", "anonymous-run")
    page.goto(f"{stack.server.url}/#/tasks?project=owners")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("columnheader", name="Owner")).to_be_visible()
    expect(rows.filter(has_text="olgas-run")).to_contain_text("olga")
    page.fill("input[name=owner]", "olga")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("olgas-run")
    page.goto(f"{stack.server.url}/#/task/{hers.id}")
    expect(page.locator("dl.facts").first).to_contain_text("Ownerolga")
