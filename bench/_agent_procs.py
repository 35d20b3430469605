"""Pieces of the agent bench: a git repository of task scripts, real ``runyard-agent``
processes (stopped by PID), submitting tasks and reading their logs back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
from _harness import check

AGENT = str(Path(sys.executable).parent / "runyard-agent")

# The first statement takes the time, so claim→first statement covers everything the
# agent does (code, venv, spawn) plus the interpreter's own start-up.
FIRST = """\
import time; T0 = time.time()
print(f"FIRST {T0!r}", flush=True)
"""

# 1,000,000 numbered lines; the loop times itself (flush included: under the agent a
# full pipe blocks print, which is the cost being measured) and reports on stderr.
SPAM = """\
import sys, time
t0 = time.time()
for i in range(1_000_000):
    print(i)
sys.stdout.flush()
t1 = time.time()
print(f"SPAM {t0!r} {t1!r}", file=sys.stderr, flush=True)
"""

# Writes "ready" to argv[1] once running; on SIGTERM, the unix time the signal came.
TERMED = """\
import pathlib, signal, sys, time
mark = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    mark.write_text(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
mark.write_text("ready")
while True:
    time.sleep(0.05)
"""


@dataclass
class Repo:
    path: Path
    commit: str


def make_repo(root: Path) -> Repo:
    """A real git repository with the task scripts, one commit."""
    path = root / "repo"
    path.mkdir()
    (path / "first.py").write_text(FIRST)
    (path / "spam.py").write_text(SPAM)
    (path / "termed.py").write_text(TERMED)
    git = ["git", "-C", str(path), "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "bench scripts"], check=True, timeout=30)
    out = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True, timeout=30
    )
    return Repo(path=path, commit=out.stdout.strip())


class Agent:
    """One ``runyard-agent`` child process, logging to a file."""

    def __init__(self, api_root: str, root: Path, name: str, *args: str) -> None:
        self.log_path = root / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env["RUNYARD_SERVER"] = api_root
        argv = [AGENT, "--name", name, "--cache-dir", str(root / "agent-cache"), *args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent: no {text!r} in its log:\n{self.log[-3000:]}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU of the agent, its reaped children and its live children."""
        process = psutil.Process(self.pid)
        with process.oneshot():
            times = process.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return float(total)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (drain), then SIGKILL the agent and any task process group it left."""
        if self.process.poll() is None:
            groups = _task_groups(self.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)


def _task_groups(pid: int) -> list[int]:
    """Process groups of the agent's children that lead their own group (tasks)."""
    groups = []
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(pid).children():
            with contextlib.suppress(OSError):
                if os.getpgid(child.pid) == child.pid:
                    groups.append(child.pid)
    return groups


def submit(
    api: str,
    repo: Repo,
    entry_point: str,
    queue: str,
    requirements: list[str],
    name: str,
    args: list[str] | None = None,
) -> tuple[str, float]:
    """Create and enqueue a task; its id and the wall time just before the request."""
    body = {
        "name": name,
        "project": "bench",
        "queue": queue,
        "create_queue": True,
        "script": {
            "repository": str(repo.path),
            "commit": repo.commit,
            "entry_point": entry_point,
            "args": args or [],
        },
        "environment": {"requirements": requirements},
    }
    sent = time.time()
    task = check(requests.post(f"{api}/tasks", json=body, timeout=30), "create task")
    return str(task["id"]), sent


def wait_final(api: str, task_id: str, timeout: float, poll_s: float = 0.1) -> dict[str, Any]:
    """The task record once it is completed, failed or aborted."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = check(requests.get(f"{api}/tasks/{task_id}", timeout=30), "task")
        if task["status"] in ("completed", "failed", "aborted"):
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {task['status']} after {timeout:g} s")
        time.sleep(poll_s)


def read_logs(api: str, task_id: str, page: int = 10_000) -> tuple[list[dict[str, Any]], int]:
    """Every log line of the task, paging with the cursor; and how many pages it took."""
    lines: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    session = requests.Session()
    try:
        while True:
            params: dict[str, Any] = {"limit": page}
            if cursor is not None:
                params["after"] = cursor
            response = session.get(f"{api}/tasks/{task_id}/logs", params=params, timeout=60)
            got = check(response, "logs")
            pages += 1
            if not got["lines"]:
                return lines, pages
            lines.extend(got["lines"])
            cursor = got["cursor"]
    finally:
        session.close()
