"""The Optuna side of a sweep: samplers, pruners and a study rebuilt from Redis.

Optuna is the search engine, driven ask-and-tell. Its study lives in this process's
memory only as a cache: the truth is the sweep's trial records in Redis
(``store/sweep_trials.py``). A cached study is current while the sweep's ``rev`` is the
one it saw last; each change this process makes is applied to the study and to Redis
together (the ``rev`` it writes is the next one), and when ``rev`` moved without it (a
restart, another replica acted, a change that failed half-way) the study is rebuilt
from the records: each trial added with its params, state, objective, intermediate
values and the sampler's system attributes (a grid's cell, CMA-ES's generation), then
asked on from there. Rebuilding 1,000 trials takes about 20 ms, so a restart costs one
rebuild per sweep, and a trial number is the same in Redis and in the study.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
)
from optuna.samplers import BaseSampler, CmaEsSampler, GridSampler, RandomSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from runyard.models import Distribution, PrunerKind, SamplerKind, SweepCreate, TrialStatus

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger("runyard_server.jobs.sweeps")


class _Grid(GridSampler):
    """GridSampler without its ``study.stop()`` once the grid is covered: that call is
    only allowed inside ``study.optimize`` and would fail the ``tell`` (the sweep caps
    its trials at the grid's size instead)."""

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any
    ) -> None:
        return None


def distribution(dist: Distribution) -> BaseDistribution:
    """The Optuna distribution of one search dimension."""
    if dist.kind == "choice":
        return CategoricalDistribution(dist.choices)
    assert dist.low is not None and dist.high is not None
    if dist.kind == "int":
        return IntDistribution(int(dist.low), int(dist.high), step=int(dist.step or 1))
    return FloatDistribution(dist.low, dist.high, log=dist.kind == "loguniform", step=dist.step)


def grid_size(spec: SweepCreate) -> int:
    """How many cells a grid sweep has."""
    size = 1
    for dist in spec.space().values():
        size *= len(dist.grid())
    return size


def sampler(spec: SweepCreate, asked: int = 0) -> BaseSampler:
    """The sampler ``spec`` names, with its options, for a study that already holds
    ``asked`` trials: its seed is the sweep's plus ``asked``, so a study rebuilt after
    a restart draws on rather than repeating the draws its first life made."""
    options = spec.sampler_options.model_dump(exclude_none=True)
    seed = None if spec.seed is None else (spec.seed + asked) % 2**32
    if spec.sampler is SamplerKind.RANDOM:
        return RandomSampler(seed=seed)
    if spec.sampler is SamplerKind.GRID:
        space = {path: dist.grid() for path, dist in spec.space().items()}
        return _Grid(space, seed=seed)
    if spec.sampler is SamplerKind.CMAES:
        return CmaEsSampler(seed=seed, warn_independent_sampling=False, **options)
    return TPESampler(seed=seed, **options)


def pruner(spec: SweepCreate) -> BasePruner:
    """The pruner ``spec`` names, with its options."""
    options = spec.pruner_options.model_dump(exclude_none=True)
    if spec.pruner is PrunerKind.MEDIAN:
        return MedianPruner(**options)
    if spec.pruner is PrunerKind.ASHA:
        return SuccessiveHalvingPruner(**options)
    if spec.pruner is PrunerKind.HYPERBAND:
        return HyperbandPruner(**options)
    return NopPruner()


RULES = {
    PrunerKind.MEDIAN: "median",
    PrunerKind.ASHA: "asha",
    PrunerKind.HYPERBAND: "hyperband",
}
"""The rule a pruned trial's reason names."""

_STATES = {
    TrialStatus.COMPLETED: TrialState.COMPLETE,
    TrialStatus.PRUNED: TrialState.PRUNED,
    TrialStatus.FAILED: TrialState.FAIL,
    TrialStatus.ABORTED: TrialState.FAIL,
    TrialStatus.QUEUED: TrialState.RUNNING,
    TrialStatus.RUNNING: TrialState.RUNNING,
}
"""How a trial's end reads to the sampler: an aborted trial taught it nothing, as a
failed one."""


@dataclass
class SweepStudy:
    """One sweep's study, current as of the sweep's ``rev``; and, per trial in flight,
    the last step of the objective reported to it and how far its metric list was read."""

    study: optuna.Study
    space: dict[str, BaseDistribution]
    rev: int
    reported: dict[int, int] = field(default_factory=dict)
    read_upto: dict[int, int] = field(default_factory=dict)

    def ask(self) -> Trial:
        return self.study.ask(self.space)

    def tell(self, record: dict[str, Any]) -> None:
        """Tell the study how trial ``record`` ended (its record as stored)."""
        status = TrialStatus(record["status"])
        state = _STATES[status]
        for step, value in record.get("curve") or []:
            self.report(record["number"], step, value)
        value = record.get("value") if state is TrialState.COMPLETE else None
        self.study.tell(record["number"], value, state=state, skip_if_finished=True)
        self.reported.pop(record["number"], None)
        self.read_upto.pop(record["number"], None)

    def report(self, number: int, step: int, value: float) -> None:
        """Give the study one intermediate value of trial ``number`` (steps in order)."""
        if step <= self.reported.get(number, -1):
            return
        self._trial(number).report(value, step)
        self.reported[number] = step

    def should_prune(self, number: int) -> bool:
        return number in self.reported and self._trial(number).should_prune()

    def attrs(self, number: int) -> dict[str, Any]:
        """The sampler's system attributes of trial ``number`` (kept in its record)."""
        return dict(self.study.trials[number].system_attrs)

    def _trial(self, number: int) -> Trial:
        # Trial ids and numbers are the same in a study alone in its in-memory storage.
        return Trial(self.study, self.study.trials[number]._trial_id)


def rebuild(spec: SweepCreate, records: list[dict[str, Any]], rev: int) -> SweepStudy:
    """A study holding every recorded trial, ready to ask the next."""
    space = {path: distribution(dist) for path, dist in spec.space().items()}
    direction = StudyDirection.MAXIMIZE if spec.direction == "max" else StudyDirection.MINIMIZE
    study = optuna.create_study(
        direction=direction, sampler=sampler(spec, len(records)), pruner=pruner(spec)
    )
    cached = SweepStudy(study, space, rev)
    for record in records:
        state = _STATES[TrialStatus(record["status"])]
        curve = {int(step): float(value) for step, value in record.get("curve") or []}
        value = record.get("value") if state is TrialState.COMPLETE else None
        if state is TrialState.PRUNED and curve:
            value = curve[max(curve)]
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=record["params"],
                distributions=space,
                intermediate_values=curve,
                system_attrs=record.get("attrs") or {},
            )
        )
    return cached
