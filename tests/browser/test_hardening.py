"""The hardened web surface in a real browser: no token in any URL the UI requests, the
live console on single-task stream tickets, and no page (nor the API docs) tripping
the Content-Security-Policy."""

import time
from collections.abc import Callable

import pytest
import requests
from playwright.sync_api import ConsoleMessage, Page, expect

from runyard.client import Client
from runyard.models import Script, TaskCreate
from tests.browser.conftest import Shoot
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

USER, AGENT = "ui-user-ticket-secret", "ui-agent-ticket-secret"
CSP_REFUSAL = "Content Security Policy"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class RunningTask:
    """A task claimed over the agent API, so the test decides when lines come and when it ends."""

    def __init__(self, api: str) -> None:
        self.api = api
        body = {
            "name": "ticketed",
            "queue": "tq",
            "create_queue": True,
            "script": {"entry_point": "train.py"},
        }
        self.id = requests.post(f"{api}/tasks", json=body, headers=bearer(USER), timeout=10).json()[
            "id"
        ]
        worker = {"name": "w", "queues": ["tq"], "resources": {}}
        worker_id = requests.post(
            f"{api}/workers", json=worker, headers=bearer(AGENT), timeout=10
        ).json()["id"]
        claim = requests.post(
            f"{api}/workers/{worker_id}/claim",
            json={"queues": ["tq"], "free": {}},
            headers=bearer(AGENT),
            timeout=30,
        ).json()
        assert claim["task"]["id"] == self.id
        self.lease = claim["lease_token"]
        self.report("started")
        self.seq = 0

    def report(self, what: str) -> None:
        url = f"{self.api}/tasks/{self.id}/{what}"
        body = {"lease_token": self.lease}
        assert requests.post(url, json=body, headers=bearer(AGENT), timeout=10).ok

    def say(self, text: str) -> None:
        batch = {"seq": self.seq, "lines": [{"text": text, "ts": time.time()}]}
        self.seq += 1
        url = f"{self.api}/tasks/{self.id}/logs"
        assert requests.post(url, json=batch, headers=bearer(USER), timeout=10).ok


def test_the_console_goes_live_on_tickets_and_no_url_carries_the_token(
    page: Page, server_factory: Callable[..., ServerProcess], shoot: Shoot
) -> None:
    server = server_factory("--token", f"user:{USER}", "--token", f"agent:{AGENT}")
    task = RunningTask(server.api)
    task.say("before the page")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{server.url}/#/task/{task.id}")
    form = page.locator("#login-form")
    form.locator("input[name=token]").fill(USER)
    form.get_by_role("button", name="Sign in").click()
    console = page.locator("#console")
    expect(console).to_contain_text("before the page")
    expect(page.locator(".live-state")).to_have_text("● live")
    task.say("after the page")
    expect(console).to_contain_text("after the page")
    shoot(page, "console-on-a-ticket")
    # The server ends each stream response after 15 s: the next one needs a new ticket.
    time.sleep(16)
    task.say("after a reconnection")
    expect(console).to_contain_text("after a reconnection")
    task.report("completed")
    expect(console).to_contain_text("the task is completed")

    streams = [u for u in urls if "/logs/stream?" in u]
    assert streams and all("ticket=rystream." in u for u in streams), streams
    assert len({u for u in streams}) >= 2, "the reconnection reused its ticket"
    assert [u for u in urls if USER in u or "token=" in u] == []
    # The token lives as long as the tab.
    assert page.evaluate("sessionStorage.getItem('runyard.token')") == USER
    assert page.evaluate("localStorage.getItem('runyard.token')") is None


# Each refusal as the page sees it: a `securitypolicyviolation` event, kept in the page
# (Playwright's init scripts are not subject to the policy).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_no_page_nor_the_api_docs_trips_the_content_security_policy(
    page: Page, server_factory: Callable[..., ServerProcess], shoot: Shoot
) -> None:
    server = server_factory()
    client = Client(server.url)
    tasks = [
        client.tasks.create(
            TaskCreate(
                name=f"csp-{i}", queue="cq", create_queue=True, script=Script(entry_point="t.py")
            )
        )
        for i in range(2)
    ]
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if CSP_REFUSAL in message.text:
            messages.append(message.text)

    page.on("console", keep)
    page.add_init_script(RECORD_VIOLATIONS)
    first = tasks[0].id
    pages = ["#/tasks", "#/queues", "#/workers", f"#/compare?ids={first},{tasks[1].id}"]
    violations = {}
    for fragment in [*pages, f"#/task/{first}", f"#/clone/{first}"]:
        page.goto(f"{server.url}/{fragment}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(200)  # the events are queued as tasks
        violations[fragment] = page.evaluate("window.__csp.splice(0)")
    page.goto(f"{server.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info")).to_contain_text("Runyard")
    page.locator(".opblock-summary").first.click()  # an operation opened renders more parts
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)
    violations["docs"] = page.evaluate("window.__csp.splice(0)")
    shoot(page, "api-docs")
    assert {where: seen for where, seen in violations.items() if seen} == {}
    assert messages == []

    # Both listeners do see a refusal: a style attribute is one the policy forbids.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__csp.length") == 1
    assert messages != []
