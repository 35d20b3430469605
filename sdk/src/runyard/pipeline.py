"""``runyard.Pipeline``: a DAG of steps defined in Python or YAML, run on the server.

```python
from runyard import Pipeline
p = Pipeline("nightly", params={"lr": 0.1}, queue="gpu")
p.add_step("prepare", base="3f2a…")
p.add_step("train", base="9c1d…", parents=["prepare"],
           params={"Args/lr": "${params.lr}", "Args/data": "${prepare.artifacts.data}"})
run = p.run(params={"lr": 0.05})
```

The same as YAML (``Pipeline.from_yaml``, ``runyard pipeline run -f pipeline.yaml``)::

    name: nightly
    params: {lr: 0.1}
    queue: gpu
    steps:
      - {name: prepare, base: 3f2a…}
      - name: train
        base: 9c1d…
        parents: [prepare]
        params: {Args/lr: "${params.lr}"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.models import Pipeline as StoredPipeline
from runyard.models import PipelineCreate, PipelineRun, StepSpec
from runyard.yaml_file import read_mapping

if TYPE_CHECKING:
    from runyard.client import Client


class Pipeline:
    """A pipeline being defined; :meth:`create` stores it, :meth:`run` runs it."""

    def __init__(
        self,
        name: str,
        *,
        project: str = "default",
        params: Mapping[str, Any] | None = None,
        queue: str = "default",
        on_failure: str = "finish",
        client: Client | None = None,
    ) -> None:
        self.name, self.project, self.queue, self.on_failure = name, project, queue, on_failure
        self.params = dict(params or {})
        self.steps: list[StepSpec] = []
        self.stored: StoredPipeline | None = None
        """The definition as the server stored it (after :meth:`create`)."""
        self._client = client

    def add_step(
        self,
        name: str,
        base: Any = None,
        *,
        parents: Iterable[str] = (),
        params: Mapping[str, Any] | None = None,
        script: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        queue: str | None = None,
        resources: Mapping[str, Any] | None = None,
        retries: int = 0,
        cache: bool = True,
    ) -> Pipeline:
        """Add a step: a clone of ``base`` (a task id, or a ``Task``) or a ``script`` of a
        repository (``{"repository", "commit", "entry_point", ...}``), started once every
        one of ``parents`` completed. ``params`` map ``"Section/key"`` to values, which
        may reference ``${params.NAME}``, ``${STEP.metrics.SERIES}`` and
        ``${STEP.artifacts.NAME}``. Returns the pipeline, so calls chain."""
        base_id = base if base is None or isinstance(base, str) else base.id
        step = StepSpec.model_validate(
            {
                "name": name,
                "base": base_id,
                "parents": list(parents),
                "params": dict(params or {}),
                "script": script,
                "environment": environment,
                "queue": queue,
                "resources": resources,
                "retries": retries,
                "cache": cache,
            }
        )
        self.steps.append(step)
        return self

    def spec(self) -> PipelineCreate:
        """The definition as the server takes it (its DAG and references checked here)."""
        return PipelineCreate.model_validate(
            {
                "name": self.name,
                "project": self.project,
                "params": self.params,
                "queue": self.queue,
                "on_failure": self.on_failure,
                "steps": [step.model_dump(exclude_none=True) for step in self.steps],
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], client: Client | None = None) -> Pipeline:
        """A pipeline from its YAML/JSON form (the fields of ``PipelineCreate``)."""
        spec = PipelineCreate.model_validate(data)
        pipeline = cls(
            spec.name,
            project=spec.project,
            params=spec.params,
            queue=spec.queue,
            on_failure=spec.on_failure.value,
            client=client,
        )
        pipeline.steps = list(spec.steps)
        return pipeline

    @classmethod
    def from_yaml(cls, path: str | Path, client: Client | None = None) -> Pipeline:
        """A pipeline from a YAML file (see the module docstring)."""
        data = read_mapping(path, "pipeline fields (name, params, steps)")
        return cls.from_dict(data, client)

    def create(self) -> StoredPipeline:
        """Store the definition on the server (once); returns it with its id."""
        if self.stored is None:
            self.stored = self._api().pipelines.create(self.spec())
        return self.stored

    def run(
        self, params: Mapping[str, Any] | None = None, *, no_cache: bool = False
    ) -> PipelineRun:
        """Start a run (storing the definition first if needed) with ``params`` over the
        defaults; its first steps are queued when this returns."""
        stored = self.create()
        return self._api().pipelines.run(stored.id, dict(params or {}), no_cache=no_cache)

    def _api(self) -> Client:
        if self._client is None:
            from runyard.client import Client

            self._client = Client()
        return self._client
