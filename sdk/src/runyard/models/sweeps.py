"""Sweeps: a search algorithm cloning one base task with sampled params.

A sweep names its search space as ``"Section/key" → distribution text``:

- ``uniform(lo,hi)`` and ``uniform(lo,hi,step)``: a float in [lo, hi] (on a grid of ``step``)
- ``loguniform(lo,hi)``: a float in [lo, hi], uniform in log space (lo > 0)
- ``int(lo,hi)`` and ``int(lo,hi,step)``: an integer in [lo, hi], both included
- ``choice(a,b,...)``: one of the listed values (numbers, true/false, or strings,
  quoted or bare)

Each trial is an ordinary task, a clone of the base with the sampled values; its
objective is the last value of the objective series it logged, and the intermediate
values of that series (by step) feed the pruner.
"""

import json
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from runyard.models.limits import MAX_PRIORITY, MIN_PRIORITY
from runyard.models.names import Name, SeriesName, TaskId, TaskName
from runyard.models.strict import Strict

MAX_SWEEP_TRIALS = 10_000
MAX_SWEEP_PARALLEL = 256
MAX_SWEEP_PARAMS = 64
MAX_CHOICES = 1_000

_CALL = re.compile(r"\s*([a-z]+)\s*\((.*)\)\s*", re.DOTALL)
DistributionKind = Literal["uniform", "loguniform", "int", "choice"]
ChoiceValue = bool | int | float | str


class Distribution(BaseModel):
    """One parsed search dimension (``parse_distribution`` builds it from text)."""

    kind: DistributionKind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: list[ChoiceValue] = Field(default_factory=list)

    @property
    def finite(self) -> bool:
        """True when the dimension has finitely many values (what a grid needs)."""
        return self.kind in ("int", "choice") or self.step is not None

    def grid(self) -> list[ChoiceValue]:
        """Every value of a finite dimension, in order."""
        if self.kind == "choice":
            return list(self.choices)
        assert self.low is not None and self.high is not None and self.step is not None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        values: list[ChoiceValue] = [self.low + i * self.step for i in range(count)]
        if self.kind == "int":
            return [int(v) for v in values]
        return values


def _choice_value(text: str) -> ChoiceValue:
    text = text.strip()
    if not text:
        raise ValueError("a choice is empty")
    if text[0] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            raise ValueError(f"unterminated string {text!r}")
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"choice {text!r} is not a finite number")
    if isinstance(value, (int, float)):
        return value
    return text


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text.strip()!r} is not a finite number")
    return value


def _split_choices(body: str) -> list[str]:
    """Split on commas outside quotes."""
    parts, current, quote = [], [], ""
    for char in body:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote:
        raise ValueError("unterminated string in choice(...)")
    parts.append("".join(current))
    return parts


def parse_distribution(text: str) -> Distribution:
    """Parse ``"loguniform(1e-4,1e-1)"`` and friends; a ValueError says what is wrong."""
    match = _CALL.fullmatch(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a distribution: use uniform(lo,hi), loguniform(lo,hi), "
            "int(lo,hi) or choice(a,b,...)"
        )
    kind, body = match.group(1), match.group(2)
    if kind == "choice":
        choices = [_choice_value(part) for part in _split_choices(body)]
        if not 1 <= len(choices) <= MAX_CHOICES:
            raise ValueError(f"choice(...) takes 1 to {MAX_CHOICES} values")
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ValueError(f"choice(...) lists a value twice in {text!r}")
        return Distribution(kind="choice", choices=choices)
    if kind not in ("uniform", "loguniform", "int"):
        raise ValueError(f"unknown distribution {kind!r}: use uniform, loguniform, int or choice")
    args = body.split(",")
    if len(args) not in (2, 3) or (kind == "loguniform" and len(args) != 2):
        usage = "(lo,hi)" if kind == "loguniform" else "(lo,hi) or (lo,hi,step)"
        raise ValueError(f"{kind} takes {usage}, got {text!r}")
    low, high = _number(args[0], "low"), _number(args[1], "high")
    step = _number(args[2], "step") if len(args) == 3 else None
    if kind == "int" and any(v is not None and v != int(v) for v in (low, high, step)):
        raise ValueError(f"int(...) takes whole numbers, got {text!r}")
    if kind == "int" and step is None:
        step = 1.0
    if low >= high:
        raise ValueError(f"low must be below high in {text!r}")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"loguniform needs low > 0, got {text!r}")
    if step is not None and (step <= 0 or step > high - low):
        raise ValueError(f"step must be positive and at most high - low in {text!r}")
    return Distribution(kind=kind, low=low, high=high, step=step)


