"""The schedules and webhooks pages in a real browser against a real server: next run
times in the schedule's own time zone, a fast schedule's runs appearing as they happen,
pause, resume and delete (a confirm that survives the page's redraws), a webhook's
deliveries to a real receiver on loopback that fails once, with status and attempts;
and what a viewer is not offered on these pages and the pipeline pages."""

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from runyard.client import Client
from runyard.models import (
    PipelineCreate,
    ScheduleCreate,
    Script,
    StepSpec,
    TaskCreate,
    TriggerCreate,
    WebhookCreate,
)
from tests.browser.conftest import Shoot
from tests.browser.test_ui_sign_in import add_user, sign_in
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

BOOT = "ui-automation-boot-secret"


def a_draft(server: ServerProcess, name: str) -> str:
    """A task to clone: a draft whose entry point no agent here will ever run, and the
    queue ``nowhere`` (no agent serves it) for the clones."""
    with Client(server.url) as client:
        client.queues.create("nowhere")
        task = client.tasks.create(
            TaskCreate(project="auto", name=name, script=Script(entry_point="train.py"))
        )
    return task.id


def test_schedules_show_next_runs_in_their_zone_and_pause_resume_delete(
    page: Page, server_factory: Callable[..., ServerProcess], shoot: Shoot
) -> None:
    server = server_factory()
    base = a_draft(server, "nightly-base")
    with Client(server.url) as client:
        nightly = client.schedules.create(
            ScheduleCreate(
                task=base, queue="nowhere", cron="0 3 * * *", tz="Asia/Tokyo", name="nightly"
            )
        )
        fast = client.schedules.create(
            ScheduleCreate(task=base, queue="nowhere", cron="* * * * * *", name="every-second")
        )
        # A pipeline on the same cron: its runs' steps wait on a queue no agent serves.
        steps = [StepSpec(name="only", script=Script(entry_point="train.py"))]
        watched = client.pipelines.create(
            PipelineCreate(name="piped", project="auto", queue="nowhere", steps=steps)
        )
        piped = client.schedules.create(
            ScheduleCreate(pipeline=watched.id, cron="* * * * * *", name="pipeline-each-second")
        )
        trigger = client.triggers.create(
            TriggerCreate(task=base, queue="nowhere", watch_project="auto", statuses=["failed"],
                          metric="val/acc", op="<", threshold=0.5, name="retrain")
        )  # fmt: skip
    page.goto(f"{server.url}/#/schedules")
    expect(page.locator("#nav a[data-section=schedules]")).to_have_class("active")
    fires = page.locator(f"tr[data-trigger='{trigger.id}']")
    expect(fires).to_contain_text("failed · project auto")
    expect(fires).to_contain_text("when val/acc < 0.5")
    fires.locator("button[data-action=pause]").click()
    expect(fires.locator(".badge")).to_have_text("paused")
    row = page.locator(f"tr[data-schedule='{nightly.id}']")
    expect(row.locator("code.cron")).to_have_text("0 3 * * *")
    expect(row.locator(".tz")).to_have_text("Asia/Tokyo")
    # 03:00 in Tokyo, whatever zone the browser is in.
    times = row.locator(".next-runs time")
    expect(times.first).to_contain_text("03:00:00")
    assert times.count() >= 1

    # The every-second schedule starts runs while the page is open: the page follows.
    quick = page.locator(f"tr[data-schedule='{fast.id}']")
    expect(quick.locator("td").nth(4).locator("a.task-link")).to_have_count(1, timeout=20_000)
    shoot(page, "schedules")
    # A schedule that runs a pipeline links to the pipeline, and its last run to that run.
    runs_pipeline = page.locator(f"tr[data-schedule='{piped.id}']")
    target = runs_pipeline.locator("a.pipeline-target")
    expect(target).to_have_text("pipeline piped")
    expect(target).to_have_attribute("href", f"#/pipelines?pipeline={watched.id}")
    last_run = runs_pipeline.locator("a.run-link")
    expect(last_run).to_have_count(1, timeout=20_000)
    runs_pipeline.locator("button[data-action=pause]").click()
    expect(runs_pipeline.locator(".badge")).to_have_text("paused")
    last_run.click()
    expect(page.locator(".dag g[data-step=only]")).to_have_attribute("data-status", "queued")
    expect(page.locator(".crumbs")).to_contain_text("piped")
    page.go_back()

    row.locator("button[data-action=pause]").click()
    expect(row.locator(".badge")).to_have_text("paused")
    expect(row.locator(".next-runs")).to_have_count(0)
    row.locator("button[data-action=resume]").click()
    expect(row.locator(".badge")).to_have_text("active")
    expect(row.locator(".next-runs time").first).to_contain_text("03:00:00")

    # Delete asks twice; the fast schedule changes every second, yet the page does not
    # redraw the armed button away before the second click.
    delete = page.locator(f"#delete-{fast.id}")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    page.wait_for_timeout(3200)
    delete.click()
    expect(quick).to_have_count(0)
    expect(row).to_have_count(1)
    assert fast.id not in {s.id for s in Client(server.url).schedules.list()}


