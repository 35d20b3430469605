"""Pipelines: a DAG of steps, each one task, and the runs of a pipeline.

A step is a clone of an existing task (``base``) with param overrides, or a script in a
repository (``script`` + ``environment``). Its ``params`` map ``"Section/key"`` paths to
values; a string value may hold references, resolved when the step is spawned:

- ``${params.NAME}`` — a pipeline parameter (the run's value, else the default);
- ``${STEP.metrics.SERIES}`` — the last value a completed ancestor logged to SERIES;
- ``${STEP.artifacts.NAME}`` — the ancestor's artifact, as the API path
  ``/api/v1/pipelines/runs/{run}/artifacts/{STEP}/{NAME}`` that the step's SDK downloads
  with its own task token (``runyard.download_artifact``).

A value that is exactly one reference takes the referenced value with its JSON type
(a metric stays a float); references inside a longer string are formatted into it.
"""

import functools
import graphlib
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from runyard.models.names import Name, TaskId, TaskName, is_valid_name, is_valid_series
from runyard.models.resources import Resources
from runyard.models.strict import Strict
from runyard.models.tasks import Environment, Script

MAX_STEPS = 500
"""Steps one pipeline may hold."""

MAX_STEP_RETRIES = 20

_STEP = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def _step_name(value: str) -> str:
    if not _STEP.fullmatch(value):
        raise ValueError(
            f"invalid step name {value!r}: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter (no '.': references are 'STEP.metrics.SERIES')"
        )
    return value


StepName = Annotated[str, AfterValidator(_step_name)]
"""A step's name, unique in its pipeline; references name steps with it."""

ParamName = StepName
"""A pipeline parameter's name (the same rule as a step's)."""


class Reference(BaseModel):
    """One parsed ``${...}`` reference."""

    kind: Literal["params", "metrics", "artifacts"]
    step: str | None = None
    """The referenced step (None for a pipeline parameter)."""
    name: str
    """The parameter, metric series or artifact name."""
    text: str
    """The reference as written, ``${...}`` included."""


class BadReference(ValueError):
    """Raised when a ``${...}`` reference is malformed; the message names it."""


def parse_reference(inner: str) -> Reference:
    """The reference ``${inner}``; BadReference when it is not one of the three forms."""
    text = "${" + inner + "}"
    head, _, rest = inner.partition(".")
    if head == "params":
        if not _STEP.fullmatch(rest):
            raise BadReference(f"{text}: expected ${{params.NAME}} with a parameter name")
        return Reference(kind="params", name=rest, text=text)
    kind, _, name = rest.partition(".")
    if not _STEP.fullmatch(head) or kind not in ("metrics", "artifacts"):
        raise BadReference(
            f"{text}: expected ${{params.NAME}}, ${{STEP.metrics.SERIES}} or "
            "${STEP.artifacts.NAME}"
        )
    valid = is_valid_series(name) if kind == "metrics" else is_valid_name(name)
    if not valid:
        raise BadReference(f"{text}: {name!r} is not a valid {kind[:-1]} name")
    return Reference(kind=kind, step=head, name=name, text=text)


def references(value: Any) -> list[Reference]:
    """Every reference in ``value`` (a string, or lists/dicts holding strings)."""
    if isinstance(value, str):
        return [parse_reference(inner) for inner in _REFERENCE.findall(value)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def substitute(value: Any, resolve: Callable[[Reference], Any]) -> Any:
    """``value`` with every reference replaced by ``resolve(Reference)``; a string that is
    exactly one reference becomes the resolved value itself (its JSON type kept)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return resolve(parse_reference(whole.group(1)))
        return _REFERENCE.sub(lambda m: str(resolve(parse_reference(m.group(1)))), value)
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]
    return value


class StepSpec(Strict):
    """One step: a task cloned from ``base``, or a ``script`` of a repository."""

    name: StepName
    base: TaskId | None = None
    """A task to clone (its code, environment and params), with ``params`` overriding."""
    script: Script | None = None
    """Or a script in a repository (with ``environment``): a new task per run."""
    environment: Environment | None = None
    parents: list[StepName] = Field(default_factory=list, max_length=MAX_STEPS)
    params: dict[str, Any] = Field(default_factory=dict)
    """``"Section/key"`` → value; strings may hold ``${...}`` references."""
    queue: Name | None = None
    """The queue the step's task goes to (None: the pipeline's ``queue``)."""
    resources: Resources | None = None
    """In place of the base task's resources (None: the base's, or none for a script)."""
    retries: int = Field(default=0, ge=0, le=MAX_STEP_RETRIES)
    """Fresh attempts after the step's task failed (a worker lost is requeued anyway)."""
    cache: bool = True
    """Reuse the results of an earlier completed step with the same content (see the
    module docstring of the server's ``store/pipeline_cache.py``)."""

    @field_validator("params")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            parts = path.split("/")
            if len(parts) < 2 or not all(parts):
                raise ValueError(f"step param {path!r} must look like 'Section/key'")
        references(value)  # raises on a malformed reference
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "StepSpec":
        if (self.base is None) == (self.script is None):
            raise ValueError(f"step {self.name}: give exactly one of base (a task) or script")
        if self.environment is not None and self.script is None:
            raise ValueError(f"step {self.name}: environment goes with script, not base")
        if self.script is not None and not self.script.entry_point:
            raise ValueError(f"step {self.name}: script needs an entry_point")
        if self.name in self.parents:
            raise ValueError(f"step {self.name} lists itself as a parent")
        if len(set(self.parents)) != len(self.parents):
            raise ValueError(f"step {self.name} lists a parent twice")
        return self


