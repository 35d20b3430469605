"""The images of ``deploy/`` built in the test Docker engine, on the test base image.

No registry is reachable, so ``PYTHON_IMAGE`` is the debootstrapped image of
``tests/docker_engine.py`` (its CA bundle lets pip reach PyPI), and Redis comes from
Debian's package on the same base. Builds use the host network (the test engine has no
default bridge) and the engine's layer cache: an unchanged tree rebuilds in seconds,
a changed ``sdk/``, ``agent/`` or ``server/`` reinstalls that image's packages.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from dataclasses import dataclass

import docker

from tests.ci import unavailable
from tests.docker_engine import REPO, ROOT, DockerEngine

SERVER_IMAGE = "runyard/server:0.1.0"
AGENT_IMAGE = "runyard/agent:0.1.0"
REDIS_IMAGE = "runyard-test-redis:bookworm-1"
_REDIS_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && install -d -o redis -g redis /data
"""


@dataclass(frozen=True)
class DeployImages:
    server: str
    agent: str
    redis: str
    build_s: float


def build_deploy_images(engine: DockerEngine) -> DeployImages:
    """Build (or take from the layer cache) the server, agent and test Redis images."""
    started = time.monotonic()
    for dockerfile, tag in (("Dockerfile.server", SERVER_IMAGE), ("Dockerfile.agent", AGENT_IMAGE)):
        _build(
            engine.client,
            tag,
            path=str(REPO),
            dockerfile=f"deploy/{dockerfile}",
            buildargs={"PYTHON_IMAGE": engine.image},
        )
    redis_image(engine)
    seconds = time.monotonic() - started
    (ROOT / "deploy-images-build-seconds").write_text(f"{seconds:.1f}\n")
    return DeployImages(SERVER_IMAGE, AGENT_IMAGE, REDIS_IMAGE, seconds)


def redis_image(engine: DockerEngine) -> str:
    """Debian's Redis on the test base image (built once, then taken from the engine)."""
    try:
        engine.client.images.get(REDIS_IMAGE)
    except docker.errors.ImageNotFound:
        dockerfile = io.BytesIO(_REDIS_DOCKERFILE.encode())
        _build(engine.client, REDIS_IMAGE, fileobj=dockerfile, buildargs={"BASE": engine.image})
    return REDIS_IMAGE


def _build(client: docker.DockerClient, tag: str, **kwargs: object) -> None:
    try:
        client.images.build(tag=tag, network_mode="host", rm=True, forcerm=True, **kwargs)
    except docker.errors.BuildError as exc:
        tail = "".join(str(step.get("stream", step.get("error", ""))) for step in exc.build_log)
        raise AssertionError(f"building {tag} failed: {exc}\n{tail[-4000:]}") from None


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin) when present, else Debian's ``docker-compose``."""
    cli = shutil.which("docker")
    if cli:
        probe = subprocess.run([cli, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [cli, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    unavailable("neither `docker compose` nor docker-compose is installed")
