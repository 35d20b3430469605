"""No payload in any field a task carries runs as script in any view, old or new:
``window.__xss`` stays undefined everywhere."""

import time

import pytest
from playwright.sync_api import Page, expect

from runyard.models import (
    Environment,
    FailureKind,
    LogBatch,
    LogLine,
    MetricBatch,
    MetricPoint,
    Script,
    TaskCreate,
)
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=1>",
    '"><script>window.__xss=1</script>',
    "javascript:window.__xss=1",
    "'-alert(window.__xss=1)-'",
    "\x1b[31m<img src=x onerror=window.__xss=1>\x1b[0m",
]


def hostile_task(stack: Stack, name: str, payload: str, *, failed: bool = False) -> str:
    printable = payload.replace("\x1b", "")  # names are one printable line
    spec = TaskCreate(
        project="xss",
        name=f"{name} {printable}",
        tags=["xss"],
        comment=payload,
        script=Script(
            repository="https://example.com/r.git",
            branch="main",
            entry_point="train.py",
            args=[payload, "--flag"],
            diff=f"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{payload}\n+{payload}\n",
        ),
        environment=Environment(requirements=[f"pkg{payload.count('<')}==1.0"], env={"V": payload}),
        params={"General": {payload: payload, "lr": 0.1}, "Args": {"note": payload}},
    )
    if failed:
        claim = stack.client.tasks.start_local(spec)
        assert claim.task is not None
        task_id = claim.task.id
        stack.client.tasks.report_failed(task_id, claim.lease_token, FailureKind.SCRIPT, payload)
    else:
        task_id = stack.client.tasks.create(spec).id
    lines = [LogLine(text=payload, ts=time.time()), LogLine(text=f"x {payload} y", ts=time.time())]
    stack.client.logs.append(task_id, LogBatch(seq=0, lines=lines))
    points = [
        MetricPoint(series="loss", value=v, step=i, ts=time.time()) for i, v in enumerate([3, 2])
    ]
    stack.client.metrics.append(task_id, MetricBatch(points=points))
    return task_id


def assert_clean(page: Page, where: str) -> None:
    page.wait_for_timeout(150)  # an onerror fires once the broken image fails
    assert page.evaluate("typeof window.__xss") == "undefined", f"a payload ran on {where}"


def test_no_payload_runs_in_any_view(page: Page, stack: Stack, shoot: Shoot) -> None:
    ids = [
        hostile_task(stack, f"t{i}", payload, failed=i % 2 == 0)
        for i, payload in enumerate(PAYLOADS)
    ]
    stack.client.queues.create("xss-parked")
    queued = hostile_task(stack, "queued", PAYLOADS[0])
    stack.client.tasks.enqueue(queued, "xss-parked")
    url = stack.server.url
    views = [
        "#/projects",
        "#/tasks?project=xss",
        f"#/tasks?project=xss&sort=param:General/lr&q={PAYLOADS[1]}",
        f"#/compare?ids={','.join(ids[:3])}",
        f"#/compare?ids={ids[0]},{PAYLOADS[0]}",
        "#/queues/xss-parked",
        f"#/draft/{ids[1]}",
        f"#/clone/{ids[0]}",
    ]
    for task_id in ids[:2]:
        views += [
            f"#/task/{task_id}?tab={tab}"
            for tab in ("overview", "console", "metrics", "code", "environment", "artifacts")
        ]
    for view in views:
        page.goto(f"{url}/{view}")
        page.wait_for_load_state("networkidle")
        assert_clean(page, view)

    # the new views' controls: param columns, the column chooser, a bulk tag, console search
    page.goto(f"{url}/#/tasks?project=xss")
    page.locator("#column-chooser summary").click()
    for box in page.locator("#column-chooser input[value^='param:']").all():
        box.check()
    expect(page.locator("table.tasks td.col-param").first).to_be_visible()
    page.get_by_label("select every task on this page").check()
    page.fill("input[name=bulk-tag]", "xss-tagged")
    page.click("#bulk-tag")
    expect(page.locator("#bulk-result")).to_be_visible()
    assert_clean(page, "the runs table with param columns")
    shoot(page, "xss-runs-table")
    page.goto(f"{url}/#/task/{ids[0]}?tab=console")
    page.get_by_label("search the log").fill("img")
    expect(page.locator("#console .line.match").first).to_be_visible()
    assert_clean(page, "the console search")
    page.goto(f"{url}/#/compare?ids={ids[0]},{ids[1]}")
    page.locator("#compare-code summary").first.click()
    assert_clean(page, "an opened diff in compare")
