"""`make demo`: a server, an agent, an experiment, its clone with a changed parameter.

Everything lives under .demo/ (recreated each run) and is stopped at the end.
"""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from runyard.client import Client
from runyard.models import CloneRequest, Script, Task, TaskCreate
from runyard_server.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def git(repo: Path, *args: str) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout


def make_repo() -> Path:
    """A git repo with the example script committed and one uncommitted change."""
    repo = DEMO / "experiment-repo"
    repo.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "demo" / "train.py", repo / "train.py")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "train.py")
    git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.com", "commit", "-qm", "init")
    source = (repo / "train.py").read_text()
    (repo / "train.py").write_text(
        source.replace("training with", "training (uncommitted edit) with")
    )
    return repo


def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
    log = (DEMO / f"{name}.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
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


def show_run(client: Client, task: Task) -> None:
    print(f"task {task.id}  status={task.status}  lr={task.params['General']['lr']}")
    for line in client.logs.read(task.id).lines:
        print(f"   | {line.text}")


def run_demo(client: Client, repo: Path) -> None:
    say("1. an experiment from a git repo (commit + an uncommitted change), queued on 'demo'")
    script = Script(
        repository=str(repo),
        commit=git(repo, "rev-parse", "HEAD").strip(),
        branch="main",
        diff=git(repo, "diff", "--binary", "HEAD"),
        entry_point="train.py",
    )
    body = TaskCreate(
        project="demo",
        name="baseline",
        script=script,
        params={"General": {"lr": 0.1, "epochs": 3, "seed": 7}},
        queue="demo",
    )
    first = wait_final(client, client.tasks.create(body).id)
    show_run(client, first)

    say("2. clone it with General/lr=0.02 and rerun it on the agent")
    clone = client.tasks.clone(
        first.id, CloneRequest(name="lower-lr", overrides={"General/lr": 0.02}, queue="demo")
    )
    second = wait_final(client, clone.id)
    show_run(client, second)
    if first.status != "completed" or second.status != "completed":
        raise SystemExit("a demo task did not complete; see .demo/agent.log")


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    say(f"starting runyard-server on {url} (embedded Redis in .demo/server) and an agent")
    server = start(
        "server",
        [str(BIN / "runyard-server"), "--port", str(port), "--data-dir", str(DEMO / "server")],
    )
    agent = None
    try:
        wait_healthy(url)
        agent_cmd = [
            str(BIN / "runyard-agent"), "--server", url, "--queue", "demo",
            "--name", "demo-agent", "--cache-dir", str(DEMO / "agent-cache"),
        ]  # fmt: skip
        agent = start("agent", agent_cmd)
        run_demo(Client(url), make_repo())
        say("where to look: the CLI lists both runs, the clone points at its parent")
        subprocess.run([str(BIN / "runyard"), "--server", url, "task", "list", "--project", "demo"])
        print(f"  {BIN / 'runyard'} --server URL task show|logs ID   (against any server)")
        print("  .demo/server.log, .demo/agent.log, .demo/agent-cache/ (git mirrors, venvs)")
        print(f"  API docs: {url}/api/v1/docs ; start your own with: {BIN / 'runyard-server'}")
    finally:
        say("stopping the agent and the server")
        for process in (agent, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
        print("stopped. Runs are kept in .demo/server (the server's data dir).")


if __name__ == "__main__":
    main()