def _check_space(space: dict[str, str]) -> dict[str, str]:
    if not 1 <= len(space) <= MAX_SWEEP_PARAMS:
        raise ValueError(f"a sweep searches 1 to {MAX_SWEEP_PARAMS} params")
    for path, text in space.items():
        parts = path.split("/")
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"param {path!r} must look like 'Section/key'")
        try:
            parse_distribution(text)
        except ValueError as exc:
            raise ValueError(f"param {path!r}: {exc}") from None
    return space


SearchSpace = Annotated[dict[str, str], AfterValidator(_check_space)]
"""``"Section/key" → distribution text``, each checked by ``parse_distribution``."""


class SamplerKind(StrEnum):
    RANDOM = "random"
    GRID = "grid"
    TPE = "tpe"
    CMAES = "cmaes"


class PrunerKind(StrEnum):
    NONE = "none"
    MEDIAN = "median"
    ASHA = "asha"
    HYPERBAND = "hyperband"


class SamplerOptions(Strict):
    """Knobs of the sampler; each one applies to the samplers its description names."""

    n_startup_trials: int | None = Field(
        default=None, ge=0, le=MAX_SWEEP_TRIALS, description="tpe, cmaes: random trials first"
    )
    multivariate: bool | None = Field(
        default=None, description="tpe: model the params jointly (default false)"
    )
    sigma0: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="cmaes: initial step size"
    )


_SAMPLER_OPTIONS: dict[SamplerKind, frozenset[str]] = {
    SamplerKind.RANDOM: frozenset(),
    SamplerKind.GRID: frozenset(),
    SamplerKind.TPE: frozenset({"n_startup_trials", "multivariate"}),
    SamplerKind.CMAES: frozenset({"n_startup_trials", "sigma0"}),
}


class PrunerOptions(Strict):
    """Knobs of the pruner; each one applies to the pruners its description names."""

    n_startup_trials: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SWEEP_TRIALS,
        description="median: trials that finish before any is pruned (default 5)",
    )
    n_warmup_steps: int | None = Field(
        default=None, ge=0, description="median: steps of a trial before it may be pruned"
    )
    interval_steps: int | None = Field(
        default=None, ge=1, description="median: prune only at every this many steps"
    )
    min_resource: int | None = Field(
        default=None, ge=1, description="asha, hyperband: steps before the first rung"
    )
    max_resource: int | None = Field(
        default=None, ge=1, description="hyperband: steps of a full trial (default: learned)"
    )
    reduction_factor: int | None = Field(
        default=None, ge=2, le=100, description="asha, hyperband: keep 1 in this many (default 3)"
    )
    min_early_stopping_rate: int | None = Field(
        default=None, ge=0, le=20, description="asha: rungs skipped before pruning"
    )


_PRUNER_OPTIONS: dict[PrunerKind, frozenset[str]] = {
    PrunerKind.NONE: frozenset(),
    PrunerKind.MEDIAN: frozenset({"n_startup_trials", "n_warmup_steps", "interval_steps"}),
    PrunerKind.ASHA: frozenset({"min_resource", "reduction_factor", "min_early_stopping_rate"}),
    PrunerKind.HYPERBAND: frozenset({"min_resource", "max_resource", "reduction_factor"}),
}


def _unknown_options(given: BaseModel, allowed: frozenset[str], what: str) -> None:
    given_names = {name for name in given.model_fields_set if getattr(given, name) is not None}
    extra = sorted(given_names - allowed)
    if extra:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"{what} takes no option {', '.join(extra)} (it takes: {known})")


