"""Commits no remote has reach an agent as a git bundle stored on the server (issue 11).

The repository the task was created from is moved away before the agent starts, so
the agent (its own cache and work dirs) can get the code only from what the server
holds: the bundle alone for a repository with no remote, the bundle on top of a
mirror of the remote for a commit that was never pushed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import TaskStatus
from tests.e2e.agent_support import DONE, AgentFactory, log_texts, wait_status
from tests.sdk_support import git
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

RUNYARD = Path(sys.executable).with_name("runyard")


def commit(repo: Path, text: str) -> None:
    (repo / "run.py").write_text(f"print({text!r})\n")
    git(repo, "add", "run.py")
    git(repo, "commit", "-qm", text)


def create(server: ServerProcess, repo: Path, queue: str) -> tuple[str, str]:
    """``runyard task create`` from the work tree; the task id and the CLI's stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env.update(RUNYARD_SERVER=server.url, GIT_CONFIG_GLOBAL="/dev/null")
    argv = ["task", "create", "--repo", str(repo), "--script", "run.py", "--queue", queue]
    done = subprocess.run(
        [str(RUNYARD), *argv, "--create-queue", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"]), done.stderr


def test_commits_only_in_a_bundle_run_on_an_agent_that_cannot_see_the_repo(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    git(lonely, "init", "-q", "-b", "main")
    commit(lonely, "first")
    commit(lonely, "from a repo with no remote")
    origin, pushed = tmp_path / "origin.git", tmp_path / "pushed"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(pushed))
    commit(pushed, "pushed")
    git(pushed, "push", "-q", "origin", "HEAD:main")
    commit(pushed, "from a commit never pushed")

    no_remote, said_no_remote = create(server, lonely, "bundles")
    unpushed, said_unpushed = create(server, pushed, "bundles")
    lonely.rename(tmp_path / "lonely-gone")
    pushed.rename(tmp_path / "pushed-gone")
    agent_factory(server.url, "--queue", "bundles")

    assert "has no remote: its commits went to the server as a code bundle" in said_no_remote
    assert "is on no remote branch: its commits went to the server" in said_unpushed
    for task_id, printed in (
        (no_remote, "from a repo with no remote"),
        (unpushed, "from a commit never pushed"),
    ):
        done = wait_status(client, task_id, *DONE, timeout=180)
        texts = log_texts(client, task_id)
        assert done.status is TaskStatus.COMPLETED, (done.failure_reason, texts)
        assert printed in texts
        assert any("from the task's code bundle" in text for text in texts), texts
    assert client.tasks.get(unpushed).script.repository == str(origin)
