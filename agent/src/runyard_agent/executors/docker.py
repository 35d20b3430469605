"""The ``docker`` executor: a task's code and venv run in a container of its image.

Which image: the task's recorded ``environment.docker_image``, else the agent's
``--docker-image``; an agent started with ``--docker-forbid-task-image`` always uses
its own. The container gets, and only gets:

- the checked-out work dir at ``/runyard/code`` (read-write: it is the task's);
- the venv cache at ``/runyard/venvs`` (read-only) and the SDK support directory at
  ``/runyard/sdk`` (read-only), both under the agent's cache dir;
- host networking, so ``RUNYARD_SERVER`` means the same inside as on the agent;
- the task's GPUs as one ``DeviceRequest`` naming exactly their indices, never all;
- the agent's uid and gid, so everything it writes can be cleaned up by the agent.

No privileged mode, no other host paths, no agent environment variables: the task
sees its image's environment plus its own ``environment.env`` and Runyard's variables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from runyard.models import Task
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError, EnvironmentBuildError
from runyard_agent.executors.container import ContainerLaunch
from runyard_agent.executors.docker_engine import (
    connect,
    ensure_image,
    image_path,
    labels,
    remove_leftovers,
)
from runyard_agent.executors.docker_sdk import CONTAINER_PATH as SDK_PATH
from runyard_agent.executors.docker_sdk import sdk_support
from runyard_agent.executors.docker_venv import VENVS_PATH, BuildRequest, ensure_container_venv
from runyard_agent.executors.launch import LaunchRequest
from runyard_agent.package_sources import PackageSources
from runyard_agent.slots import Allocation
from runyard_agent.task_env import task_command

log = logging.getLogger(__name__)

CODE_PATH = "/runyard/code"
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Log = Callable[[str], None]


def prepare_engine(settings: AgentSettings) -> None:
    """At agent start: check the engine answers and remove this agent's old containers.

    Raises ConfigError when the engine cannot be reached, so the agent stops before it
    claims tasks it could only fail.
    """
    try:
        client = connect(settings.docker_host)
    except EnvironmentBuildError as exc:
        raise ConfigError(exc.message) from None
    try:
        removed = remove_leftovers(client, settings.name)
        version = client.version().get("Version", "?")
    finally:
        client.close()
    log.info("docker executor: engine %s; removed %d leftover container(s)", version, removed)


def pick_image(task: Task, settings: AgentSettings) -> str:
    """The image a task runs in; raises EnvironmentBuildError when there is none."""
    recorded = task.environment.docker_image
    if recorded and not settings.docker_forbid_task_image:
        return recorded
    if settings.docker_image:
        return settings.docker_image
    raise EnvironmentBuildError(
        "image",
        "the task records no docker_image and the agent has no default; start the agent "
        "with --docker-image IMAGE or record the task with an image",
    )


def docker_launch(job: LaunchRequest) -> ContainerLaunch:
    """Pick the image, build the task's venv in it, and describe the task's container."""
    task, workdir, settings = job.task, job.workdir, job.settings
    sources = PackageSources.for_task(settings, task.environment.package_index)
    note = sources.redacting(job.note)
    image = pick_image(task, settings)
    if task.environment.docker_image and image != task.environment.docker_image:
        note(f"docker: this agent forbids task images; using {image}")
    _, cwd = task_command(task.script, workdir, Path("python"))  # checks the paths exist
    client = connect(settings.docker_host)
    try:
        return _launch(client, image, task, workdir, cwd, job, sources, note)
    except EnvironmentBuildError as exc:
        client.close()
        # pip may echo an index URL; the reason reaches the task record.
        raise EnvironmentBuildError(exc.stage, sources.redact(exc.message)) from None
    except BaseException:
        client.close()
        raise


def _launch(
    client: Any,
    image: str,
    task: Task,
    workdir: Path,
    cwd: Path,
    job: LaunchRequest,
    sources: PackageSources,
    note: Log,
) -> ContainerLaunch:
    allocation, settings, token = job.allocation, job.settings, job.token
    found = ensure_image(client, image, note)
    image_id = str(found.id)
    note(f"docker: image {image} ({image_id[:19]})")
    user = f"{os.getuid()}:{os.getgid()}"
    request = BuildRequest(
        client=client,
        image=image,
        image_id=image_id,
        agent=settings.name,
        task_id=task.id,
        user=user,
        cache_dir=settings.cache_dir,
        sdk=sdk_support(settings.cache_dir),
        sources=sources,
        torch=job.torch,
    )
    venv = ensure_container_venv(request, task.environment, workdir, note)
    if job.record_installed is not None:
        job.record_installed(venv.installed)
    python = venv.python
    inside_cwd = PurePosixPath(CODE_PATH) / cwd.relative_to(workdir).as_posix()
    command = [python, f"{CODE_PATH}/{task.script.entry_point}", *task.script.args]
    docker_dir = settings.cache_dir / "docker"
    return ContainerLaunch(
        client=client,
        image=image,
        command=command,
        working_dir=str(inside_cwd),
        environment=container_environment(
            task, python, allocation, settings.server, token, image_path(found)
        ),
        volumes={
            str(workdir): {"bind": CODE_PATH, "mode": "rw"},
            str(docker_dir / "venvs"): {"bind": VENVS_PATH, "mode": "ro"},
            str(request.sdk.path): {"bind": SDK_PATH, "mode": "ro"},
        },
        labels=labels(settings.name, task.id, "run"),
        user=user,
        device_requests=gpu_requests(allocation),
    )


def container_environment(
    task: Task,
    python: str,
    allocation: Allocation,
    server: str,
    token: str | None,
    image_path: str | None = None,
) -> dict[str, str]:
    """The variables set in the task's container, on top of the image's own.

    ``CUDA_VISIBLE_DEVICES`` counts from 0: the container sees only its own GPUs, and
    the runtime numbers them from 0 in the order they were requested.
    """
    bin_dir = str(PurePosixPath(python).parent)
    env = dict(task.environment.env)
    env.update(
        VIRTUAL_ENV=str(PurePosixPath(bin_dir).parent),
        PATH=f"{bin_dir}:{image_path or _DEFAULT_PATH}",
        RUNYARD_TASK_ID=task.id,
        RUNYARD_SERVER=server,
        CUDA_VISIBLE_DEVICES=",".join(str(i) for i in range(len(allocation.gpu_indices))),
        CUDA_DEVICE_ORDER="PCI_BUS_ID",
        PYTHONUNBUFFERED="1",
    )
    allocation.apply_gpu_share(env)
    if os.getuid() != 0:
        env.setdefault("HOME", "/tmp")
    if token:
        env["RUNYARD_TOKEN"] = token
    else:
        env.pop("RUNYARD_TOKEN", None)
    return env


def gpu_requests(allocation: Allocation) -> list[Any]:
    """One NVIDIA ``DeviceRequest`` for exactly the allocated GPU indices; none for none."""
    if not allocation.gpu_indices:
        return []
    from docker.types import DeviceRequest

    ids = [str(index) for index in allocation.gpu_indices]
    return [DeviceRequest(driver="nvidia", device_ids=ids, capabilities=[["gpu"]])]
