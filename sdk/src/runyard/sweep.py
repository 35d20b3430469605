"""``Sweep``: a hyperparameter search over clones of one base task, from Python.

::

    sweep = Sweep.create(
        base.id,
        {"Args/lr": "loguniform(1e-4,1e-1)", "Args/layers": "int(1,4)"},
        objective="val/acc", direction="max", trials=60, parallel=8, queue="gpu",
        pruner="median",
    )
    sweep.wait()
    print(sweep.best())                     # number, task id, value and params
    rerun = sweep.clone_best(queue="gpu")   # a normal task, parent the best trial

The same spec can live in a YAML file whose keys are :class:`~runyard.models.SweepCreate`'s
fields (``Sweep.from_file("sweep.yaml")``, ``runyard sweep create -f sweep.yaml``).
The search itself runs on the server: this handle only starts, reads and stops it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runyard.client import Client
from runyard.models import (
    CloneBestRequest,
    PrunerKind,
    PrunerOptions,
    SamplerKind,
    SamplerOptions,
    SweepBest,
    SweepCreate,
    SweepStatus,
    SweepTrial,
)
from runyard.models import Sweep as SweepRecord
from runyard.task import Task
from runyard.yaml_file import read_mapping


class Sweep:
    """A sweep on a Runyard server: its record, trials and best result, stop and resume.

    Get one with :meth:`create`, :meth:`from_file` or :meth:`get`.
    """

    def __init__(self, client: Client, record: SweepRecord) -> None:
        self._client = client
        self._record = record

    # --- getting a sweep ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        base: str | Task,
        params: Mapping[str, str],
        objective: str,
        *,
        queue: str,
        direction: str = "min",
        trials: int = 20,
        parallel: int = 1,
        sampler: SamplerKind | str = SamplerKind.TPE,
        pruner: PrunerKind | str = PrunerKind.NONE,
        sampler_options: SamplerOptions | Mapping[str, Any] | None = None,
        pruner_options: PrunerOptions | Mapping[str, Any] | None = None,
        max_time_s: float | None = None,
        seed: int | None = None,
        name: str | None = None,
        priority: int = 0,
        server: str | None = None,
        token: str | None = None,
    ) -> Sweep:
        """Start a sweep over clones of ``base`` (a task or its id).

        ``params`` maps ``"Section/key"`` to a distribution: ``uniform(lo,hi)``,
        ``loguniform(lo,hi)``, ``int(lo,hi)`` or ``choice(a,b,...)``; each key must be a
        param the base recorded. Each trial's result is the last value of the
        ``objective`` series it logged, ``direction`` ``min`` or ``max``.
        """
        fields: dict[str, Any] = {
            "base": base,
            "params": dict(params),
            "objective": objective,
            "queue": queue,
            "direction": direction,
            "trials": trials,
            "parallel": parallel,
            "sampler": sampler,
            "pruner": pruner,
            "sampler_options": sampler_options,
            "pruner_options": pruner_options,
            "max_time_s": max_time_s,
            "seed": seed,
            "name": name,
            "priority": priority,
        }
        return cls.start(fields, server=server, token=token)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        overrides: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
        token: str | None = None,
    ) -> Sweep:
        """Start the sweep a YAML file describes, with ``overrides`` on its fields."""
        return cls.start({**read_spec(path), **(overrides or {})}, server=server, token=token)

    @classmethod
    def start(
        cls, fields: Mapping[str, Any], *, server: str | None = None, token: str | None = None
    ) -> Sweep:
        """Start a sweep from :class:`~runyard.models.SweepCreate`'s fields (None values are
        left out); ``base`` may be a :class:`~runyard.task.Task` or a short task id."""
        client = Client(server, token)
        spec = spec_from(client, fields)
        return cls(client, client.sweeps.create(spec))

    @classmethod
    def get(cls, sweep_id: str, *, server: str | None = None, token: str | None = None) -> Sweep:
        """The sweep ``sweep_id``; :class:`~runyard.errors.NotFoundError` when unknown."""
        client = Client(server, token)
        return cls(client, client.sweeps.get(sweep_id))

    # --- what the sweep is --------------------------------------------------------------

    @property
    def id(self) -> str:
        """The sweep id."""
        return self._record.id

    @property
    def record(self) -> SweepRecord:
        """The sweep record as last read from the server (see :meth:`refresh`)."""
        return self._record

    @property
    def status(self) -> SweepStatus:
        """The status as last read; :meth:`refresh` reads it again."""
        return self._record.status

    def refresh(self) -> SweepRecord:
        """Read the record from the server again."""
        self._record = self._client.sweeps.get(self.id)
        return self._record

    def trials(self) -> list[SweepTrial]:
        """Every trial so far, by trial number."""
        return self._client.sweeps.trials(self.id).trials

    def best(self) -> SweepBest | None:
        """The best completed trial so far (None before one completes)."""
        return self.refresh().best

    # --- changing it --------------------------------------------------------------------

    def stop(self, reason: str | None = None) -> Sweep:
        """No new trials; the trials in flight are aborted. Returns self, refreshed."""
        self._record = self._client.sweeps.stop(self.id, reason)
        return self

    def resume(self) -> Sweep:
        """Start a stopped sweep again. Returns self, refreshed."""
        self._record = self._client.sweeps.resume(self.id)
        return self

    def clone_best(
        self, *, queue: str | None = None, name: str | None = None, priority: int = 0
    ) -> Task:
        """A normal clone of the best trial's task, queued on ``queue`` when given."""
        request = CloneBestRequest(name=name, queue=queue, priority=priority)
        return Task(self._client, self._client.sweeps.clone_best(self.id, request))

    def wait(self, timeout: float | None = None, poll_s: float = 2.0) -> Sweep:
        """Poll until the sweep is done, stopped or failed; TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh().status is SweepStatus.RUNNING:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"sweep {self.id} is still running after {timeout}s")
            time.sleep(poll_s)
        return self

    def __repr__(self) -> str:
        return f"<Sweep {self.id} {self.status.value}>"


def read_spec(path: str | Path) -> dict[str, Any]:
    """The fields of a sweep YAML file (a mapping with :class:`SweepCreate`'s keys);
    ValueError, saying what is wrong, when it cannot be read or is not one."""
    return read_mapping(path, "sweep fields (base, params, ...)")


def spec_from(client: Client, fields: Mapping[str, Any]) -> SweepCreate:
    """A :class:`SweepCreate` from its fields, None values left out (the model's defaults
    then hold) and the base made a full task id (a task, or a short id the server knows)."""
    given = {k: v for k, v in fields.items() if v is not None}
    base = given.get("base")
    if isinstance(base, Task):
        given["base"] = base.record.id
    elif isinstance(base, str):
        given["base"] = client.tasks.get(base).id
    return SweepCreate.model_validate(given)
