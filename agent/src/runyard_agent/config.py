"""The agent's one settings object, built once at the entry point and passed down.

Precedence, highest first: command-line flags, environment variables, the TOML file
given with ``--config`` (or ``RUNYARD_AGENT_CONFIG``), then the defaults. The server
URL and token read ``RUNYARD_SERVER`` and ``RUNYARD_TOKEN`` like the SDK does; every
other variable is ``RUNYARD_AGENT_<FIELD>`` (``RUNYARD_AGENT_QUEUES=gpu,cpu``).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from runyard.logship import SpoolSettings
from runyard.models.limits import MAX_WAIT_S
from runyard.models.names import Name
from runyard.models.workers import GANG_HOST_PATTERN
from runyard_agent.errors import EXIT_CONFIG
from runyard_agent.package_sources import DEFAULT_TORCH_INDEX, SecretUrl, TorchBackend

_CONFIG_ENV = "RUNYARD_AGENT_CONFIG"
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")

ExecutorKind = Literal["venv", "docker", "slurm"]


def default_name() -> str:
    """The host name, made into a valid worker name (letters, digits, ``.``, ``_``, ``-``)."""
    name = _NOT_NAME.sub("-", socket.gethostname()).strip("-._")[:64]
    return name or "agent"


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class AgentSettings(BaseSettings):
    """Everything a ``runyard-agent`` process is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="RUNYARD_AGENT_", extra="forbid", populate_by_name=True
    )

    server: str = Field(
        default="http://127.0.0.1:8008",
        validation_alias=AliasChoices("server", "RUNYARD_SERVER"),
        description="URL of the Runyard server",
    )
    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("token", "RUNYARD_TOKEN"),
        description="agent token the server accepts",
    )
    queues: Annotated[list[Name], NoDecode] = Field(default_factory=lambda: ["default"])
    name: Name = Field(default_factory=default_name)
    gpus: Annotated[list[int] | None, NoDecode] = Field(
        default=None, description="use only these GPU indices"
    )
    cpu_only: bool = False
    fake_gpus: int | None = Field(
        default=None, ge=0, le=64, description="pretend to have N GPUs (tests, demos)"
    )
    fake_gpus_json: str | None = Field(
        default=None,
        min_length=1,
        description="pretend GPUs described as JSON, or a JSON file re-read for foreign "
        "use (tests, demos; see runyard_agent.fake_gpus)",
    )
    gpu_busy_mb: int = Field(
        default=1024,
        ge=0,
        description="a GPU with more memory (MiB) than this in use by processes the agent "
        "did not start is busy: not handed out",
    )
    slots: int | None = Field(default=None, ge=1, le=1024)
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "runyard-agent")
    work_dir: Path | None = None
    abort_grace_s: float = Field(default=30.0, ge=0)
    drain_timeout_s: float | None = Field(
        default=None,
        ge=0,
        description="after the first SIGTERM, running tasks get this long to finish before "
        "they are stopped and given back to their queues (default: wait for them)",
    )
    poll_wait_s: float = Field(default=20.0, gt=0, le=MAX_WAIT_S)
    gang_host: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=GANG_HOST_PATTERN,
        description="the address other agents reach this one at, for multi-node tasks "
        "(MASTER_ADDR when it runs rank 0; default: the host name)",
    )
    executor: ExecutorKind = "venv"
    docker_image: str | None = Field(
        default=None, min_length=1, description="docker executor: image for tasks that name none"
    )
    docker_forbid_task_image: bool = Field(
        default=False, description="docker executor: always use docker_image"
    )
    docker_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("docker_host", "DOCKER_HOST"),
        description="Docker engine URL (default: the local socket)",
    )
    slurm_partition: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[A-Za-z0-9._,-]+$",
        description="slurm executor: the partition(s) jobs go to (default: the cluster's)",
    )
    slurm_account: str | None = Field(
        default=None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$", description="slurm: --account"
    )
    slurm_qos: str | None = Field(
        default=None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$", description="slurm: --qos"
    )
    slurm_sbatch_lines: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="slurm: more #SBATCH options for every job, e.g. --constraint=a100",
    )
    slurm_poll_s: float = Field(
        default=2.0, gt=0, le=60, description="slurm: seconds between squeue polls"
    )
    slurm_time_limit_s: int | None = Field(
        default=None, ge=1, description="slurm: every job's --time, in seconds (default: none)"
    )
    slurm_python: Path | None = Field(
        default=None,
        description="slurm: the Python with runyard-agent installed on the compute nodes "
        "(default: the agent's own, on the shared filesystem)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    spool_dir: Path | None = Field(
        default=None,
        description="where a task's console output waits on disk while the server is away "
        "(default: CACHE_DIR/spool)",
    )
    spool_quota_mb: int = Field(
        default=1024, ge=0, description="disk for one task's waiting output; past it lines drop"
    )
    # Package sources and caches (issue 11). Index URLs may carry credentials
    # (https://user:token@host/simple): set them in the agent's environment or settings
    # file; installers get them through environment variables and logs show them redacted.
    index_url: SecretUrl | None = Field(
        default=None, description="the default package index (instead of PyPI)"
    )
    extra_index_urls: Annotated[list[SecretUrl], NoDecode] = Field(
        default_factory=list, description="more package indexes, searched before index_url"
    )
    find_links: Annotated[list[SecretUrl], NoDecode] = Field(
        default_factory=list, description="folders or pages of wheels to install from"
    )
    indexes: dict[Name, SecretUrl] = Field(
        default_factory=dict,
        description="named indexes a task may ask for with environment.package_index",
    )
    torch_backend: TorchBackend = Field(
        default="auto",
        description="PyTorch build for tasks: auto (CUDA from the driver, else cpu), cpu, cuXYZ",
    )
    torch_index_url: SecretUrl = Field(
        default=SecretUrl(DEFAULT_TORCH_INDEX),
        description="where PyTorch builds come from; {backend} becomes cpu, cu121, ...",
    )
    fake_cuda: str | None = Field(
        default=None,
        pattern=r"^\d+\.\d+$",
        description="with fake_gpus: the CUDA version the fake driver reports (tests, demos)",
    )
    venv_cache_max_gb: float | None = Field(
        default=None, gt=0, description="evict least recently used venvs above this size"
    )
    min_free_gb: float | None = Field(
        default=None, ge=0, description="evict least recently used venvs to keep this much free"
    )
    config: Path | None = Field(default=None, exclude=True, description="TOML settings file")

    @field_validator(
        "queues", "gpus", "extra_index_urls", "find_links", "slurm_sbatch_lines", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("cache_dir", "work_dir", "spool_dir")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("server")
    @classmethod
    def _server_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"server {value!r} must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("queues")
    @classmethod
    def _some_queue(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one queue")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _docker_default_image(self) -> AgentSettings:
        if self.docker_forbid_task_image and not self.docker_image:
            raise ValueError("docker_forbid_task_image needs a docker_image to use instead")
        return self

    @property
    def work_root(self) -> Path:
        """Where per-task work directories are created."""
        return self.work_dir if self.work_dir is not None else self.cache_dir / "work"

    @property
    def log_spool(self) -> SpoolSettings:
        """Where each task's console output waits when the server does not take it."""
        return SpoolSettings(
            directory=self.spool_dir if self.spool_dir is not None else self.cache_dir / "spool",
            quota_bytes=self.spool_quota_mb * 1024 * 1024,
            memory_bytes=64 * 1024 * 1024,
        )

    @property
    def token_value(self) -> str | None:
        """The token as plain text, for the HTTP client and task environments."""
        return self.token.get_secret_value() if self.token else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path(init_settings)
        if path is None:
            return (init_settings, env_settings)
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))


def _config_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = None
    if isinstance(init_settings, InitSettingsSource):
        given = init_settings.init_kwargs.get("config")
    # The entry point builds the settings, so this read of the environment happens there.
    given = given or os.environ.get(_CONFIG_ENV)
    return Path(given).expanduser() if given else None


def settings_or_exit(build: Callable[[], AgentSettings]) -> AgentSettings:
    """``build()``, or exit with code 2 after printing each settings error (entry points)."""
    try:
        return build()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"runyard-agent: {where}: {error['msg']}", file=sys.stderr)
    except ValueError as exc:
        print(f"runyard-agent: {exc}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)
