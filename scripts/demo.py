"""`make demo`: a server and an agent; an experiment run locally, cloned with a changed
parameter, rerun by the agent, and compared.

Everything lives under .demo/ (recreated each run) and is stopped at the end.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from runyard.client import Client
from runyard.models import API_PREFIX, Task
from runyard_server.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent
GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def make_repo() -> Path:
    """A git repo with the example committed and one uncommitted change."""
    repo = DEMO / "experiment-repo"
    repo.mkdir(parents=True)
    for name in ("train.py", "requirements.txt"):
        shutil.copy(ROOT / "examples" / "demo" / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.com", "commit", "-qm", "init")
    source = (repo / "train.py").read_text()
    (repo / "train.py").write_text(
        source.replace("training with", "training (uncommitted edit) with")
    )
    return repo


def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
    log = (DEMO / f"{name}.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def runyard(url: str, *args: str) -> str:
    """Run the ``runyard`` CLI, echoing what it prints."""
    done = subprocess.run(
        [str(BIN / "runyard"), "--server", url, *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}{API_PREFIX}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"the server did not come up; see {DEMO / 'server.log'}")


def wait_final(client: Client, task_id: str, timeout_s: float = 300) -> Task:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = client.tasks.get(task_id)
        if task.status.is_final:
            return task
        time.sleep(0.3)
    raise SystemExit(f"task {task_id} did not finish; see {DEMO / 'agent.log'}")


def run_demo(url: str, repo: Path) -> None:
    client = Client(url)
    say("1. run the experiment on this machine: Task.init records code, diff, params, metrics")
    env = {**os.environ, **GIT_ENV, "RUNYARD_SERVER": url}
    subprocess.run([sys.executable, "train.py"], cwd=repo, env=env, check=True)
    local = client.tasks.list(project="demo", limit=1).items[0]
    print(f"recorded as task {local.id} ({local.status})")

    say("2. clone it with General/lr=0.02 and queue it: the agent rebuilds and reruns it")
    clone_args = [
        "--param",
        "General/lr=0.02",
        "--queue",
        "demo",
        "--create-queue",
        "--name",
        "lower-lr",
    ]
    clone_id = json.loads(runyard(url, "task", "clone", local.id, *clone_args, "--json"))["id"]
    rerun = wait_final(client, clone_id)
    for line in client.logs.read(rerun.id).lines:
        print(f"   | {line.text}")
    if rerun.status != "completed":
        raise SystemExit(f"the rerun ended {rerun.status}; see .demo/agent.log")

    say("3. compare the two runs: the changed parameter and the final metrics")
    print(runyard(url, "task", "compare", local.id, rerun.id))
    print(runyard(url, "task", "list", "--project", "demo"))


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    say(f"starting runyard-server on {url} (embedded Redis in .demo/server) and an agent")
    server_cmd = [
        str(BIN / "runyard-server"),
        "--port",
        str(port),
        "--data-dir",
        str(DEMO / "server"),
    ]
    server = start("server", server_cmd)
    agent = None
    try:
        wait_healthy(url)
        agent = start("agent", [
            str(BIN / "runyard-agent"), "--server", url, "--queue", "demo",
            "--name", "demo-agent", "--cache-dir", str(DEMO / "agent-cache"),
        ])  # fmt: skip
        run_demo(url, make_repo())
        say("where to look")
        print(f"  web UI:   {url}/   (tasks, live console, metrics, compare, clone)")
        print(f"  API docs: {url}{API_PREFIX}/docs")
        print("  logs:     .demo/server.log, .demo/agent.log; agent caches in .demo/agent-cache/")
        print(f"  your own: {BIN / 'runyard-server'} and {BIN / 'runyard-agent'} --queue default")
        if os.environ.get("RUNYARD_DEMO_HOLD"):
            input("the server and agent keep running; press Enter to stop them ")
    finally:
        say("stopping the agent and the server")
        for process in (agent, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
        print("stopped. The runs are kept in .demo/server (the server's data dir).")


if __name__ == "__main__":
    main()
