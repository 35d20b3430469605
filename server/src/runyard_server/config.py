"""The server's one settings object, built by the CLI (or a test) and passed down."""

import ipaddress
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runyard_server.s3_location import S3Location

# metrics: a scraper's credential, good for ``GET /metrics`` and nothing else.
Role = Literal["user", "agent", "metrics"]


class ApiToken(BaseModel):
    role: Role
    token: str


def parse_token(spec: str) -> ApiToken:
    """``user:SECRET``, ``agent:SECRET``, ``metrics:SECRET`` or a bare ``SECRET`` (a user token)."""
    role, sep, secret = spec.partition(":")
    if sep and role in ("user", "agent", "metrics"):
        token = ApiToken(role=role, token=secret)
    else:
        token = ApiToken(role="user", token=spec)
    if len(token.token) < 8:
        raise ValueError("a token must be at least 8 characters long")
    return token


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "runyard"


class Settings(BaseSettings):
    """Every knob of ``runyard-server``; environment variables are ``RUNYARD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RUNYARD_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8008, ge=0, le=65535, description="port to listen on")
    data_dir: Path = Field(default_factory=default_data_dir, description="embedded Redis data")
    redis_url: str | None = Field(
        default=None, description="use this Redis instead of the embedded one"
    )
    # Kept apart from the URL so a Kubernetes Secret or an env file can hold just it;
    # merged into redis_url, which every Redis client of the server is built from.
    redis_password: str | None = Field(
        default=None,
        repr=False,
        description="password of --redis-url's Redis, or of every Redis the sentinels name",
    )
    # Redis Sentinel and replication (issue 16): one block, read by redis_client.py.
    redis_sentinel: str | None = Field(
        default=None,
        description=(
            "Redis Sentinel addresses HOST:PORT[,HOST:PORT...]: ask them for the master of "
            "--redis-master (instead of --redis-url) and follow its failovers"
        ),
    )
    redis_master: str | None = Field(
        default=None, description="the master's name in the sentinels' configuration"
    )
    redis_sentinel_password: str | None = Field(
        default=None, repr=False, description="password of the sentinels, if they have one"
    )
    redis_min_replicas_ack: int = Field(
        default=0,
        ge=0,
        description=(
            "answer a state-changing request only once this many replicas have its writes "
            "(Redis WAIT), so a failover cannot lose it; 0: once the master has them"
        ),
    )
    redis_ack_timeout_ms: int = Field(
        default=2000,
        ge=1,
        description="how long a write waits for --redis-min-replicas-ack before a 503",
    )
    redis_cluster: bool = Field(
        default=False,
        description="--redis-url names a node of a Redis Cluster: use a cluster client",
    )
    tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    # A file keeps the secrets out of `ps` and shell history; merged into tokens.
    token_file: Path | None = Field(
        default=None,
        description="read tokens from this file: one ROLE:SECRET a line, # comments",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "host names the server answers to besides localhost, 127.0.0.1, [::1] and "
            "--host (comma-separated); without tokens, or when given, any other Host "
            "header is refused"
        ),
    )
    lease_s: float = Field(default=30.0, gt=0, description="task lease in seconds")
    first_lease_s: float = Field(
        default=15.0, gt=0, description="lease until the agent reports started"
    )
    gang_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "how long a multi-node task's gang may take to gather its agents before they "
            "are released and the task waits in its queue again"
        ),
    )
    local_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="lease of a script run on a user's machine, kept alive by its pings",
    )
    reap_interval_s: int = Field(default=1, ge=1, description="seconds between lease reaper runs")
    redis_fsync: Literal["always", "everysec", "no"] = Field(
        default="everysec",
        description=(
            "embedded Redis appendfsync. everysec: nothing acknowledged is lost when Redis "
            "or the server is killed, but a machine crash or power loss can lose about the "
            "last second of writes; always: fsync before every reply, none lost (slower "
            "writes); no: the OS decides when (up to ~30 s at risk)"
        ),
    )
    storage: str | None = Field(
        default=None,
        description=(
            "keep artifacts and history in s3://BUCKET/PREFIX (credentials from the AWS "
            "environment and config files) instead of the data dir"
        ),
    )
    storage_endpoint_url: str | None = Field(
        default=None,
        description="the S3 endpoint of a non-AWS store (MinIO, Ceph, ...), e.g. http://minio:9000",
    )
    preempt_after_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "seconds a task waits before it may preempt a lower-priority task of a "
            "preemptible queue (a free slot gets the chance first)"
        ),
    )
    preempt_window_s: float = Field(
        default=1800.0,
        ge=0,
        description="a task preempted twice within this many seconds is not preempted again",
    )
    preempt_hold_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "seconds the worker of a preempted task claims only for the preemptor (its "
            "victim gets the agent's abort grace to stop first)"
        ),
    )
    jobs: bool = True
    event_retry_s: float = Field(
        default=10.0,
        gt=0,
        description="seconds before a failed or abandoned event job (archiving) runs again",
    )
    schedule_tick_s: float = Field(
        default=1.0, gt=0, le=60, description="seconds between checks for due schedules"
    )
    webhook_allow_private: bool = Field(
        default=False,
        description=(
            "let webhooks reach loopback, link-local and private addresses (refused by "
            "default, so a webhook cannot probe the server's own network)"
        ),
    )
    webhook_retry_s: float = Field(
        default=10.0,
        gt=0,
        description="seconds before a failed webhook delivery's first retry (then doubling)",
    )
    webhook_give_up_s: float = Field(
        default=86400.0, gt=0, description="seconds a webhook delivery is retried before it fails"
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="seconds a webhook receiver has to answer"
    )
    history_sweep_s: float = Field(
        default=600.0,
        gt=0,
        description="seconds between sweeps for final tasks no event archived",
    )
    history_retention_days: float | None = Field(
        default=None,
        gt=0,
        description=(
            "drop the console output and metric series (not the record or final metrics) "
            "of tasks finished more than this many days ago (unset: keep forever)"
        ),
    )
    audit_live_days: float = Field(
        default=7.0,
        gt=0,
        description=(
            "days the audit trail stays in Redis; older entries move to the audit archive "
            "beside the history store (every history sweep)"
        ),
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes; each holds its own long-poll dispatcher",
    )
    log_level: str = Field(default="info", description="uvicorn log level")

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [parse_token(v.strip()) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _tokens_from_file(self) -> Self:
        if self.token_file is None:
            return self
        try:
            text = self.token_file.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read token_file {self.token_file}: {exc.strerror}") from None
        lines = (line.strip() for line in text.splitlines())
        self.tokens = [*self.tokens, *(parse_token(x) for x in lines if x and x[0] != "#")]
        # Read once: worker processes get the tokens themselves (to_env), not the file.
        self.token_file = None
        return self

    @field_validator("redis_sentinel")
    @classmethod
    def _check_sentinels(cls, value: str | None) -> str | None:
        if value is not None:
            sentinel_addresses(value)
        return value

    @model_validator(mode="after")
    def _sentinel_or_url(self) -> Self:
        if self.redis_sentinel and self.redis_url:
            raise ValueError("give redis_url or redis_sentinel, not both")
        if bool(self.redis_sentinel) != bool(self.redis_master):
            raise ValueError("redis_sentinel and redis_master go together: set both")
        if self.redis_min_replicas_ack and not self.external_redis:
            raise ValueError(
                "redis_min_replicas_ack needs a Redis with replicas (redis_sentinel or "
                "redis_url); the embedded Redis has none, so no write could be acknowledged"
            )
        return self

    @model_validator(mode="after")
    def _cluster_needs_url(self) -> Self:
        if self.redis_cluster and not self.redis_url:
            raise ValueError("redis_cluster needs redis_url: a node of the cluster")
        return self

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, value: str | None) -> str | None:
        if value is not None:
            S3Location.parse(value)
        return value

    @model_validator(mode="after")
    def _password_into_url(self) -> Self:
        # Behind Sentinel the password stays apart: every master and replica it names has it.
        if not self.redis_password or self.redis_sentinel:
            return self
        if not self.redis_url:
            raise ValueError(
                "redis_password is for an external Redis: set redis_url too "
                "(the embedded Redis makes its own password)"
            )
        self.redis_url = with_password(self.redis_url, self.redis_password)
        self.redis_password = None
        return self

    def to_env(self) -> dict[str, str]:
        """These settings as ``RUNYARD_*`` variables, for worker processes to rebuild them."""
        env = {
            f"RUNYARD_{name.upper()}": str(value)
            for name, value in self.model_dump(exclude={"tokens", "allowed_hosts"}).items()
            if value is not None
        }
        env["RUNYARD_ALLOWED_HOSTS"] = ",".join(self.allowed_hosts)
        env["RUNYARD_TOKENS"] = ",".join(f"{t.role}:{t.token}" for t in self.tokens)
        return env

    @property
    def external_redis(self) -> bool:
        """Whether the server uses a Redis it did not start (a URL or a Sentinel set)."""
        return bool(self.redis_url or self.redis_sentinel)

    @property
    def artifact_dir(self) -> Path:
        """Artifact files without --storage; replicas then share this folder (a ReadWriteMany
        volume), with --storage they share the bucket instead."""
        return self.data_dir / "artifacts"

    @property
    def history_dir(self) -> Path:
        """Archived console output and metric series of final tasks (the history store)."""
        return self.data_dir / "history"

    @property
    def alive_after_s(self) -> float:
        """A worker is alive while its last heartbeat is younger than three leases."""
        return 3 * self.lease_s

    def check_exposure(self) -> None:
        """Refuse to listen beyond loopback without tokens; say what to set."""
        if self.tokens or is_loopback(self.host):
            return
        raise ValueError(
            f"refusing to listen on {self.host} without tokens: anyone who can reach it could "
            "run code on your agents. Set --token user:SECRET --token agent:SECRET "
            "(or RUNYARD_TOKENS=user:SECRET,agent:SECRET), or listen on 127.0.0.1."
        )


def sentinel_addresses(spec: str) -> list[tuple[str, int]]:
    """``HOST:PORT,HOST:PORT`` as pairs; a ValueError names the entry that is not one."""
    addresses = []
    for entry in (part.strip() for part in spec.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not HOST:PORT (a sentinel's address)")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in it (quoted), replacing any password it had."""
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
