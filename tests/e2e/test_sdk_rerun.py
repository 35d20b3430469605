"""The SDK's whole loop with real processes: a local run, its clone rerun by a real agent.

A script in a git repo with uncommitted changes runs on "the laptop" (a subprocess
with ``Task.init``); its clone with one changed parameter is rerun by a real
``runyard-agent`` in a venv it builds; ``runyard task compare`` and ``reproduce``
judge the results.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import CloneRequest, TaskStatus
from tests.e2e.agent_support import DONE, AgentFactory, agent_factory, log_texts, wait_status
from tests.sdk_support import git, make_repo, run_script
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

RUNYARD = Path(sys.executable).with_name("runyard")

# argv: PROJECT seeded|clock. The seeded score repeats only because Task.init seeds `random`.
SCORE = """\
import random, sys, time
from runyard import Task
task = Task.init(project=sys.argv[1], name=sys.argv[2], requirements=[])
task.log_metric("score", random.random() if sys.argv[2] == "seeded" else time.time())
"""


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": ""}
    return subprocess.run(
        [str(RUNYARD), *args], env=env, capture_output=True, text=True, timeout=180
    )


def only_id(client: Client, project: str) -> str:
    items = client.tasks.list(project=project).items
    assert len(items) == 1, items
    return items[0].id


def test_local_run_cloned_with_a_new_param_is_rerun_by_an_agent_and_compared(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    local = run_script(repo / "train.py", "loop", "ok", server_url=server.url)
    assert local.returncode == 0, local.stderr
    agent_factory(server.url)
    with Client(server.url) as client:
        original = only_id(client, "loop")
        clone = client.tasks.clone(
            original,
            CloneRequest(overrides={"General/lr": 0.01}, queue="default", create_queue=True),
        )
        done = wait_status(client, clone.id, *DONE, timeout=120)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        texts = log_texts(client, clone.id)
        assert any(t.startswith("lr=0.01 epochs=2 opt=sgd amp=False bs=8") for t in texts), texts
        assert "uncommitted change applied" in texts
        assert client.metrics.read(clone.id).final == {"val/acc": pytest.approx(0.51)}
    compared = cli(server, "task", "compare", original, clone.id, "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["differences"]["params"] == ["General/lr"]
    shown = cli(server, "task", "compare", original, clone.id).stdout
    assert [line.split()[1] for line in shown.splitlines() if line.startswith("* ")] == [
        "General/lr",
        "val/acc",
    ]


def test_reproduce_matches_a_seeded_script_and_not_one_that_reads_the_clock(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    (repo / "score.py").write_text(SCORE)
    git(repo, "add", "score.py")
    git(repo, "commit", "-qm", "score")
    for kind in ("seeded", "clock"):
        done = run_script(repo / "score.py", "repro", kind, server_url=server.url)
        assert done.returncode == 0, done.stderr
    agent_factory(server.url)
    with Client(server.url) as client:
        ids = {t.name: t.id for t in client.tasks.list(project="repro").items}
    # The agent may not have registered its queue yet.
    reproduce = ["task", "reproduce", "--queue", "default", "--create-queue", "--wait"]
    seeded = cli(server, *reproduce, ids["seeded"])
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "reproduced:" in seeded.stdout
    clock = cli(server, "task", "reproduce", ids["clock"], "--queue", "default", "--wait")
    assert clock.returncode == 1, clock.stdout + clock.stderr
    assert "NOT reproduced" in clock.stdout


def test_execute_remotely_from_a_script_runs_on_the_agent(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    local = run_script(repo / "train.py", "remote", "remote", "default", server_url=server.url)
    assert local.returncode == 0, local.stderr
    assert "still running locally" not in local.stdout
    agent_factory(server.url)
    with Client(server.url) as client:
        queued = only_id(client, "remote")
        done = wait_status(client, queued, *DONE, timeout=120)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        texts = log_texts(client, queued)
        # Under the agent execute_remotely does nothing: the script trains there.
        assert "still running locally" in texts and "done" in texts
        assert client.metrics.read(queued).final == {"val/acc": pytest.approx(0.6)}


def test_a_script_run_outside_git_is_rerun_by_an_agent(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "solo.py").write_text(
        "from runyard import Task\n"
        "task = Task.init(project='loose', requirements=[])\n"
        "cfg = task.connect({'greeting': 'hello'})\n"
        "print(cfg['greeting'], 'from a loose script')\n"
    )
    local = run_script(folder / "solo.py", server_url=server.url)
    assert local.returncode == 0, local.stderr
    agent_factory(server.url)
    with Client(server.url) as client:
        original = only_id(client, "loose")
        clone = client.tasks.clone(
            original,
            CloneRequest(
                overrides={"General/greeting": "bonjour"}, queue="default", create_queue=True
            ),
        )
        done = wait_status(client, clone.id, *DONE, timeout=120)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        assert "bonjour from a loose script" in log_texts(client, clone.id)
