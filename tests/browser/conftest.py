"""Browser tests: Debian's chromium, headless, driven by Playwright, against a real
server, Redis and agent.

The browser is the system's ``/usr/bin/chromium`` (``scripts/ensure-chromium.sh``
installs it; ``make test`` runs that), never one Playwright downloads. Without it
these tests are skipped on a laptop and fail in CI.
"""

import contextlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from runyard.client import Client
from runyard.models import Environment, Script, Task, TaskCreate
from tests.browser.experiment import make_experiment
from tests.ci import unavailable
from tests.e2e.agent_support import AgentProcess
from tests.gitrepo import Repo
from tests.servers import ServerProcess

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the message below says what to install
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("RUNYARD_SCREENSHOTS", Path(__file__).parent / "screenshots"))

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="package")
def browser() -> Iterator["Browser"]:
    """One headless chromium for the browser tests; closed after them, because Playwright's
    sync API keeps an event loop running that would break the async tests run later."""
    if sync_playwright is None:
        unavailable("playwright is not installed (it is in requirements-dev.txt)")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: "Browser") -> Iterator["Page"]:
    """A fresh browser tab; the test fails on any uncaught script error in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


Shoot = Callable[["Page", str], Path]


@pytest.fixture(scope="session")
def shoot() -> Shoot:
    """Save a full-page screenshot as a test artifact and print where it is."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(tab: "Page", name: str) -> Path:
        path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]', '-', name.lower())}.png"
        tab.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return save


class Stack:
    """A real server and a real agent serving queue ``default``, with an experiment repo."""

    def __init__(self, server: ServerProcess, agent: AgentProcess, experiment: Repo) -> None:
        self.server = server
        self.agent = agent
        self.experiment = experiment
        self.client = Client(server.url)

    def draft(self, project: str, name: str, **fields: Any) -> str:
        """A task made through the API (a draft unless ``queue`` is given) whose entry point
        names no real code: the server queues it, no agent here would run it."""
        fields.setdefault("script", Script(entry_point="train.py"))
        return self.client.tasks.create(TaskCreate(project=project, name=name, **fields)).id

    def submit(
        self,
        project: str,
        name: str,
        *,
        queue: str | None = "default",
        params: dict[str, Any] | None = None,
        args: list[str] | None = None,
    ) -> Task:
        """A task running ``train.py`` of the experiment (enqueued unless ``queue`` is None)."""
        exp = self.experiment
        return self.client.tasks.create(
            TaskCreate(
                project=project,
                name=name,
                queue=queue,
                create_queue=True,
                tags=["ui"],
                script=Script(
                    repository=str(exp.path),
                    commit=exp.commit,
                    diff=exp.diff,
                    entry_point="train.py",
                    args=args or [],
                ),
                environment=Environment(env={"UI_TEST": "1"}),
                params={"General": params or {"lr": 0.1, "epochs": 3, "optimizer": "sgd"}},
            )
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One server and one agent (three slots) for a test module; tests use their own projects."""
    root = tmp_path_factory.mktemp("ui")
    server = ServerProcess(root / "server", [], root / "server.log").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["RUNYARD_SERVER"] = server.url
    argv = ["--name", "ui-agent", "--cache-dir", str(root / "cache"), "--slots", "3"]
    agent = AgentProcess(
        [*argv, "--poll-wait-s", "2", "--abort-grace-s", "3"], env, root / "agent.log"
    )
    try:
        yield Stack(server, agent, make_experiment(root))
    finally:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()
        _kill_tasks_under(root)
        server.stop()


def _kill_tasks_under(root: Path) -> None:
    """Task processes run in their own sessions and outlive a killed agent."""
    for process in psutil.process_iter(["cmdline"]):
        if any(str(root) in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
