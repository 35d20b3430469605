"""``client.sweeps``: hyperparameter sweeps over clones of a base task (``/sweeps``)."""

from __future__ import annotations

from typing import Any

from runyard.client._http import Retry, Transport, seg
from runyard.models import (
    CloneBestRequest,
    Sweep,
    SweepCreate,
    SweepCurves,
    SweepEvents,
    SweepPage,
    SweepStatus,
    SweepStop,
    SweepTrials,
    Task,
)


class Sweeps:
    """Create, read, stop and resume sweeps; their trials, curves and log."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, spec: SweepCreate) -> Sweep:
        """Start a sweep; its first ``parallel`` trials are queued at once.

        Retried only when the request surely did not arrive: a repeat could start a
        second sweep.
        """
        body = spec.model_dump(mode="json", exclude_unset=True)
        return self._http.call(Sweep, "POST", "/sweeps", body=body, retry=Retry.UNSENT)

    def get(self, sweep_id: str) -> Sweep:
        """The sweep ``sweep_id``; :class:`~runyard.errors.NotFoundError` when unknown."""
        return self._http.call(Sweep, "GET", f"/sweeps/{seg(sweep_id)}")

    def list(
        self,
        *,
        project: str | None = None,
        status: SweepStatus | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SweepPage:
        """One page of sweeps, newest first; pass ``next_cursor`` back as ``cursor``."""
        params: dict[str, Any] = {
            "project": project,
            "status": None if status is None else str(status),
            "limit": limit,
            "cursor": cursor,
        }
        return self._http.call(SweepPage, "GET", "/sweeps", params=params)

    def trials(self, sweep_id: str) -> SweepTrials:
        """Every trial so far, by trial number."""
        return self._http.call(SweepTrials, "GET", f"/sweeps/{seg(sweep_id)}/trials")

    def curves(self, sweep_id: str) -> SweepCurves:
        """Each trial's intermediate objective values by step (what the pruner saw)."""
        return self._http.call(SweepCurves, "GET", f"/sweeps/{seg(sweep_id)}/curves")

    def events(self, sweep_id: str) -> SweepEvents:
        """The sweep's log: what its controller did and why, oldest first."""
        return self._http.call(SweepEvents, "GET", f"/sweeps/{seg(sweep_id)}/events")

    def stop(self, sweep_id: str, reason: str | None = None) -> Sweep:
        """No new trials; the trials in flight are aborted; 409 when it is not running."""
        body = SweepStop(reason=reason).model_dump(mode="json", exclude_none=True)
        return self._http.call(Sweep, "POST", f"/sweeps/{seg(sweep_id)}/stop", body=body)

    def resume(self, sweep_id: str) -> Sweep:
        """Start a stopped sweep again: it spawns trials until ``trials`` have a result."""
        return self._http.call(Sweep, "POST", f"/sweeps/{seg(sweep_id)}/resume", body={})

    def clone_best(self, sweep_id: str, request: CloneBestRequest | None = None) -> Task:
        """A normal clone of the best trial's task (queued when ``request.queue`` is set).

        Retried only when the request surely did not arrive: a repeat could clone twice.
        """
        body = (request or CloneBestRequest()).model_dump(mode="json", exclude_unset=True)
        path = f"/sweeps/{seg(sweep_id)}/clone-best"
        return self._http.call(Task, "POST", path, body=body, retry=Retry.UNSENT)
