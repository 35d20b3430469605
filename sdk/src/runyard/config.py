"""SDK configuration from the environment: where the server is and which token to send.

``RUNYARD_SERVER`` (default ``http://127.0.0.1:8008``; several replicas of one server
comma-separated, tried in turn when one does not answer), ``RUNYARD_TOKEN`` and, inside
a task an agent runs, ``RUNYARD_TASK_ID``. A local run's console output waits on disk
while the server is away: in ``RUNYARD_SPOOL_DIR`` (default: the system temp dir), up
to ``RUNYARD_SPOOL_QUOTA_MB`` (default 1024; 0 keeps it in memory only). A task given a
share of a GPU has ``RUNYARD_GPU_MEMORY_FRACTION``. Read once, at
the entry point, by :func:`load`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runyard._gpu_share import memory_fraction
from runyard.logship.spool import SpoolSettings
from runyard.models.routes import API_PREFIX

DEFAULT_SERVER = "http://127.0.0.1:8008"


@dataclass(frozen=True)
class Config:
    """Where the SDK talks to and as whom (``server``: one URL, or several comma-separated)."""

    server: str = DEFAULT_SERVER
    token: str | None = None
    task_id: str | None = None
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    gpu_memory_fraction: float | None = None
    """The share of a GPU the agent gave this task (``RUNYARD_GPU_MEMORY_FRACTION``)."""


def normalize_server(url: str) -> str:
    """``host:port`` or a URL with a trailing ``/`` or ``/api/v1`` → ``http(s)://host:port``;
    each of a comma-separated list likewise."""
    if "," in url:
        return ",".join(normalize_server(part) for part in url.split(",") if part.strip())
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def load(
    server: str | None = None,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Build a :class:`Config`: explicit arguments win over the environment, then defaults."""
    env = os.environ if env is None else env
    return Config(
        server=normalize_server(server or env.get("RUNYARD_SERVER") or DEFAULT_SERVER),
        token=token or env.get("RUNYARD_TOKEN") or None,
        task_id=env.get("RUNYARD_TASK_ID") or None,
        spool=_spool(env),
        gpu_memory_fraction=memory_fraction(env),
    )


def _spool(env: Mapping[str, str]) -> SpoolSettings:
    quota = env.get("RUNYARD_SPOOL_QUOTA_MB", "").strip()
    if quota and not quota.isdigit():
        raise ValueError(f"RUNYARD_SPOOL_QUOTA_MB must be a whole number of MB, not {quota!r}")
    directory = env.get("RUNYARD_SPOOL_DIR")
    return SpoolSettings(
        directory=Path(directory).expanduser() if directory else None,
        quota_bytes=int(quota or 1024) * 1024 * 1024,
    )
