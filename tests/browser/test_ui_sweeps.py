"""The sweeps pages in a real browser, on a sweep whose trials really run on the stack's
agent (``tests/sweep_trials.py``): the list, the trials table sorted by objective with
the best marked (a sort the user picked survives the page's redraw), the objective
charts with the pruned trials marked, the best params with "Clone best", and the link
from a trial's task page back to its sweep."""

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from runyard.models import SweepCreate, SweepStatus
from tests.browser.conftest import Shoot
from tests.sweep_trials import LRS, Yard, base_task, grid_spec, sweep_yard

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yard]:
    """The trial script's server and agent (short leases: a pruned trial stops at once)."""
    with sweep_yard(tmp_path_factory.mktemp("ui-sweeps"), "default") as started:
        yield started


def test_sweep_pages_rank_trials_chart_them_and_link_both_ways(
    page: Page, stack: Yard, shoot: Shoot
) -> None:
    base = base_task(stack.client, stack.repo, "ui-sweeps", pause=0.6)
    spec = SweepCreate.model_validate(grid_spec(base.id, "default", name="lr grid"))
    sweep = stack.client.sweeps.create(spec)

    page.goto(f"{stack.server.url}/#/sweeps")
    expect(page.locator("#nav a.active")).to_have_text("Sweeps")
    row = page.locator(f"table.sweeps tr[data-id='{sweep.id}']")
    expect(row).to_contain_text("lr grid")
    expect(row).to_contain_text("max val/acc")
    row.locator("a.sweep-link").click()
    expect(page).to_have_url(f"{stack.server.url}/#/sweep/{sweep.id}")
    expect(page.locator("h1")).to_contain_text("lr grid")

    # While it runs: the user turns the objective column around; the 3 s redraw keeps it.
    objective = page.locator("#sweep-trials th", has=page.locator("button[data-sort=value]"))
    expect(objective).to_have_attribute("aria-sort", "descending")  # best first for max
    objective.locator("button").click()
    expect(objective).to_have_attribute("aria-sort", "ascending")
    table = page.locator("table.trials").element_handle()
    page.wait_for_function("el => !el.isConnected", arg=table, timeout=10_000)
    assert stack.client.sweeps.get(sweep.id).status is SweepStatus.RUNNING, "ended too soon"
    expect(objective).to_have_attribute("aria-sort", "ascending")
    assert "sort=value" in page.url and "order=asc" in page.url

    deadline = time.monotonic() + 180
    while stack.client.sweeps.get(sweep.id).status is SweepStatus.RUNNING:
        assert time.monotonic() < deadline, "the sweep did not end in 3 minutes"
        time.sleep(0.5)
    done = stack.client.sweeps.get(sweep.id)
    trials = stack.client.sweeps.trials(sweep.id).trials
    assert done.best is not None and done.best.params == {"General/lr": max(LRS)}
    pruned = [t for t in trials if t.status == "pruned"]
    assert pruned, [(t.number, t.status) for t in trials]

    expect(page.locator("h1 .badge")).to_have_text("done")
    rows = page.locator("table.trials tbody tr")
    expect(rows).to_have_count(len(LRS))
    objective.locator("button").click()  # back to best first
    expect(objective).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_class("best")
    expect(rows.first.locator(".best-mark")).to_be_visible()
    expect(rows.first.locator("td.value")).to_have_text("0.9")
    for trial in pruned:
        marked = page.locator(f"table.trials tr[data-trial='{trial.number}']")
        expect(marked.locator(".badge")).to_have_text("pruned")
        expect(marked).to_contain_text("pruned at step")

    best = page.locator("#sweep-best")
    expect(best.locator("tr[data-path='General/lr'] td")).to_have_text("0.9")
    charts = page.locator("#sweep-charts")
    expect(charts).to_have_attribute("data-pruned", str(len(pruned)))
    finished = [t for t in trials if t.status in ("completed", "pruned")]
    expect(page.locator("#objective-chart")).to_have_attribute("data-points", str(len(finished)))
    curves = charts.locator(".chart-box[data-series='val/acc by step, every trial']")
    expect(curves.locator(".u-legend")).to_contain_text(f"trial {pruned[0].number} (pruned)")
    expect(page.locator("#sweep-log")).to_contain_text("pruned")
    shoot(page, "sweep")

    page.locator("#action-clone-best").click()
    expect(page).to_have_url(f"{stack.server.url}/#/clone/{done.best.task_id}")
    expect(page.locator("tr.param-row[data-path='General/lr'] input")).to_have_value("0.9")

    page.goto(f"{stack.server.url}/#/task/{done.best.task_id}?tab=overview")
    link = page.locator("#origin-link")
    expect(link).to_have_text(f"sweep {sweep.id[:8]}, trial {done.best.number}")
    link.click()
    expect(page).to_have_url(f"{stack.server.url}/#/sweep/{sweep.id}")
    expect(page.locator("h1")).to_contain_text("lr grid")


def test_stop_and_resume_from_the_sweep_page_and_the_list_filters_by_status(
    page: Page, stack: Yard
) -> None:
    base = base_task(stack.client, stack.repo, "ui-sweeps-stop", pause=1.0)
    fields = grid_spec(base.id, "default", name="to stop", pruner="none", pruner_options={})
    sweep = stack.client.sweeps.create(SweepCreate.model_validate(fields))

    page.goto(f"{stack.server.url}/#/sweep/{sweep.id}")
    stop = page.locator("#action-stop")
    stop.click()
    expect(stop).to_have_text("Really stop?")
    stop.click()
    expect(page.locator("h1 .badge")).to_have_text("stopped")
    expect(page.locator("#sweep-log li[data-kind=stopped]")).to_contain_text("stopped by")
    assert stack.client.sweeps.get(sweep.id).status is SweepStatus.STOPPED
    page.locator("#action-resume").click()
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.locator("#action-stop")).to_be_visible()

    page.goto(f"{stack.server.url}/#/sweeps?status=running")
    row = page.locator(f"table.sweeps tr[data-id='{sweep.id}']")
    expect(row).to_contain_text("to stop")
    page.locator("select[name=status]").select_option("done")
    expect(row).to_have_count(0)
    assert "status=done" in page.url
    page.reload()  # the filter is in the URL
    expect(page.locator("select[name=status]")).to_have_value("done")
    stack.client.sweeps.stop(sweep.id)
