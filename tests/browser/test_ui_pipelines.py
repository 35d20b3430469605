"""The pipeline pages in a real browser against a real server and agent: a diamond
pipeline's DAG drawn with each step's live status and a link to its task, a rerun whose
unchanged steps are marked as cache hits, the task page's link back to its run, and
aborting a run from its page."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from runyard.models import Environment, PipelineCreate, PipelineRun, Script, StepSpec, StepState
from tests.browser.conftest import Shoot, Stack

pytestmark = pytest.mark.e2e

CACHED = re.compile(r"\bcached\b")
DIAMOND = ["prepare", "train_a", "train_b", "evaluate"]
EDGES = {
    ("prepare", "train_a"),
    ("prepare", "train_b"),
    ("train_a", "evaluate"),
    ("train_b", "evaluate"),
}


def diamond(stack: Stack, name: str, gate: Path | None = None) -> PipelineCreate:
    """prepare → train_a, train_b → evaluate, each the experiment's train.py; train_b's
    learning rate is the pipeline parameter ``lr_b``, evaluate's is train_b's final
    val/acc (so a changed ``lr_b`` changes both). With ``gate``, train_a waits for that
    file before it ends."""
    exp = stack.experiment

    def step(
        step_name: str, parents: list[str], params: dict[str, Any], args: list[str]
    ) -> StepSpec:
        code = Script(
            repository=str(exp.path),
            commit=exp.commit,
            diff=exp.diff,
            entry_point="train.py",
            args=args,
        )
        return StepSpec(
            name=step_name,
            script=code,
            environment=Environment(env={"UI_TEST": "1"}),
            parents=parents,
            params=params,
        )

    gated = ["--gate", str(gate)] if gate else []
    return PipelineCreate(
        name=name,
        project="pipes",
        params={"lr_b": 0.2},
        steps=[
            step("prepare", [], {"General/epochs": 1}, []),
            step("train_a", ["prepare"], {"General/lr": 0.1}, gated),
            step("train_b", ["prepare"], {"General/lr": "${params.lr_b}"}, []),
            step(
                "evaluate", ["train_a", "train_b"], {"General/lr": "${train_b.metrics.val/acc}"}, []
            ),
        ],
    )


def start(stack: Stack, spec: PipelineCreate) -> PipelineRun:
    """The pipeline stored and one run of it started, through the SDK."""
    if "default" not in {q.name for q in stack.client.queues.list()}:  # the agent may not be up yet
        stack.client.queues.create("default")
    return stack.client.pipelines.run(stack.client.pipelines.create(spec).id)


def steps_of(stack: Stack, run: PipelineRun) -> dict[str, StepState]:
    return {s.name: s for s in stack.client.pipelines.get_run(run.id).steps}


def node(page: Page, step: str) -> Locator:
    return page.locator(f".dag g[data-step={step}]")


def left(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "not drawn"
    return box["x"]


def test_a_diamond_run_draws_its_dag_live_and_marks_cache_hits(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    run = start(stack, diamond(stack, "diamond"))
    page.goto(f"{stack.server.url}/#/pipeline-run/{run.id}")
    expect(page.locator("#nav a[data-section=pipelines]")).to_have_class("active")
    expect(page.locator("h1")).to_contain_text("diamond")
    expect(page.locator(".dag g[data-step]")).to_have_count(4)
    drawn = {
        (p.get_attribute("data-from"), p.get_attribute("data-to"))
        for p in page.locator(".dag path.dag-edge").all()
    }
    assert drawn == EDGES
    # prepare sits left of both trains, which sit left of evaluate: laid out by depth.
    x = {s: left(node(page, s)) for s in DIAMOND}
    assert x["prepare"] < x["train_a"] == x["train_b"] < x["evaluate"]
    # Live: the page follows the run to its end without a reload, and a step's params
    # opened meanwhile stay open through its redraws.
    fold = page.locator("table.pipeline-steps tr[data-step=prepare] details.step-params")
    fold.locator("summary").click()
    expect(page.locator("h1 .badge")).to_have_text("completed", timeout=240_000)
    expect(fold).to_have_attribute("open", "")
    expect(fold).to_contain_text("General/epochs")
    for s in DIAMOND:
        expect(node(page, s)).to_have_attribute("data-status", "completed")
    steps = steps_of(stack, run)
    link = node(page, "train_b").locator("a")
    expect(link).to_have_attribute("href", f"#/task/{steps['train_b'].task}")
    shoot(page, "pipeline-run")

    # Rerun from the page with train_b's parameter changed: prepare and train_a are reused
    # from the first run (the page says which task each reused); train_b and evaluate run.
    page.locator("#action-rerun").click()
    form = page.locator("#rerun-form")
    expect(form.locator("input[name=lr_b]")).to_have_value("0.2")
    form.locator("input[name=lr_b]").fill("0.3")
    shoot(page, "pipeline-rerun-form")
    form.get_by_role("button", name="Rerun").click()
    expect(page).not_to_have_url(f"{stack.server.url}/#/pipeline-run/{run.id}")
    again = stack.client.pipelines.get_run(page.url.rsplit("/", 1)[1])
    assert again.cloned_from == run.id and again.params == {"lr_b": 0.3}
    expect(page.locator("h1 .badge")).to_have_text("completed", timeout=240_000)
    for s in ("prepare", "train_a"):
        expect(node(page, s)).to_have_class(CACHED)
        expect(node(page, s)).to_contain_text(f"cached from {str(steps[s].task)[:8]}")
        row = page.locator(f"table.pipeline-steps tr[data-step={s}]")
        expect(row.locator(".cached-from a")).to_have_attribute("href", f"#/task/{steps[s].task}")
    for s in ("train_b", "evaluate"):
        expect(node(page, s)).not_to_have_class(CACHED)
        expect(node(page, s)).to_have_attribute("data-status", "completed")
    expect(page.locator(".card h2", has_text="Steps —")).to_contain_text("4 of 4 done, 2 cached")
    # evaluate's lr was ${train_b.metrics.val/acc}: the page shows the value it resolved to.
    resolved = page.locator("table.pipeline-steps tr[data-step=evaluate] details.step-params")
    resolved.locator("summary").click()
    acc = steps_of(stack, again)["evaluate"].params["General/lr"]
    assert isinstance(acc, float)
    expect(resolved.locator("tr", has_text="General/lr")).to_contain_text(str(acc))
    shoot(page, "pipeline-rerun-cached")

    # A step's task page links back to its run; the list shows both runs.
    rerun_b = steps_of(stack, again)["train_b"]
    node(page, "train_b").locator("a").click()
    expect(page).to_have_url(f"{stack.server.url}/#/task/{rerun_b.task}")
    origin = page.locator("#pipeline-origin")
    expect(origin).to_have_text(f"step train_b of pipeline run {again.id[:8]}")
    origin.click()
    expect(page.locator(".dag g[data-step]")).to_have_count(4)
    page.locator("#nav a[data-section=pipelines]").click()
    expect(page.locator("table.pipeline-runs tbody tr")).to_have_count(2)
    expect(page.locator(f"tr[data-run='{again.id}']")).to_contain_text("4 of 4 done, 2 cached")
    shoot(page, "pipelines")

    # Picking a definition shows its runs only (the pick is in the URL); Run starts one
    # with the defaults, which the first run already computed: every step a cache hit.
    page.locator("table.pipeline-defs button.pick", has_text="diamond").first.click()
    expect(page.locator("#pipeline-runs h2")).to_have_text("Runs of diamond")
    assert "pipeline=" in page.url
    expect(page.locator("table.pipeline-runs tbody tr")).to_have_count(2)
    page.locator("table.pipeline-defs tr.selected").get_by_role("button", name="Run").click()
    expect(page.locator(".card h2", has_text="Steps —")).to_contain_text("4 of 4 done, 4 cached")
    expect(page.locator("h1 .badge")).to_have_text("completed")


def test_aborting_a_run_from_its_page_stops_its_steps(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    gate = tmp_path / "never"
    run = start(stack, diamond(stack, "held", gate=gate))
    page.goto(f"{stack.server.url}/#/pipeline-run/{run.id}")
    expect(node(page, "train_a")).to_have_attribute("data-status", "running", timeout=240_000)
    abort = page.locator("#action-abort")
    abort.click()
    expect(abort).to_have_text("Really abort?")
    # The page polls every 1.5 s: the armed button survives the redraws until clicked.
    page.wait_for_timeout(2000)
    abort.click()
    expect(page.locator("h1 .badge")).to_have_text("aborted", timeout=60_000)
    expect(page.locator("#action-abort")).to_have_count(0)
    expect(node(page, "evaluate")).to_have_attribute("data-status", "skipped", timeout=60_000)
    expect(node(page, "train_a")).to_have_attribute("data-status", "aborted", timeout=60_000)


def test_a_failed_step_shows_its_attempts_and_why_the_run_failed(
    page: Page, stack: Stack, shoot: Shoot
) -> None:
    exp = stack.experiment
    broken = Script(repository=str(exp.path), commit=exp.commit, entry_point="missing.py")
    spec = PipelineCreate(
        name="broken",
        project="pipes",
        steps=[
            StepSpec(name="fragile", script=broken, retries=1),
            StepSpec(name="after", script=broken, parents=["fragile"]),
        ],
    )
    run = start(stack, spec)
    page.goto(f"{stack.server.url}/#/pipeline-run/{run.id}")
    expect(page.locator("h1 .badge")).to_have_text("failed", timeout=120_000)
    expect(page.locator("#run-reason")).to_contain_text("fragile")
    expect(node(page, "fragile")).to_have_attribute("data-status", "failed")
    expect(node(page, "fragile")).to_contain_text("failed · attempt 2")
    expect(node(page, "after")).to_have_attribute("data-status", "skipped")
    tasks = steps_of(stack, run)["fragile"].tasks
    row = page.locator("table.pipeline-steps tr[data-step=fragile]")
    expect(row.locator("a.task-link")).to_have_count(2)  # the last attempt, and the earlier
    expect(row.locator("a.task-link").first).to_have_attribute("href", f"#/task/{tasks[-1]}")
    expect(page.locator("#action-abort")).to_have_count(0)
    shoot(page, "pipeline-failed")
