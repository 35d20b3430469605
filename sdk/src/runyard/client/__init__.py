"""The Runyard HTTP client: ``Client().tasks``, ``.logs``, ``.metrics``, ``.artifacts``,
``.queues``, ``.workers``, ``.tokens``, ``.projects``, ``.pipelines``, ``.schedules``,
``.triggers``, ``.webhooks``, ``.sweeps``."""

from __future__ import annotations

from types import TracebackType

import requests

from runyard import config
from runyard.client._http import Transport
from runyard.client.audit import Audit
from runyard.client.automation import Schedules, Triggers, Webhooks
from runyard.client.bundles import Bundles
from runyard.client.logs import Logs
from runyard.client.pipelines import Pipelines
from runyard.client.projects import Projects
from runyard.client.queues import Queues
from runyard.client.quotas import Quotas
from runyard.client.results import Artifacts, Metrics
from runyard.client.sweeps import Sweeps
from runyard.client.tasks import Tasks
from runyard.client.tokens import Tokens
from runyard.client.users import Users
from runyard.client.workers import Workers
from runyard.errors import RunyardError

__all__ = ["Client"]


class Client:
    """Talks to one Runyard server (or to its replicas, in turn).

    ``server`` and ``token`` default to ``RUNYARD_SERVER`` (``http://127.0.0.1:8008``) and
    ``RUNYARD_TOKEN``; ``server`` may list replicas comma-separated, and a request that
    gets no answer from one is retried on the next. ``timeout`` is the connect and read
    timeout in seconds; ``retries`` how many times a transient failure (connection error,
    timeout, 5xx, 429) is retried, waiting a random time up to ``backoff`` seconds, a
    ceiling that doubles each time (full jitter, :mod:`runyard.retry`).
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 5,
        *,
        backoff: float = 0.5,
    ) -> None:
        cfg = config.load(server=server, token=token)
        self.server = cfg.server
        self._http = Transport(
            cfg.server, cfg.token, timeout=timeout, retries=retries, backoff=backoff
        )
        self.tasks = Tasks(self._http)
        self.logs = Logs(self._http, self.tasks)
        self.metrics = Metrics(self._http)
        self.artifacts = Artifacts(self._http)
        self.bundles = Bundles(self._http)
        self.queues = Queues(self._http)
        self.quotas = Quotas(self._http)
        self.workers = Workers(self._http)
        self.tokens = Tokens(self._http)
        self.users = Users(self._http)
        self.projects = Projects(self._http)
        self.audit = Audit(self._http)
        self.pipelines = Pipelines(self._http)
        self.schedules = Schedules(self._http)
        self.triggers = Triggers(self._http)
        self.webhooks = Webhooks(self._http)
        self.sweeps = Sweeps(self._http)

    def health(self) -> bool:
        """True when the server answers ``/healthz`` with ok, on the first try; never raises."""
        try:
            body = self._http.send("GET", "/healthz", retries=0).json()
        except (RunyardError, ValueError, requests.RequestException):
            return False
        return isinstance(body, dict) and body.get("status") == "ok"

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
