"""Real agents run real tasks from a real git repository against a real server."""

import re
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    log_texts,
    make_repo,
    submit,
    wait_status,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def test_task_with_diff_and_requirement_completes_and_its_output_is_logged(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent = agent_factory(server.url)
    task = submit(client, repo, args=["--lr", "0.1"])
    done = wait_status(client, task.id, *DONE, timeout=120)
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    assert done.exit_code == 0
    texts = log_texts(client, task.id)
    assert f"task {task.id} args ['--lr', '0.1']" in texts
    assert "CUDA_VISIBLE_DEVICES=''" in texts
    assert "six 1.16.0" in texts
    assert "uncommitted change applied" in texts
    assert any(text.startswith("FOO=bar") for text in texts)
    assert texts.index("progress 0%") < texts.index("six 1.16.0")
    assert all("\r" not in text for text in texts)

    second = submit(client, repo)
    assert wait_status(client, second.id, *DONE, timeout=60).status is TaskStatus.COMPLETED
    assert any("venv cache hit" in text for text in log_texts(client, second.id))
    starts = [float(s) for s in re.findall(r"started ([\d.]+)s after the claim", agent.log)]
    assert len(starts) == 2
    assert starts[1] < 2.0, f"claim to process start with a cached venv: {starts[1]}s"


def test_failing_install_fails_the_task_as_an_environment_failure(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent_factory(server.url)
    task = submit(client, repo, requirements=["runyard-e2e-no-such-package==1.0"])
    done = wait_status(client, task.id, *DONE, timeout=120)
    assert done.status is TaskStatus.FAILED
    assert done.failure_reason is not None
    assert done.failure_reason.startswith("environment: install")
    assert "runyard-e2e-no-such-package" in done.failure_reason
    assert any("environment build failed" in text for text in log_texts(client, task.id))


def test_failing_script_fails_with_its_exit_code_and_last_lines(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent_factory(server.url)
    task = submit(client, repo, "fail.py", requirements=[])
    done = wait_status(client, task.id, *DONE, timeout=120)
    assert done.status is TaskStatus.FAILED
    assert done.exit_code == 3
    reason = done.failure_reason or ""
    assert reason.startswith("script: exit code 3; last output lines:")
    assert reason.endswith("loss 29")
    assert "loss 9\n" not in reason  # only the last 20 lines


def test_missing_entry_point_is_an_environment_failure(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent_factory(server.url)
    task = submit(client, repo, "nope.py", requirements=[])
    done = wait_status(client, task.id, *DONE, timeout=120)
    assert done.status is TaskStatus.FAILED
    assert (done.failure_reason or "").startswith("environment: code: entry point 'nope.py'")


def test_agents_only_get_tasks_that_fit_their_gpus(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    cpu_agent = agent_factory(server.url, name="cpu-box", fake_gpus=0)
    cpu_agent.wait_log("registered as cpu-box")
    two_gpu = submit(client, repo, gpus=2, name="two-gpu")
    one_gpu = submit(client, repo, gpus=1, name="one-gpu")
    cpu_task = submit(client, repo, name="cpu")
    assert wait_status(client, cpu_task.id, *DONE, timeout=120).status is TaskStatus.COMPLETED
    assert client.tasks.get(two_gpu.id).status is TaskStatus.QUEUED
    gpu_agent = agent_factory(server.url, name="gpu-box", fake_gpus=2)
    for task in (two_gpu, one_gpu):
        assert wait_status(client, task.id, *DONE, timeout=60).status is TaskStatus.COMPLETED
    workers = {w.id: w.name for w in client.workers.list()}
    assert workers[client.tasks.get(cpu_task.id).worker or ""] == "cpu-box"
    assert workers[client.tasks.get(two_gpu.id).worker or ""] == "gpu-box"
    assert workers[client.tasks.get(one_gpu.id).worker or ""] == "gpu-box"
    assert "CUDA_VISIBLE_DEVICES='0,1'" in log_texts(client, two_gpu.id)
    assert "registered as gpu-box" in gpu_agent.log