class Receiver:
    """A webhook receiver on loopback that answers 500 to the first POST, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(500 if len(receiver.bodies) == 1 else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.http.shutdown()


def test_webhook_page_lists_deliveries_with_status_and_attempts(
    page: Page,
    server_factory: Callable[..., ServerProcess],
    receiver: Receiver,
    shoot: Shoot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNYARD_WEBHOOK_RETRY_S", "0.5")  # the first retry in a second, not 10 s
    server = server_factory("--webhook-allow-private")
    with Client(server.url) as client:
        hook = client.webhooks.create(WebhookCreate(url=receiver.url, events=["task.aborted"]))
        task = client.tasks.create(
            TaskCreate(
                project="auto",
                name="to-abort",
                queue="elsewhere",
                create_queue=True,
                script=Script(entry_point="train.py"),
            )
        )
        client.tasks.abort(task.id)
    page.goto(f"{server.url}/#/webhooks")
    expect(page.locator("#nav a[data-section=webhooks]")).to_have_class("active")
    row = page.locator(f"tr[data-webhook='{hook.id}']")
    expect(row).to_contain_text(receiver.url)
    expect(row.locator(".tag")).to_have_text(["task.aborted"])
    row.locator("a.webhook-url").click()
    expect(page).to_have_url(f"{server.url}/#/webhooks/{hook.id}")
    delivery = page.locator("table.deliveries tbody tr")
    # Refused once (500), delivered on the retry: one row, two attempts.
    expect(delivery.locator(".badge")).to_have_text("delivered", timeout=60_000)
    expect(delivery).to_have_count(1)
    expect(delivery.locator("td.attempts")).to_have_text("2")
    expect(delivery).to_contain_text("task.aborted")
    expect(delivery).to_contain_text("200")
    event_ids = {body["id"] for body in receiver.bodies}
    assert len(receiver.bodies) == 2 and len(event_ids) == 1
    shoot(page, "webhook-deliveries")

    # Reloaded, the selected webhook is still the one shown.
    page.reload()
    expect(page.locator("table.deliveries tbody tr")).to_have_count(1)
    page.locator(f"#delete-{hook.id}").click()
    page.locator(f"#delete-{hook.id}").click()
    expect(page).to_have_url(f"{server.url}/#/webhooks")
    expect(page.locator("#webhooks")).to_contain_text("No webhooks")


def test_a_viewer_sees_pipelines_and_schedules_but_no_control_that_changes_them(
    page: Page, server_factory: Callable[..., ServerProcess], shoot: Shoot
) -> None:
    server = server_factory("--token", f"user:{BOOT}")
    viewer = add_user(server, "vic", "viewer")
    with Client(server.url, BOOT) as boot:
        boot.queues.create("nowhere")
        code = Script(entry_point="train.py")
        base = boot.tasks.create(TaskCreate(project="auto", name="base", script=code)).id
        # No agent serves the queue: the run stays running, its first step queued.
        spec = PipelineCreate(
            name="watched",
            project="auto",
            queue="nowhere",
            steps=[StepSpec(name="only", script=code)],
        )
        run = boot.pipelines.run(boot.pipelines.create(spec).id)
        boot.schedules.create(ScheduleCreate(task=base, queue="nowhere", cron="0 3 * * *"))
    page.goto(f"{server.url}/#/pipeline-run/{run.id}")
    sign_in(page, viewer)
    expect(page.locator("#who")).to_have_text("vic · viewer")
    expect(page.locator(".dag g[data-step=only]")).to_have_attribute("data-status", "queued")
    expect(page.locator("h1 .badge")).to_have_text("running")
    for control in ["#action-abort", "#action-rerun"]:
        expect(page.locator(control)).to_be_hidden()
    shoot(page, "viewer-pipeline-run")

    page.goto(f"{server.url}/#/pipelines")
    expect(page.locator("table.pipeline-defs tbody tr")).to_have_count(1)
    expect(page.locator("table.pipeline-defs").get_by_role("button", name="Run")).to_be_hidden()

    page.goto(f"{server.url}/#/schedules")
    row = page.locator("table.schedules tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".next-runs time").first).to_be_visible()
    expect(row.get_by_role("button")).to_have_count(0, timeout=1)
