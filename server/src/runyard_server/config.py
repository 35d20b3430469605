"""The server's one settings object, built by the CLI (or a test) and passed down."""

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Role = Literal["user", "agent"]


class ApiToken(BaseModel):
    role: Role
    token: str


def parse_token(spec: str) -> ApiToken:
    """``user:SECRET``, ``agent:SECRET`` or a bare ``SECRET`` (a user token)."""
    role, sep, secret = spec.partition(":")
    if sep and role in ("user", "agent"):
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

    host: str = "127.0.0.1"
    port: int = Field(default=8008, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    redis_url: str | None = None
    tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    lease_s: float = Field(default=30.0, gt=0)
    first_lease_s: float = Field(default=15.0, gt=0)
    local_lease_s: float = Field(default=300.0, gt=0)
    reap_interval_s: int = Field(default=1, ge=1)
    redis_fsync: Literal["always", "everysec", "no"] = "everysec"
    jobs: bool = True
    event_retry_s: float = Field(default=10.0, gt=0)
    history_sweep_s: float = Field(default=600.0, gt=0)
    history_retention_days: float | None = Field(default=None, gt=0)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [parse_token(v.strip()) if isinstance(v, str) else v for v in value]
        return value

    def to_env(self) -> dict[str, str]:
        """These settings as ``RUNYARD_*`` variables, for worker processes to rebuild them."""
        env = {
            f"RUNYARD_{name.upper()}": str(value)
            for name, value in self.model_dump(exclude={"tokens"}).items()
            if value is not None
        }
        env["RUNYARD_TOKENS"] = ",".join(f"{t.role}:{t.token}" for t in self.tokens)
        return env

    @property
    def artifact_dir(self) -> Path:
        """Artifact files; share this folder between replicas (e.g. a ReadWriteMany volume)."""
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
