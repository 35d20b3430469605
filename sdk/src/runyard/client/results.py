"""``client.metrics`` and ``client.artifacts``: what a run produced."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.client._download import download_checked
from runyard.client._http import Retry, Transport, seg
from runyard.errors import ProtocolError, TooLargeError
from runyard.models import API_PREFIX, Artifact, MetricBatch, TaskMetrics
from runyard.models.limits import MAX_ARTIFACT_BYTES

_CHUNK = 1024 * 1024


class Metrics:
    """Metric series of a task (``/tasks/{id}/metrics``)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def append(self, task_id: str, batch: MetricBatch, *, retries: int | None = None) -> int:
        """Store every point of ``batch`` or none; returns how many were stored.

        Retried only when the batch surely did not arrive, since the server does not
        deduplicate points: an ambiguous failure is raised for the caller to decide.
        """
        reply = self._http.send(
            "POST",
            f"/tasks/{seg(task_id)}/metrics",
            body=batch,
            retry=Retry.UNSENT,
            retries=retries,
        ).json()
        if not isinstance(reply, dict) or not isinstance(reply.get("accepted"), int):
            raise ProtocolError(f"unexpected reply to a metric batch: {reply!r}")
        return int(reply["accepted"])

    def read(self, task_id: str) -> TaskMetrics:
        """Every series with its points in logging order, and each series' last value."""
        return self._http.call(TaskMetrics, "GET", f"/tasks/{seg(task_id)}/metrics")


class Artifacts:
    """Files a task stored on the server (``/tasks/{id}/artifacts``)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self, task_id: str) -> list[Artifact]:
        """The task's artifacts, with sizes and sha256 checksums."""
        return self._http.call_list(Artifact, "GET", f"/tasks/{seg(task_id)}/artifacts")

    def upload(self, task_id: str, name: str, path: str | os.PathLike[str]) -> Artifact:
        """Upload the file at ``path`` as artifact ``name``, replacing one of that name.

        Raises :class:`~runyard.errors.TooLargeError` before sending a file over the
        limit, and ``OSError`` when the file cannot be read.
        """
        source = Path(path)
        size = source.stat().st_size
        if size > MAX_ARTIFACT_BYTES:
            raise TooLargeError(
                413,
                "too_large",
                f"artifact {name!r} is {size} bytes, over the {MAX_ARTIFACT_BYTES}-byte limit",
            )
        return self._http.call(
            Artifact,
            "POST",
            f"/tasks/{seg(task_id)}/artifacts/{seg(name)}",
            content=lambda: source.open("rb"),
            read_timeout=max(self._http.timeout, 60.0),
        )

    def download(self, task_id: str, name: str, dest: str | os.PathLike[str]) -> Path:
        """Save artifact ``name`` to ``dest`` (a file, or an existing folder to put it in).

        The file appears complete or not at all, and its sha256 is checked against
        the server's record.
        """
        target = Path(dest)
        if target.is_dir():
            target = target / name
        path = f"/tasks/{seg(task_id)}/artifacts/{seg(name)}"
        return download_checked(self._http, path, target, f"artifact {name!r} of task {task_id}")

    def download_reference(self, reference: str, dest: str | os.PathLike[str]) -> Path:
        """Save the artifact a pipeline step was given for an ``${STEP.artifacts.NAME}``
        reference (an API path) to ``dest`` (a file, or an existing folder), as
        :meth:`download` does; a step's task token may read it."""
        path = reference.removeprefix(API_PREFIX)
        if not path.startswith("/pipelines/runs/") or "/artifacts/" not in path:
            raise ValueError(f"{reference!r} is not a pipeline artifact reference")
        target = Path(dest)
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        return download_checked(self._http, path, target, f"artifact {reference}")