class FailurePolicy(StrEnum):
    """What a failed step (retries spent) does to the steps already running."""

    FINISH = "finish"
    """They run to their end; queued and waiting steps are aborted."""
    ABORT = "abort"
    """They are aborted too."""


class PipelineSpec(Strict):
    """``POST /pipelines``: a DAG of steps with pipeline parameters and their defaults."""

    name: TaskName
    project: Name = "default"
    params: dict[ParamName, Any] = Field(default_factory=dict)
    queue: Name = "default"
    """The queue of every step that names none."""
    on_failure: FailurePolicy = FailurePolicy.FINISH
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _dag(self) -> "PipelineSpec":
        names = [step.name for step in self.steps]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"two steps are named {name}")
            seen.add(name)
        for step in self.steps:
            unknown = [parent for parent in step.parents if parent not in seen]
            if unknown:
                raise ValueError(f"step {step.name}: parent {unknown[0]} is not a step")
        graph = self.graph()
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as error:
            cycle = " → ".join(error.args[1])
            raise ValueError(f"the steps form a cycle: {cycle}") from None
        # Each step's ancestors, parents first (one pass: a 200-step fan-in stays cheap).
        ancestors: dict[str, set[str]] = {}
        for name in order:
            ancestors[name] = set(graph[name]).union(*(ancestors[p] for p in graph[name]))
        for step in self.steps:
            self._check_references(step, ancestors[step.name])
        return self

    def graph(self) -> dict[str, list[str]]:
        """Step name → its parents."""
        return {step.name: list(step.parents) for step in self.steps}

    @functools.cached_property
    def order(self) -> list[str]:
        """The step names parents first (a topological order of the DAG)."""
        return list(graphlib.TopologicalSorter(self.graph()).static_order())

    def by_name(self) -> dict[str, StepSpec]:
        """Step name → step."""
        return {step.name: step for step in self.steps}

    def _check_references(self, step: StepSpec, ancestors: set[str]) -> None:
        for ref in references(step.params):
            if ref.kind == "params" and ref.name not in self.params:
                raise ValueError(
                    f"step {step.name}: {ref.text} names no pipeline parameter "
                    f"(declared: {', '.join(sorted(self.params)) or 'none'})"
                )
            if ref.step is not None and ref.step not in ancestors:
                raise ValueError(
                    f"step {step.name}: {ref.text} names {ref.step}, which is not one of its "
                    "ancestors (add it to parents)"
                )


class PipelineCreate(PipelineSpec):
    """``POST /pipelines``."""


class Pipeline(PipelineSpec):
    """A stored pipeline definition."""

    id: TaskId
    owner: str | None = None
    created: datetime


class PipelineRunRequest(Strict):
    """``POST /pipelines/{id}/runs`` and ``POST /pipelines/runs/{run}/clone``: pipeline
    parameters in place of the defaults (or of the cloned run's), and ``no_cache``."""

    params: dict[str, Any] = Field(default_factory=dict)
    no_cache: bool = False
    """Run every step, reusing no earlier result."""


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self is not RunStatus.RUNNING


class StepStatus(StrEnum):
    WAITING = "waiting"
    """Parents not completed yet."""
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"
    """Never started: the run failed or was aborted first."""

    @property
    def is_final(self) -> bool:
        return self in (
            StepStatus.COMPLETED,
            StepStatus.FAILED,
            StepStatus.ABORTED,
            StepStatus.SKIPPED,
        )


class StepState(BaseModel):
    """One step of a run."""

    name: str
    status: StepStatus = StepStatus.WAITING
    task: str | None = None
    """The task of the current attempt, or (a cache hit) the earlier task reused."""
    attempts: int = 0
    """Tasks spawned for the step so far (0 for a cache hit)."""
    tasks: list[str] = Field(default_factory=list)
    """Every task spawned for the step, one per attempt."""
    cache_hit: bool = False
    cached_from: str | None = None
    """The earlier task whose results this step reuses (a cache hit)."""
    cache_key: str | None = None
    """The content hash the step was looked up (and, completed, is stored) under."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The step's params with its references resolved (set at spawn)."""
    reason: str | None = None
    """Why the step failed, was aborted or skipped."""
    started: datetime | None = None
    finished: datetime | None = None


class PipelineRun(BaseModel):
    """One run of a pipeline."""

    id: TaskId
    pipeline: TaskId
    name: str
    project: str
    owner: str | None = None
    status: RunStatus
    params: dict[str, Any] = Field(default_factory=dict)
    """The pipeline parameters of this run (defaults with the request's values)."""
    no_cache: bool = False
    cloned_from: str | None = None
    """The run this one was cloned from."""
    reason: str | None = None
    """Why the run failed or was aborted."""
    created: datetime
    finished: datetime | None = None
    steps: list[StepState] = Field(default_factory=list)
    parents: dict[str, list[str]] = Field(default_factory=dict)
    """Step name → its parents (the DAG, for drawing it)."""


class PipelinePage(BaseModel):
    """``GET /pipelines``."""

    items: list[Pipeline]


class PipelineRunPage(BaseModel):
    """``GET /pipelines/runs``, newest first."""

    items: list[PipelineRun]
