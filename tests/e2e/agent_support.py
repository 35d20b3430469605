"""Real ``runyard-agent`` processes, a real git repository of task scripts, and waiting helpers."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from runyard.client import Client
from runyard.models import Environment, Resources, Script, Task, TaskCreate, TaskStatus
from tests.gitrepo import Repo, commit_then_change

AGENT = str(Path(sys.executable).parent / "runyard-agent")
DONE = tuple(status for status in TaskStatus if status.is_final)
"""The statuses a task ends in."""

TRAIN = """\
import os, sys, time
print("task", os.environ["RUNYARD_TASK_ID"], "args", sys.argv[1:])
print("CUDA_VISIBLE_DEVICES=" + repr(os.environ["CUDA_VISIBLE_DEVICES"]))
print("FOO=" + os.environ.get("FOO", "-"), "token=" + os.environ.get("RUNYARD_TOKEN", "-"))
for i in range(4):
    print(f"\\rprogress {i * 25}%", end="", flush=True)
    time.sleep(0.1)
print()
import six
print("six", six.__version__)
"""

FAIL = """\
for i in range(30):
    print("loss", i)
raise SystemExit(3)
"""

# Runs until stopped; on SIGTERM writes a checkpoint file (argv[1]) and exits.
LONG = """\
import os, pathlib, signal, sys, time
step = 0
pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
def stop(signum, frame):
    pathlib.Path(sys.argv[1]).write_text(f"checkpoint at step {step}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    step += 1
    print("step", step, flush=True)
    time.sleep(0.2)
"""

# Sleeps argv[1] seconds, writing its pid to argv[2] first.
SLEEPY = """\
import os, pathlib, sys, time
pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
print("sleeping", sys.argv[1], flush=True)
time.sleep(float(sys.argv[1]))
print("woke up", flush=True)
"""


def make_repo(root: Path) -> Repo:
    """A real git repo: the scripts committed, then an uncommitted change to train.py."""
    path = root / "repo"
    path.mkdir()
    files = {
        "train.py": TRAIN,
        "fail.py": FAIL,
        "long.py": LONG,
        "sub/sleepy.py": SLEEPY,
    }
    return commit_then_change(path, files, "train.py", 'print("uncommitted change applied")\n')


def submit(
    client: Client,
    repo: Repo,
    entry_point: str = "train.py",
    *,
    args: list[str] | None = None,
    requirements: list[str] | None = None,
    gpus: float = 0,
    queue: str = "default",
    name: str = "e2e",
    max_retries: int = 1,
) -> Task:
    """Create and enqueue a task that runs ``entry_point`` from ``repo``'s commit plus diff."""
    return client.tasks.create(
        TaskCreate(
            name=name,
            queue=queue,
            create_queue=True,
            max_retries=max_retries,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point=entry_point,
                args=args or [],
            ),
            environment=Environment(
                requirements=["six==1.16.0"] if requirements is None else requirements,
                env={"FOO": "bar"},
            ),
            resources=Resources(gpus=gpus),
        )
    )


def wait_status(client: Client, task_id: str, *statuses: TaskStatus, timeout: float = 60.0) -> Task:
    """Poll until the task reaches one of ``statuses``; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    task = client.tasks.get(task_id)
    while task.status not in statuses:
        if time.monotonic() > deadline:
            pytest.fail(f"task {task_id} is {task.status} after {timeout}s, wanted {statuses}")
        time.sleep(0.1)
        task = client.tasks.get(task_id)
    return task


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.05)


def pid_in(path: Path) -> int:
    """The pid a task script wrote to ``path``, once it has."""
    wait_for(lambda: path.exists() and path.read_text().isdigit(), 60, f"{path} to hold a pid")
    return int(path.read_text())


def gone(pid: int) -> bool:
    """True once the process ``pid`` ended (a zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def log_texts(client: Client, task_id: str) -> list[str]:
    """Every log line of the task, in order."""
    texts: list[str] = []
    cursor: str | None = None
    while True:
        page = client.logs.read(task_id, after=cursor)
        texts.extend(line.text for line in page.lines)
        if not page.lines:
            return texts
        cursor = page.cursor


class AgentProcess:
    """One ``runyard-agent`` child, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [AGENT, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        wait_for(lambda: text in self.log, timeout, f"{text!r} in the agent log:\n{self.log}")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


AgentFactory = Callable[..., AgentProcess]


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[AgentFactory]:
    """Start real agents against a server; all killed after the test, with their tasks."""
    started: list[AgentProcess] = []

    def make(
        server_url: str,
        *args: str,
        fake_gpus: int | None = None,
        name: str | None = None,
        token: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> AgentProcess:
        n = len(started)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(extra_env or {})
        env["RUNYARD_SERVER"] = server_url
        if token is not None:
            env["RUNYARD_TOKEN"] = token
        if fake_gpus is not None:
            env["RUNYARD_AGENT_FAKE_GPUS"] = str(fake_gpus)
        argv = ["--name", name or f"agent{n}", "--cache-dir", str(tmp_path / "cache")]
        argv += ["--poll-wait-s", "2", "--abort-grace-s", "5", *args]
        agent = AgentProcess(argv, env, tmp_path / f"agent{n}.log")
        started.append(agent)
        return agent

    yield make
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()
    _kill_task_processes(tmp_path)


def _kill_task_processes(tmp_path: Path) -> None:
    """Task processes live in their own sessions; an agent killed with -9 leaves them behind."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(tmp_path) in part for part in cmdline):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
