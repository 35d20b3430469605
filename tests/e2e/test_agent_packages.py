"""A real agent installing from its operator's private index: the task log says each build
step in one line and never shows the index's credentials; SIGTERM stops it cleanly."""

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import Environment, Script, TaskCreate, TaskStatus
from tests.docker_engine import DockerEngine
from tests.e2e.agent_support import DONE, AgentFactory, log_texts, wait_status
from tests.gitrepo import commit_then_change
from tests.package_index import LocalIndex
from tests.servers import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

USER, PASSWORD = "ci-bot", "pa55-Private-Index-77"

USES_PRIVATE = """\
import runyard_private_pkg
print("private package", runyard_private_pkg.__version__)
"""


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LocalIndex]:
    local = LocalIndex(tmp_path / "index", credentials=(USER, PASSWORD))
    local.add("simple", "runyard-private-pkg", "2.0.0")
    with local.serving():
        yield local


def run_task(client: Client, root: Path, requirements: list[str]) -> str:
    root.mkdir()
    repo = commit_then_change(root, {"private.py": USES_PRIVATE}, "private.py", "print('diff')\n")
    task = client.tasks.create(
        TaskCreate(
            name="private-index",
            queue="default",
            create_queue=True,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="private.py",
            ),
            environment=Environment(requirements=requirements),
        )
    )
    return task.id


def test_private_index_credentials_reach_uv_but_never_the_task_log(
    server: ServerProcess,
    client: Client,
    agent_factory: AgentFactory,
    index: LocalIndex,
    tmp_path: Path,
) -> None:
    agent = agent_factory(
        server.url, "--cpu-only", extra_env={"RUNYARD_AGENT_INDEX_URL": index.url("simple")}
    )
    ok = run_task(client, tmp_path / "ok", ["runyard-private-pkg==2.0.0"])
    done = wait_status(client, ok, *DONE, timeout=120)
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    missing = run_task(client, tmp_path / "missing", ["runyard-private-pkg==9.0"])
    failed = wait_status(client, missing, *DONE, timeout=120)
    agent.signal(signal.SIGTERM)
    code = agent.wait(60)

    log = log_texts(client, ok)
    assert index.requests["simple/runyard-private-pkg"] >= 1
    print("\n".join(log))
    assert log[-3:] == ["private package 2.0.0", "diff", "process ended: exit code 0"], log
    assert failed.status is TaskStatus.FAILED
    assert "runyard-private-pkg" in (failed.failure_reason or "")
    every = "\n".join([*log, *log_texts(client, missing), failed.failure_reason or "", agent.log])
    assert PASSWORD not in every and f"{USER}:" not in every
    assert "http://****@127.0.0.1" in every
    assert code == 0
    assert "Traceback" not in agent.log
    assert "agent stopped" in agent.log


def test_docker_executor_builds_from_the_private_index_with_credentials_masked(
    server: ServerProcess,
    client: Client,
    agent_factory: AgentFactory,
    docker_engine: DockerEngine,
    index: LocalIndex,
    tmp_path: Path,
) -> None:
    args = ["--executor", "docker", "--docker-image", docker_engine.image]
    args += ["--docker-host", docker_engine.host, "--cpu-only"]
    agent = agent_factory(
        server.url, *args, extra_env={"RUNYARD_AGENT_INDEX_URL": index.url("simple")}
    )
    task = run_task(client, tmp_path / "repo", ["runyard-private-pkg==2.0.0"])
    done = wait_status(client, task, *DONE, timeout=300)

    log = log_texts(client, task)
    assert done.status is TaskStatus.COMPLETED, (done.failure_reason, log, agent.log)
    assert "private package 2.0.0" in log
    assert PASSWORD not in "\n".join([*log, agent.log])
