"""Every asset of the UI comes from the server itself, and a token-protected server asks for one."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from playwright.sync_api import Page, Request, expect

from runyard.client import Client
from runyard.models import MetricBatch, MetricPoint, TaskCreate
from runyard_server.web import STATIC_DIR
from tests.browser.conftest import Shoot
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

# An absolute or protocol-relative URL; the SVG namespace names a vocabulary and
# is never fetched.
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9][A-Za-z0-9.-]*(?::\d+)?/?")
NAMESPACES = {"http://www.w3.org/2000/svg"}
PAGES = [
    "#/tasks",
    "#/projects",
    "#/queues",
    "#/workers",
    "#/compare",
    "#/pipelines",
    "#/schedules",
    "#/webhooks",
    "#/sweeps",
]


def test_no_served_file_references_an_external_url(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    paths = ["/"] + [
        f"/static/{p.relative_to(STATIC_DIR).as_posix()}"
        for p in STATIC_DIR.rglob("*")
        if p.is_file()
    ]
    assert len(paths) > 10
    for path in paths:
        response = requests.get(server.url + path, timeout=10)
        assert response.status_code == 200, path
        found = [m for m in EXTERNAL.findall(response.text) if m.rstrip("/") not in NAMESPACES]
        found = [m for m in found if not any(ns.startswith(m) for ns in NAMESPACES)]
        assert not found, f"{path} references {found}"


def test_pages_load_nothing_from_other_hosts(
    page: Page, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()
    task = Client(server.url).tasks.create(TaskCreate(name="local-only"))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    other = Client(server.url).tasks.create(TaskCreate(name="other-local"))
    for tid in (task.id, other.id):  # so compare and the metrics tab load the chart library
        Client(server.url).metrics.append(
            tid, MetricBatch(points=[MetricPoint(series="loss", value=1.0, ts=0.0)])
        )
    compare = f"#/compare?ids={task.id},{other.id}"
    fragments = [*PAGES, compare, f"#/task/{task.id}?tab=metrics", f"#/draft/{task.id}"]
    for fragment in [*fragments, f"#/task/{task.id}", f"#/clone/{task.id}"]:
        page.goto(f"{server.url}/{fragment}")
        page.wait_for_load_state("networkidle")
    hosts = {urlparse(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {f"127.0.0.1:{server.port}"}


def test_token_form_appears_on_401_and_the_token_is_sent_as_bearer(
    page: Page, server_factory: Callable[..., ServerProcess], shoot: Shoot
) -> None:
    server = server_factory("--token", "user:ui-user-secret")
    with Client(server.url, token="ui-user-secret") as client:
        client.tasks.create(TaskCreate(project="secured", name="behind-a-token"))
    authorizations: list[str | None] = []

    def remember(request: Request) -> None:
        if "/api/v1/tasks" in request.url:
            authorizations.append(request.headers.get("authorization"))

    page.on("request", remember)
    page.goto(f"{server.url}/#/tasks")
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    shoot(page, "login")
    form.locator("input[name=token]").fill("wrong-token-123")
    form.get_by_role("button", name="Sign in").click()
    expect(form).to_contain_text("That token was refused")
    form.locator("input[name=token]").fill("ui-user-secret")
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("table.tasks")).to_contain_text("behind-a-token")
    assert authorizations[-1] == "Bearer ui-user-secret"
    page.reload()
    expect(page.locator("table.tasks")).to_contain_text("behind-a-token")
    page.click("#sign-out")
    expect(page.locator("#login-form")).to_be_visible()


def test_vendored_uplot_is_the_version_package_json_pins() -> None:
    """scripts/vendor-uplot.sh copies what ``npm ci`` installs; the two must not drift."""
    pinned = json.loads((Path(__file__).parents[2] / "package.json").read_text())["devDependencies"]
    vendored = STATIC_DIR / "vendor" / "uplot"
    assert f"(v{pinned['uplot']})" in (vendored / "uPlot.iife.min.js").read_text()[:80]
    assert "MIT" in (vendored / "LICENSE").read_text()
