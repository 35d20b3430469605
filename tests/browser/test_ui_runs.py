"""The runs table, projects, drafts, compare charts, console search, dark mode and the
keyboard, in a real browser against a real server."""

import re
import time

import pytest
from playwright.sync_api import Locator, Page, expect

from runyard.models import LogBatch, LogLine, MetricBatch, MetricPoint, Resources, TaskStatus
from tests.browser.conftest import Shoot, Stack
from tests.browser.test_hardening import RECORD_VIOLATIONS

pytestmark = pytest.mark.e2e


def final_value(stack: Stack, task_id: str, series: str, values: list[float]) -> None:
    points = [
        MetricPoint(series=series, value=v, step=i, ts=time.time() + i)
        for i, v in enumerate(values)
    ]
    stack.client.metrics.append(task_id, MetricBatch(points=points))


def test_runs_table_sorts_by_a_parameter_and_a_metric_column_across_pages(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    lrs = [0.3, 0.01, 0.2, 0.5, 0.05, 0.1, 0.4]
    ids = [
        stack.draft("sweep", f"run-{i}", params={"General": {"lr": lr, "opt": "adam"}})
        for i, lr in enumerate(lrs)
    ]
    for task_id, acc in zip(ids[:4], [0.7, 0.9, 0.8, 0.6], strict=True):
        final_value(stack, task_id, "val/acc", [0.1, acc])
    page.goto(f"{stack.server.url}/#/tasks?project=sweep&limit=3")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(3)
    page.locator("#column-chooser summary").click()
    page.get_by_label("General/lr").check()
    page.get_by_label("val/acc", exact=True).check()
    page.locator("#column-chooser summary").click()
    header = page.get_by_role("columnheader", name="General/lr")
    header.click()
    expect(header).to_contain_text("▼")
    expect(rows.first.locator("td.col-param")).to_have_text("0.5")
    expect(rows.nth(2).locator("td.col-param")).to_have_text("0.3")
    page.click("#older")
    expect(rows.first.locator("td.col-param")).to_have_text("0.2")
    page.click("#older")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.col-param")).to_have_text("0.01")
    page.get_by_role("columnheader", name="val/acc").click()
    expect(rows.first).to_contain_text("run-1")
    expect(rows.first.locator("td.col-metric")).to_have_text("0.9")
    shoot(page, "runs-table-columns")
    # the choice of columns is kept for the next visit
    page.reload()
    expect(page.get_by_role("columnheader", name="General/lr")).to_be_visible()


def test_search_by_id_prefix_and_filter_suggestions(page: Page, stack: Stack) -> None:
    wanted = stack.draft("finding", "needle", tags=["rare-tag"])
    stack.draft("finding", "haystack")
    page.goto(f"{stack.server.url}/#/tasks")
    page.fill("input[name=q]", wanted[:7])
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("needle")
    expect(page.locator("#project-names option[value=finding]")).to_have_count(1)
    expect(page.locator("#tag-names option[value=rare-tag]")).to_have_count(1)
    expect(page.locator("input[name=tag]")).to_have_attribute("list", "tag-names")


def test_bulk_actions_enqueue_dequeue_tag_abort_delete_and_compare(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    stack.client.queues.create("parked-bulk")
    ids = [stack.draft("bulk", f"b{i}") for i in range(3)]
    page.goto(f"{stack.server.url}/#/tasks?project=bulk")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(3)
    select_all = page.get_by_label("select every task on this page")

    select_all.check()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.fill("#bulk-bar input[name=queue]", "parked-bulk")
    shoot(page, "bulk-actions")
    page.click("#bulk-enqueue")
    expect(page.locator("#bulk-result")).to_contain_text("3 of 3 enqueued")
    assert {stack.client.tasks.get(i).status for i in ids} == {TaskStatus.QUEUED}

    select_all.check()
    page.click("#bulk-dequeue")
    expect(page.locator("#bulk-result")).to_contain_text("3 of 3 dequeued")
    assert {stack.client.tasks.get(i).status for i in ids} == {TaskStatus.DRAFT}

    select_all.check()
    page.fill("input[name=bulk-tag]", "best")
    page.click("#bulk-tag")
    expect(page.locator("#bulk-result")).to_contain_text("3 of 3 tagged best")
    assert all("best" in stack.client.tasks.get(i).tags for i in ids)

    page.get_by_label("select b0").check()
    page.click("#bulk-abort")
    page.click("#bulk-abort")
    expect(page.locator("#bulk-result")).to_contain_text("1 of 1 aborted")
    assert stack.client.tasks.get(ids[0]).status is TaskStatus.ABORTED

    page.get_by_label("select b1").check()
    page.get_by_label("select b2").check()
    page.click("#bulk-delete")
    page.click("#bulk-delete")
    expect(page.locator("#bulk-result")).to_contain_text("2 of 2 deleted")
    expect(rows).to_have_count(1)

    other = stack.draft("bulk", "b3")
    page.get_by_label("select b0").check()
    page.get_by_label("select b3").check()
    page.click("#bulk-compare")
    expect(page.locator("h1")).to_have_text("Compare 2 tasks")
    assert other in page.url


def test_projects_page_shows_counts_and_latest_runs(page: Page, stack: Stack, shoot: Shoot) -> None:
    for i in range(4):
        stack.draft("vision-x", f"resnet-{i}")
    stack.draft("nlp-x", "bert")
    page.goto(f"{stack.server.url}/#/projects")
    card = page.locator(".project[data-project=vision-x]")
    expect(card.locator(".count")).to_have_text("4 tasks")
    expect(card.locator(".latest li").first).to_contain_text("resnet-3")
    shoot(page, "projects")
    card.get_by_role("link", name="vision-x").click()
    expect(page.locator("table.tasks tbody tr")).to_have_count(4)
    assert page.title() == "Tasks · Runyard"


def test_draft_is_edited_then_enqueued_or_deleted(page: Page, stack: Stack, shoot: Shoot) -> None:
    task_id = stack.draft("drafts", "to-edit", params={"General": {"lr": 0.1}})
    page.goto(f"{stack.server.url}/#/task/{task_id}")
    page.click("#action-edit")
    page.fill("textarea[name=params]", '{"General": {"lr": 0.02, "layers": [1, 2]}}')
    page.fill("textarea[name=args]", "--epochs\n5")
    page.fill("input[name=commit]", "a" * 40)
    page.fill("textarea[name=requirements]", "numpy==2.0\ntorch>=2.3")
    page.fill("input[name=gpus]", "2")
    shoot(page, "draft-edit")
    page.click("#draft-save")
    expect(page.locator("h1")).to_contain_text("to-edit")
    task = stack.client.tasks.get(task_id)
    assert task.params == {"General": {"lr": 0.02, "layers": [1, 2]}}
    assert task.script.args == ["--epochs", "5"]
    assert task.script.commit == "a" * 40
    assert task.environment.requirements == ["numpy==2.0", "torch>=2.3"]
    assert task.resources.gpus == 2

    page.click("#action-edit")
    page.fill("textarea[name=params]", "{not json")
    page.click("#draft-save")
    expect(page.locator("#draft-flash")).to_contain_text("not valid JSON")
    page.fill("textarea[name=params]", '{"General": {"lr": 0.03}}')
    page.fill("#draft-form input[name=queue]", "parked-drafts")
    page.get_by_label("create the queue if it does not exist").check()
    page.click("#draft-enqueue")
    expect(page.locator("h1 .badge")).to_have_text("queued")
    assert stack.client.tasks.get(task_id).queue == "parked-drafts"

    gone = stack.draft("drafts", "to-delete")
    page.goto(f"{stack.server.url}/#/draft/{gone}")
    page.click("#draft-delete")
    page.click("#draft-delete")
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    assert not [t for t in stack.client.tasks.list(project="drafts").items if t.id == gone]


def test_a_drafts_typed_gpu_fields_are_edited_in_a_closed_section_then_enqueued(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    task_id = stack.draft("drafts", "typed-gpus")
    page.goto(f"{stack.server.url}/#/draft/{task_id}")
    section = page.locator("#draft-gpu-type")
    expect(section).not_to_have_attribute("open", "")
    expect(page.locator("input[name=gpu_model]")).to_be_hidden()
    page.fill("input[name=gpus]", "2")
    page.click("#draft-gpu-type summary")
    page.fill("input[name=gpu_model]", "A100*")
    page.fill("input[name=gpu_memory_gb]", "39")
    page.select_option("select[name=gpu_interconnect]", "nvlink")
    page.fill("input[name=nodes]", "2")
    page.fill("#draft-form input[name=queue]", "typed-gpus")
    page.get_by_label("create the queue if it does not exist").check()
    shoot(page, "draft-gpu-type")
    page.click("#draft-enqueue")
    expect(page.locator("h1 .badge")).to_have_text("queued")
    task = stack.client.tasks.get(task_id)
    assert task.queue == "typed-gpus"
    assert (task.resources.gpus, task.resources.gpu_model, task.resources.gpu_memory_gb) == (
        2,
        "A100*",
        39,
    )
    assert (task.resources.gpu_interconnect, task.resources.nodes) == ("nvlink", 2)

    typed = stack.draft("drafts", "typed-open", resources=Resources(gpus=1, gpu_model="H100*"))
    page.goto(f"{stack.server.url}/#/draft/{typed}")
    expect(page.locator("input[name=gpu_model]")).to_have_value("H100*")
    expect(page.locator("input[name=gpu_model]")).to_be_visible()


def compare_two_runs(page: Page, stack: Stack, project: str) -> Locator:
    """Open compare on runs "steady" and "noisy", 50 loss points each; their loss chart."""
    a = stack.draft(project, "steady")
    b = stack.draft(project, "noisy")
    final_value(stack, a, "loss", [10 / (i + 1) for i in range(50)])
    final_value(stack, b, "loss", [10 / (i + 1) + (i % 2) for i in range(50)])
    page.goto(f"{stack.server.url}/#/compare?ids={a},{b}")
    box = page.locator("#compare-charts .chart-box").first
    expect(box.locator(".uplot")).to_be_visible()
    return box


def test_compare_charts_smooth_log_scale_time_axis_and_zoom(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    box = compare_two_runs(page, stack, "charts")
    expect(box).to_have_attribute("data-x-range", "0,49")
    over = box.locator(".u-over")
    over.scroll_into_view_if_needed()
    area = over.bounding_box()
    assert area is not None
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + area["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.5, y, steps=5)
    page.mouse.up()
    zoomed = box.get_attribute("data-x-range") or ""
    low, high = (float(v) for v in zoomed.split(","))
    assert 5 < low < high < 30, zoomed
    shoot(page, "compare-zoomed")
    page.get_by_label("log scale").check()
    expect(page.locator("#compare-charts .chart-box").first).to_have_attribute("data-scale", "log")
    page.select_option("select[name=chart-x]", "time")
    expect(page.locator("#compare-charts .chart-box").first).to_have_attribute("data-x", "time")
    page.locator("input[name=chart-smooth]").fill("0.8")
    page.locator("input[name=chart-smooth]").dispatch_event("change")
    shoot(page, "compare-log-smooth")
    page.reload()
    expect(page.get_by_label("log scale")).to_be_checked()


def test_chart_zoom_pan_and_legend_toggles_by_keyboard_alone(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    box = compare_two_runs(page, stack, "keycharts")
    expect(box).to_have_attribute("data-x-range", "0,49")
    # Colours are set through the CSSOM, which the policy allows (the first run's is #2f6fde).
    swatch = page.locator(".swatch").first
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(47, 111, 222)"
    box.focus()
    page.keyboard.press("+")  # half the range, around its centre 24.5
    expect(box).to_have_attribute("data-x-range", "12.25,36.75")
    page.keyboard.press("ArrowRight")  # a quarter of the shown range on
    expect(box).to_have_attribute("data-x-range", "18.375,42.875")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # stops at the last step
    expect(box).to_have_attribute("data-x-range", "24.5,49")
    page.keyboard.press("-")
    expect(box).to_have_attribute("data-x-range", "0,49")
    page.keyboard.press("+")
    page.keyboard.press("0")
    expect(box).to_have_attribute("data-x-range", "0,49")

    # Tab reaches each run's legend name, a toggle; Space hides the run, Enter shows it.
    page.keyboard.press("Tab")
    steady = box.get_by_role("button", name="steady")
    expect(steady).to_be_focused()
    expect(steady).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Space")
    expect(steady).to_have_attribute("aria-pressed", "false")
    expect(box.locator("tr.u-series.u-off")).to_have_count(1)
    page.keyboard.press("Tab")
    noisy = box.get_by_role("button", name="noisy")
    expect(noisy).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(noisy).to_have_attribute("aria-pressed", "true")

    # Then the zoom buttons, pressed from the keyboard.
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="zoom in on loss")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(box).to_have_attribute("data-x-range", "18.375,30.625")
    shoot(page, "compare-keyboard-zoomed")
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="zoom out of loss")).to_be_focused()
    page.keyboard.press("Space")
    expect(box).to_have_attribute("data-x-range", "12.25,36.75")
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="reset the zoom of loss")).to_be_focused()
    page.keyboard.press("Enter")
    expect(box).to_have_attribute("data-x-range", "0,49")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(steady).to_be_focused()
    page.keyboard.press("Enter")
    expect(steady).to_have_attribute("aria-pressed", "true")
    expect(box.locator("tr.u-series.u-off")).to_have_count(0)
    page.wait_for_timeout(200)  # the events are queued as tasks
    assert page.evaluate("window.__csp") == []


def test_console_search_marks_steps_through_and_filters(page: Page, stack: Stack) -> None:
    task_id = stack.draft("search", "logged")
    lines = [
        LogLine(text=f"epoch {i} {'WARN slow' if i % 10 == 0 else 'ok'}", ts=0) for i in range(50)
    ]
    stack.client.logs.append(task_id, LogBatch(seq=0, lines=lines))
    page.goto(f"{stack.server.url}/#/task/{task_id}?tab=console")
    console = page.locator("#console")
    expect(console).to_contain_text("epoch 49")
    search = page.get_by_label("search the log")
    search.fill("warn")
    expect(page.locator(".search-count")).to_have_text("5 matching lines")
    expect(console.locator(".line.match")).to_have_count(5)
    search.press("Enter")
    search.press("Enter")
    expect(console.locator(".line.match-current")).to_contain_text("epoch 10")
    expect(page.locator(".search-count")).to_have_text("2 of 5 matching lines")
    page.get_by_label("only matches").check()
    expect(console.locator(".line:not(.filtered-out)")).to_have_count(5)


def test_dark_mode_follows_the_system_setting(page: Page, stack: Stack, shoot: Shoot) -> None:
    task_id = stack.draft("dark", "night-run", params={"General": {"lr": 0.1}})
    final_value(stack, task_id, "loss", [3, 2, 1])
    page.emulate_media(color_scheme="dark")
    page.goto(f"{stack.server.url}/#/tasks?project=dark")
    expect(page.locator("table.tasks tbody tr")).to_have_count(1)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    panel = page.evaluate("getComputedStyle(document.querySelector('.table-box')).backgroundColor")
    assert background == "rgb(18, 22, 31)" and panel == "rgb(26, 32, 44)"
    shoot(page, "dark-tasks")
    page.goto(f"{stack.server.url}/#/task/{task_id}?tab=metrics")
    expect(page.locator("#charts .uplot")).to_have_count(1)
    shoot(page, "dark-metrics")
    page.emulate_media(color_scheme="light")
    page.goto(f"{stack.server.url}/#/tasks?project=dark")
    expect(page.locator("table.tasks tbody tr")).to_have_count(1)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 246, 248)"