class SweepCreate(Strict):
    """``POST /sweeps``: search ``params`` over clones of ``base``.

    ``trials`` counts trials that reached a result (completed, failed or pruned); a
    trial aborted by ``stop`` or by hand is replaced. ``parallel`` trials are kept
    queued or running, no more.
    """

    base: TaskId
    name: TaskName | None = None
    params: SearchSpace
    objective: SeriesName = Field(description="the metric series whose last value is the result")
    direction: Literal["min", "max"] = "min"
    trials: int = Field(default=20, ge=1, le=MAX_SWEEP_TRIALS)
    parallel: int = Field(default=1, ge=1, le=MAX_SWEEP_PARALLEL)
    queue: Name
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    sampler: SamplerKind = SamplerKind.TPE
    sampler_options: SamplerOptions = Field(default_factory=SamplerOptions)
    pruner: PrunerKind = PrunerKind.NONE
    pruner_options: PrunerOptions = Field(default_factory=PrunerOptions)
    max_time_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="stop spawning and abort running trials this long after creation",
    )
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _consistent(self) -> "SweepCreate":
        _unknown_options(self.sampler_options, _SAMPLER_OPTIONS[self.sampler], self.sampler)
        _unknown_options(self.pruner_options, _PRUNER_OPTIONS[self.pruner], self.pruner)
        if self.sampler == SamplerKind.GRID:
            for path, text in self.params.items():
                if not parse_distribution(text).finite:
                    raise ValueError(
                        f"grid sampler: param {path!r} ({text}) has no finite set of values; "
                        "use choice(...), int(...) or a step"
                    )
        return self

    def space(self) -> dict[str, Distribution]:
        """The parsed search space."""
        return {path: parse_distribution(text) for path, text in self.params.items()}


class SweepStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    DONE = "done"
    FAILED = "failed"


class TrialStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PRUNED = "pruned"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self not in (TrialStatus.QUEUED, TrialStatus.RUNNING)

    @property
    def counts(self) -> bool:
        """True when the trial used one of the sweep's ``trials`` (it has a result)."""
        return self in (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.PRUNED)


class SweepCounts(BaseModel):
    """How many trials are in each state."""

    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    pruned: int = 0
    aborted: int = 0


class SweepTrial(BaseModel):
    """One trial: its task, the values it was given and how it went."""

    number: int = Field(description="0, 1, 2, ... in the order the sampler asked")
    task_id: str | None = Field(default=None, description="none until its clone is created")
    params: dict[str, Any] = Field(description="'Section/key' → the value this trial got")
    status: TrialStatus
    value: float | None = Field(default=None, description="its objective (last logged value)")
    step: int | None = Field(default=None, description="the last step of the objective it logged")
    reason: str | None = Field(
        default=None, description="why it ended early, e.g. 'pruned at step 3 by median'"
    )
    created: datetime
    finished: datetime | None = None


class SweepBest(BaseModel):
    """The best completed trial so far."""

    number: int
    task_id: str
    value: float
    params: dict[str, Any]


class Sweep(SweepCreate):
    """A sweep record as the server returns it."""

    id: TaskId
    name: TaskName
    project: str
    owner: str | None = None
    status: SweepStatus
    reason: str | None = Field(default=None, description="why it stopped, finished or failed")
    created: datetime
    finished: datetime | None = None
    counts: SweepCounts = Field(default_factory=SweepCounts)
    best: SweepBest | None = None


class SweepPage(BaseModel):
    """``GET /sweeps``: newest first."""

    sweeps: list[Sweep]
    next_cursor: str | None = None


class SweepTrials(BaseModel):
    """``GET /sweeps/{id}/trials``: by trial number."""

    trials: list[SweepTrial]


class TrialCurve(BaseModel):
    """A trial's intermediate objective: ``[step, value]`` pairs in step order."""

    number: int
    task_id: str | None
    status: TrialStatus
    points: list[tuple[int, float]]


class SweepCurves(BaseModel):
    """``GET /sweeps/{id}/curves``: every trial's intermediate objective."""

    objective: str
    curves: list[TrialCurve]


class SweepEvent(BaseModel):
    """One line of a sweep's log: what the controller did and why."""

    time: datetime
    kind: str = Field(description="e.g. created, trial.spawned, trial.pruned, stopped, done")
    message: str
    trial: int | None = None


class SweepEvents(BaseModel):
    """``GET /sweeps/{id}/events``: oldest first."""

    events: list[SweepEvent]


class SweepStop(Strict):
    """``POST /sweeps/{id}/stop``: no new trials; trials in flight are aborted."""

    reason: str | None = Field(default=None, max_length=1_000)


class CloneBestRequest(Strict):
    """``POST /sweeps/{id}/clone-best``: a normal clone of the best trial's task."""

    name: TaskName | None = None
    queue: Name | None = None
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
