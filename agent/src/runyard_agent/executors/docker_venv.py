"""The ``docker`` executor's Python environments, built inside containers and cached.

Layout under ``<cache_dir>/docker/venvs/`` (mounted at ``/runyard/venvs``): ``<key>/``
is a venv made by the image's own Python, ``<key>.lock`` its lock, where ``key``
hashes the image id, the normalized requirements and the SDK support directory. As
in the ``venv`` executor, a venv counts only once its ``.runyard-complete`` marker
exists, and an exclusive ``flock`` per key (held by the agent, on the host) makes two
tasks that need the same environment build it once.

The build runs in a short-lived *build container* of the task's image: host
networking, the pip cache at ``/runyard/pip-cache``, the agent's uid. Its output goes
to the task's log as agent lines, and a failure is an ``install`` environment
failure, exactly like a failed ``pip install`` in the ``venv`` executor. Tasks then
mount the venvs read-only, so no task can change an environment others share.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from runyard.models.tasks import Environment, InstalledPackage
from runyard_agent.environments._locks import file_lock
from runyard_agent.environments.repo_install import with_hashes
from runyard_agent.environments.torch_builds import TorchBuild, plan_torch
from runyard_agent.environments.venv import (
    REQUIREMENTS_FILE,
    normalize_requirements,
    uv_binary,
    wanted_requirements,
)
from runyard_agent.environments.venv_cache import MARKER
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.docker_engine import engine_error, labels
from runyard_agent.executors.docker_sdk import CONTAINER_PATH as SDK_PATH
from runyard_agent.executors.docker_sdk import SdkSupport
from runyard_agent.logs import LineSplitter
from runyard_agent.package_sources import PackageSources

if TYPE_CHECKING:
    import docker

VENVS_PATH = "/runyard/venvs"
PIP_CACHE_PATH = "/runyard/pip-cache"
SPEC_FILE = "runyard-build.json"
INSTALLED_FILE = "runyard-installed.json"
"""Written by ``_build_venv.py`` in the venv: what it holds."""
_BUILD_TAIL_LINES = 40

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    """What a build container needs: the engine, the image, who asks, the shared mounts."""

    client: docker.DockerClient
    image: str
    image_id: str
    agent: str
    task_id: str
    user: str
    cache_dir: Path
    sdk: SdkSupport
    sources: PackageSources
    """The operator's indexes, given to pip in the build container."""
    torch: TorchBuild


def venv_key(image_id: str, requirements: list[str], sdk_key: str, index: str | None) -> str:
    """The cache key of a container venv."""
    record = {"image": image_id, "requirements": requirements, "sdk": sdk_key, "index": index}
    identity = json.dumps(record)
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ContainerVenv:
    """A venv for a task's containers: its python's path inside them, and what it holds."""

    python: str
    installed: list[InstalledPackage]


def ensure_container_venv(
    request: BuildRequest, environment: Environment, checkout: Path, log: Log
) -> ContainerVenv:
    """A venv built for ``environment`` (built once, then a cache hit).

    A lock file is exported on the host (``checkout`` is the task's code) and its lines
    installed with their hashes, which pip then checks. Raises EnvironmentBuildError
    (stage ``install``) for repository packages, which only the ``venv`` executor
    installs so far: ignored, the task would run without them.
    """
    if environment.repo_packages:
        raise EnvironmentBuildError(
            "install",
            "the docker executor does not install the repository's own packages yet; "
            "run this task on an agent with the venv executor",
        )
    uv_env = {"UV_CACHE_DIR": str(request.cache_dir / "uv")}
    wanted, hashes, hashed = wanted_requirements(environment, checkout, uv_binary(), uv_env, log)
    plan = plan_torch(normalize_requirements(wanted, log), request.torch)
    for note in plan.notes:
        log(f"torch: {note}")
    requirements = sorted(plan.requirements)
    key = venv_key(request.image_id, requirements, request.sdk.key, environment.package_index)
    venvs = request.cache_dir / "docker" / "venvs"
    venvs.mkdir(parents=True, exist_ok=True)
    root = venvs / key
    with file_lock(venvs / f"{key}.lock"):
        if (root / MARKER).is_file():
            log(f"container venv cache hit {key}")
        else:
            pip_env = request.sources.with_torch(plan.backends).installer_env("pip")
            _build(request, root, requirements, environment.python, log, pip_env, hashed)
    python = f"{VENVS_PATH}/{key}/bin/python"
    return ContainerVenv(python, with_hashes(_installed(root), hashes))


