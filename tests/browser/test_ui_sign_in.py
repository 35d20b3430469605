"""Signing in to the UI with a user token on a real server: who is signed in, what a
viewer is not offered, signing out, a 401 that keeps the page, and an open loopback
server that needs no sign-in. The token is only ever in the tab's sessionStorage."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, Request, expect

from runyard.client import Client
from runyard.models import Script, TaskCreate
from tests.browser.conftest import Shoot
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

BOOT = "ui-sign-in-boot-secret"
KEY = "runyard.token"
WRITE_CONTROLS = ["#action-clone", "#action-enqueue", "#action-edit", "#action-delete"]


@dataclass
class Protected:
    """A server that needs a token, a member and a viewer, a draft and a queued task."""

    server: ServerProcess
    member: str
    viewer: str
    draft: str
    queued: str


def add_user(server: ServerProcess, name: str, role: str) -> str:
    """A user added with ``runyard-server admin`` to the running server's store; its token."""
    admin = [sys.executable, "-m", "runyard_server", "admin", "--data-dir", str(server.data_dir)]
    done = subprocess.run(
        [*admin, "user", "add", name, "--role", role], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Protected]:
    root = tmp_path_factory.mktemp("sign-in")
    server = ServerProcess(root / "data", ["--token", f"user:{BOOT}"], root / "server.log").start()
    try:
        member, viewer = add_user(server, "mia", "member"), add_user(server, "vic", "viewer")
        with Client(server.url, BOOT) as boot:
            code = Script(entry_point="train.py")
            draft = boot.tasks.create(TaskCreate(project="signin", name="a-draft", script=code))
            queued = boot.tasks.create(
                TaskCreate(
                    project="signin", name="waiting", queue="sq", create_queue=True, script=code
                )
            )
        yield Protected(server, member, viewer, draft.id, queued.id)
    finally:
        server.stop()


def sign_in(page: Page, token: str) -> None:
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    form.locator("input[name=token]").fill(token)
    form.get_by_role("button", name="Sign in").click()
    expect(form).to_have_count(0)


def stored(page: Page) -> tuple[str | None, str | None, list[object]]:
    """The token in sessionStorage, in localStorage, and the tab's cookies."""
    return (
        page.evaluate(f"sessionStorage.getItem('{KEY}')"),
        page.evaluate(f"localStorage.getItem('{KEY}')"),
        list(page.context.cookies()),
    )


def test_a_member_signs_in_sees_who_and_signing_out_clears_the_tab(
    page: Page, protected: Protected, shoot: Shoot
) -> None:
    urls: list[str] = []

    def keep(request: Request) -> None:
        urls.append(request.url)

    page.on("request", keep)
    where = f"{protected.server.url}/#/task/{protected.draft}"
    page.goto(where)
    sign_in(page, protected.member)
    expect(page.locator("#who")).to_have_text("mia · member")
    expect(page.locator("#sign-out")).to_be_visible()
    expect(page.locator("#sign-in")).to_be_hidden()
    for control in WRITE_CONTROLS:
        expect(page.locator(control)).to_be_visible()
    assert page.url == where  # the sign-in kept the page it was asked on
    shoot(page, "signed-in-member")
    assert stored(page) == (protected.member, None, [])

    # A token that stops working (revoked) sends the user to sign in where they are.
    with Client(protected.server.url, protected.member) as mia:
        laptop = mia.tokens.create("laptop").token
        page.click("#sign-out")
        sign_in(page, laptop)
        expect(page.locator("#who")).to_have_text("mia · member")
        mine = next(t for t in mia.tokens.list() if t.name == "laptop")
        mia.tokens.revoke(mine.id)
    queued = f"{protected.server.url}/#/task/{protected.queued}"
    page.goto(queued)
    expect(page.locator("#login-form")).to_contain_text("That token was refused")
    sign_in(page, protected.member)
    expect(page.locator("#action-dequeue")).to_be_visible()
    assert page.url.startswith(queued)  # the page adds its tab

    page.click("#sign-out")
    expect(page.locator("#login-form")).to_be_visible()
    assert stored(page) == (None, None, [])
    secrets = (protected.member, laptop)
    assert [u for u in urls if any(s in u for s in secrets) or "token=" in u] == []


def test_a_viewer_is_not_offered_what_would_change_something(
    page: Page, protected: Protected, shoot: Shoot
) -> None:
    page.goto(f"{protected.server.url}/#/task/{protected.draft}")
    sign_in(page, protected.viewer)
    expect(page.locator("#who")).to_have_text("vic · viewer")
    expect(page.locator("h1")).to_contain_text("a-draft")  # the page itself is there
    for control in WRITE_CONTROLS:
        expect(page.locator(control)).to_be_hidden()
    shoot(page, "viewer-task")

    page.goto(f"{protected.server.url}/#/task/{protected.queued}")
    expect(page.locator("h1")).to_contain_text("waiting")
    for control in ["#action-abort", "#action-dequeue"]:
        expect(page.locator(control)).to_be_hidden()

    page.goto(f"{protected.server.url}/#/queues/sq")
    expect(page.locator("#queue-entries")).to_contain_text("waiting")
    expect(page.locator(".limits-form")).to_be_hidden()
    expect(page.locator("#queue-entries .row-actions")).to_be_hidden()
    expect(page.locator("#queue-entries").get_by_role("button")).to_have_count(0, timeout=1)
    shoot(page, "viewer-queue")

    page.goto(f"{protected.server.url}/#/tasks?project=signin")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(2)
    rows.first.locator("input[type=checkbox]").check()
    expect(page.locator("#bulk-compare")).to_be_visible()
    for control in ["#bulk-abort", "#bulk-enqueue", "#bulk-dequeue", "#bulk-tag", "#bulk-delete"]:
        expect(page.locator(control)).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{KEY}')") == protected.viewer


def test_an_open_loopback_server_needs_no_sign_in(
    page: Page, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()
    with Client(server.url) as client:
        task = client.tasks.create(
            TaskCreate(project="open", name="no-token-run", script=Script(entry_point="t.py"))
        )
    page.goto(f"{server.url}/#/task/{task.id}")
    expect(page.locator("h1")).to_contain_text("no-token-run")
    expect(page.locator("#who")).to_have_text("open server")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-out")).to_be_hidden()
    expect(page.locator("#login-form")).to_have_count(0)
    for control in WRITE_CONTROLS:
        expect(page.locator(control)).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{KEY}')") is None

    # A stored token still names its user there: signed in as a viewer, the page says so.
    olive = add_user(server, "olive", "viewer")
    page.click("#sign-in")
    sign_in(page, olive)
    expect(page.locator("#who")).to_have_text("olive · viewer")
    expect(page.locator("#action-clone")).to_be_hidden()
    page.click("#sign-out")
    expect(page.locator("#who")).to_have_text("open server")
    expect(page.locator("#action-clone")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{KEY}')") is None