def focused(page: Page) -> str:
    """What has the keyboard focus, as tag#id[name]"label"."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
            const label = (e.getAttribute("aria-label") || e.textContent || "").trim();
            return `${e.tagName.toLowerCase()}#${e.id}[${e.getAttribute("name") || ""}]`
              + JSON.stringify(label.slice(0, 40)); }"""
        )
    )


def tab_through(page: Page, presses: int) -> list[str]:
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(focused(page))
    return seen


def test_every_control_is_reached_and_worked_by_the_keyboard(page: Page, stack: Stack) -> None:
    task_id = stack.draft("keys", "keyboard-run", queue="parked-keys", create_queue=True)
    stack.draft("keys", "another", queue="parked-keys")
    page.goto(f"{stack.server.url}/#/tasks?project=keys")
    expect(page.locator("table.tasks tbody tr")).to_have_count(2)
    seen = tab_through(page, 40)
    for control in ['"Columns"', "[project]", "[status]", "[q]", "[metric]", "[limit]", '"Name"']:
        assert any(control in item for item in seen), (control, seen)
    assert any('"select keyboard-run"' in item for item in seen), seen
    page.get_by_role("button", name="Name").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("sort=name"))
    page.locator("#column-chooser summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".chooser-body")).to_be_visible()
    # an auto-refresh that redraws the table keeps the focus where the keyboard left it
    page.get_by_label("select keyboard-run").focus()
    stack.draft("keys", "arrives-later")
    expect(page.locator("table.tasks tbody tr")).to_have_count(3, timeout=10_000)
    assert '"select keyboard-run"' in focused(page)
    page.keyboard.press("Space")
    expect(page.locator("#bulk-count")).to_have_text("1 selected")

    page.goto(f"{stack.server.url}/#/queues/parked-keys")
    expect(page.locator("#queue-entries tbody tr")).to_have_count(2)
    seen = tab_through(page, 30)
    for control in ['"down"', '"Dequeue"', "[target]", '"Move"']:
        assert any(control in item for item in seen), (control, seen)

    page.goto(f"{stack.server.url}/#/task/{task_id}")
    # Tab only once the page is drawn, from the top: a slow first draw under load let the
    # presses cycle through the header alone.
    expect(page.get_by_role("tab", name="Artifacts")).to_be_visible()
    expect(page.locator("#action-dequeue")).to_be_visible()
    page.locator("a.brand").focus()
    seen = tab_through(page, 20)
    for control in ['"Overview"', '"Console"', '"Metrics"', '"Clone…"', '"Abort"']:
        assert any(control in item for item in seen), (control, seen)
    page.get_by_role("tab", name="Console").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#console")).to_be_visible()