def _installed(root: Path) -> list[InstalledPackage]:
    """The build container's ``pip list`` of the venv; empty for a venv built before."""
    try:
        listed = json.loads((root / INSTALLED_FILE).read_text())
        return sorted(
            (
                InstalledPackage(name=canonicalize_name(item["name"]), version=item["version"])
                for item in listed
            ),
            key=lambda package: package.name,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _build(
    request: BuildRequest,
    root: Path,
    requirements: list[str],
    python: str | None,
    log: Log,
    pip_env: dict[str, str],
    hashed: dict[str, str],
) -> None:
    if root.exists():
        log(f"removing an incomplete container venv at {root}")
        shutil.rmtree(root)
    root.mkdir()
    inside = f"{VENVS_PATH}/{root.name}"
    spec: dict[str, Any] = {
        "requirements": f"{inside}/{REQUIREMENTS_FILE}" if requirements else None,
        "python": python,
        "sdk_python": request.sdk.python,
        "sdk_requires": request.sdk.requires,
    }
    listing = "".join(f"{hashed.get(line, line)}\n" for line in requirements)
    (root / REQUIREMENTS_FILE).write_text(listing)
    (root / SPEC_FILE).write_text(json.dumps(spec))
    log(f"building container venv {root.name} in {request.image}: {len(requirements)} reqs")
    started = time.monotonic()
    try:
        code, tail = _run_build_container(request, inside, log, pip_env)
        if code != 0:
            output = "\n".join(tail)
            raise EnvironmentBuildError(
                "install", f"building the venv in {request.image} failed (exit {code}):\n{output}"
            )
        (root / MARKER).write_text(json.dumps({"image": request.image_id, **spec}))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    log(f"container venv {root.name} built in {time.monotonic() - started:.1f} s")


def _run_build_container(
    request: BuildRequest, inside: str, log: Log, pip_env: dict[str, str]
) -> tuple[int, list[str]]:
    import docker

    cache = request.cache_dir / "docker"
    (cache / "pip").mkdir(parents=True, exist_ok=True)
    mounts = {
        str(cache / "venvs"): {"bind": VENVS_PATH, "mode": "rw"},
        str(cache / "pip"): {"bind": PIP_CACHE_PATH, "mode": "rw"},
        str(request.sdk.path): {"bind": SDK_PATH, "mode": "ro"},
    }
    command = ["python3", f"{SDK_PATH}/build_venv.py", inside, f"{inside}/{SPEC_FILE}"]
    try:
        container = request.client.containers.run(
            request.image,
            command,
            detach=True,
            user=request.user,
            environment={
                "PIP_CACHE_DIR": PIP_CACHE_PATH,
                "HOME": "/tmp",
                "PYTHONUNBUFFERED": "1",
                **pip_env,
            },
            volumes=mounts,
            network_mode="host",
            labels=labels(request.agent, request.task_id, "build"),
        )
    except docker.errors.DockerException as exc:
        raise engine_error(f"could not start a build container of {request.image}", exc) from None
    tail: deque[str] = deque(maxlen=_BUILD_TAIL_LINES)
    splitter = LineSplitter()
    try:
        for chunk in container.logs(stream=True, follow=True):
            for line in splitter.feed(chunk):
                log(line)
                tail.append(line)
        for line in splitter.close():
            log(line)
            tail.append(line)
        code = int(container.wait()["StatusCode"])
    except docker.errors.DockerException as exc:
        raise engine_error("the build container failed", exc) from None
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)
    return code, list(tail)
