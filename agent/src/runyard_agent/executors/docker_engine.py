"""Talking to the Docker engine: connecting, finding images, labels, leftover clean-up.

Every failure becomes an :class:`EnvironmentBuildError` with stage ``docker`` (the
engine) or ``image`` (the image), whose message says what to do, so a task that
cannot run reports ``environment: docker: ...`` instead of an agent traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runyard_agent.errors import EnvironmentBuildError

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

LABEL_AGENT = "runyard.agent"
LABEL_TASK = "runyard.task"
LABEL_ROLE = "runyard.role"
DEFAULT_ENGINE = "the default Docker engine (DOCKER_HOST unset)"


def connect(docker_host: str | None) -> docker.DockerClient:
    """A client for the engine at ``docker_host`` (the default socket when None), pinged."""
    try:
        import docker
        import requests
    except ImportError:
        raise EnvironmentBuildError(
            "docker",
            "the docker executor needs the docker SDK: pip install 'runyard-agent[docker]'",
        ) from None
    where = docker_host or DEFAULT_ENGINE
    try:
        client = docker.from_env(environment={"DOCKER_HOST": docker_host} if docker_host else {})
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EnvironmentBuildError(
            "docker",
            f"cannot reach the Docker engine at {where}: {exc}; start dockerd or point the "
            "agent at a running engine with --docker-host / DOCKER_HOST",
        ) from None
    return client


def engine_error(what: str, exc: Exception) -> EnvironmentBuildError:
    """An ``EnvironmentBuildError`` for a failed engine call, with the engine's own words."""
    explanation = getattr(exc, "explanation", None) or str(exc)
    return EnvironmentBuildError("docker", f"{what}: {explanation}")


def ensure_image(client: docker.DockerClient, name: str, note: Callable[[str], None]) -> Any:
    """Image ``name`` (a docker SDK ``Image``), pulled when the engine does not have it yet."""
    import docker

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as exc:
        raise engine_error(f"could not look up image {name!r}", exc) from None
    note(f"docker: image {name} is not on this engine; pulling it")
    try:
        return client.images.pull(name)
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or str(exc)
        raise EnvironmentBuildError(
            "image",
            f"image {name!r} is not on this agent's Docker engine and could not be pulled "
            f"({explanation}); push it to a registry the agent reaches, load it on the "
            "agent with `docker load`, or record the task with another image",
        ) from None


def labels(agent: str, task_id: str, role: str) -> dict[str, str]:
    """The labels every container of the agent carries, so a later start can find it."""
    return {LABEL_AGENT: agent, LABEL_TASK: task_id, LABEL_ROLE: role}


def remove_leftovers(client: docker.DockerClient, agent: str) -> int:
    """Remove every container an earlier agent named ``agent`` left behind; how many."""
    import docker

    found: list[Any] = client.containers.list(all=True, filters={"label": f"{LABEL_AGENT}={agent}"})
    for container in found:
        log.warning(
            "removing container %s of task %s left by an earlier agent",
            container.short_id,
            container.labels.get(LABEL_TASK, "?"),
        )
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            continue
    return len(found)


def image_path(image: Any) -> str | None:
    """The ``PATH`` an image sets in its config, if any."""
    for item in image.attrs.get("Config", {}).get("Env") or []:
        if item.startswith("PATH="):
            return str(item[len("PATH=") :])
    return None
