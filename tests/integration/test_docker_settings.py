"""The docker executor's choices that need no engine: image, environment, GPU requests, flags."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from runyard.models import Environment, Script, Task, TaskStatus
from runyard_agent.cli import load_settings
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.docker import container_environment, gpu_requests, pick_image
from runyard_agent.slots import Allocation


def make_task(image: str | None = None, env: dict[str, str] | None = None) -> Task:
    return Task(
        id="a" * 32,
        status=TaskStatus.RUNNING,
        created=datetime.now(UTC),
        script=Script(entry_point="train.py"),
        environment=Environment(docker_image=image, env=env or {}),
    )


def test_the_task_image_wins_over_the_agent_default() -> None:
    settings = load_settings(["--executor", "docker", "--docker-image", "agent:1"])
    assert pick_image(make_task("task:2"), settings) == "task:2"
    assert pick_image(make_task(None), settings) == "agent:1"


def test_an_agent_that_forbids_task_images_always_uses_its_own() -> None:
    argv = ["--executor", "docker", "--docker-image", "agent:1", "--docker-forbid-task-image"]
    assert pick_image(make_task("task:2"), load_settings(argv)) == "agent:1"


def test_no_image_anywhere_is_an_environment_failure_that_says_what_to_do() -> None:
    settings = load_settings(["--executor", "docker"])
    with pytest.raises(EnvironmentBuildError, match="--docker-image") as caught:
        pick_image(make_task(None), settings)
    assert caught.value.stage == "image"


def test_forbidding_task_images_needs_a_default_image() -> None:
    with pytest.raises(ValidationError, match="docker_image"):
        load_settings(["--executor", "docker", "--docker-forbid-task-image"])


def test_docker_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_AGENT_DOCKER_IMAGE", "env:3")
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/x.sock")
    settings = load_settings(["--executor", "docker"])
    assert settings.docker_image == "env:3"
    assert settings.docker_host == "unix:///tmp/x.sock"


def test_gpu_requests_name_exactly_the_allocated_indices() -> None:
    assert gpu_requests(Allocation(gpu_indices=(), cpus=1, memory_gb=1)) == []
    [request] = gpu_requests(Allocation(gpu_indices=(2, 5), cpus=1, memory_gb=1))
    assert request["Driver"] == "nvidia"
    assert request["DeviceIDs"] == ["2", "5"]
    assert request["Count"] == 0
    assert request["Capabilities"] == [["gpu"]]


def test_container_environment_has_the_task_env_and_runyard_variables_only() -> None:
    task = make_task(env={"FOO": "bar", "RUNYARD_TASK_ID": "spoofed"})
    python = "/runyard/venvs/abc/bin/python"
    allocation = Allocation(gpu_indices=(3, 4), cpus=1, memory_gb=1)
    env = container_environment(task, python, allocation, "http://s:8008", "tok", "/opt/bin:/bin")
    assert env["FOO"] == "bar"
    assert env["RUNYARD_TASK_ID"] == task.id
    assert env["RUNYARD_SERVER"] == "http://s:8008"
    assert env["RUNYARD_TOKEN"] == "tok"
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"  # the container numbers its GPUs from 0
    assert env["PATH"] == "/runyard/venvs/abc/bin:/opt/bin:/bin"
    assert env["VIRTUAL_ENV"] == "/runyard/venvs/abc"
    assert not any(key.startswith("RUNYARD_AGENT_") for key in env)
    assert str(Path.home()) not in env.values()


def test_a_share_of_a_gpu_in_a_container_gets_its_memory_fraction() -> None:
    task = make_task(env={"RUNYARD_GPU_MEMORY_FRACTION": "0.9"})
    share = Allocation(gpu_indices=(5,), cpus=0, memory_gb=0, gpu_fraction=0.25)
    env = container_environment(task, "/v/bin/python", share, "http://s:8008", None)
    whole = container_environment(task, "/v/bin/python", Allocation((5,), 0, 0), "http://s", None)
    assert (env["CUDA_VISIBLE_DEVICES"], env["RUNYARD_GPU_MEMORY_FRACTION"]) == ("0", "0.25")
    assert "RUNYARD_GPU_MEMORY_FRACTION" not in whole  # the task's own value is not a share
    assert gpu_requests(share)[0]["DeviceIDs"] == ["5"]
