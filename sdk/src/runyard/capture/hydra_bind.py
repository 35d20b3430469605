"""Hydra, bound automatically: each job's config recorded, a clone's changes handed to Hydra.

Once ``runyard`` is imported, ``Hydra.run`` and ``Hydra.multirun`` are wrapped (at
once when Hydra is loaded, else as soon as it is imported). The wrapper of the task
function knows the job: its composed config, output folder and command-line
overrides. ``Task.init`` inside the job (or before it) records:

- section ``Hydra``: every leaf of the config as written, by dotted key
  (``model.max_depth``; an interpolation stays ``${...}``). This is what a clone
  changes: ``--param Hydra/model.max_depth=3`` is checked against these keys and types.
- section ``HydraRecord``: the job's ``overrides``, the whole ``config`` as written
  and ``resolved`` (YAML). It is the record of the run; a clone leaves it alone.
- artifact ``hydra.zip``: the job's ``.hydra/`` folder, uploaded when the job ends.

A rerun under an agent does not patch the composed config: before Hydra composes,
every ``Hydra`` value that differs from the recorded config is added to Hydra's own
overrides (``model.max_depth=3``). Hydra then composes as on the command line, so
interpolations follow, and its log and ``.hydra/overrides.yaml`` say what ran.

With ``-m`` every job is its own task, a child of one task for the whole sweep
(``runyard._hydra_runs`` makes them; this module says which job is running).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import zipfile
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from runyard._exit import Outcome, raised
from runyard.capture.params import jsonable
from runyard.models import Params, TaskStatus, merged_args

SECTION = "Hydra"
RECORD_SECTION = "HydraRecord"
ARTIFACT = "hydra.zip"
_MULTIRUN_FLAGS = frozenset({"-m", "--multirun"})

Notify = Callable[[str], object]


@dataclass
class Job:
    """One Hydra job while its task function runs."""

    config: Any
    """The job's composed ``DictConfig``."""
    overrides: list[str]
    """The job's own command-line overrides (``hydra.overrides.task``)."""
    hydra_dir: Path | None
    """Its ``.hydra`` folder (None when Hydra writes none)."""
    multirun: bool
    number: int
    _at_end: list[Callable[[Outcome], None]] = field(default_factory=list)

    def sections(self, notify: Notify) -> Params:
        """The param sections that record this job's config."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        record: dict[str, Any] = {
            "overrides": list(self.overrides),
            "config": OmegaConf.to_yaml(self.config, resolve=False),
        }
        try:
            record["resolved"] = OmegaConf.to_yaml(self.config, resolve=True)
        except OmegaConfBaseException as exc:
            notify(f"the Hydra config could not be resolved for the record: {exc}")
        return {SECTION: flatten(self.config), RECORD_SECTION: record}

    def child_args(self, argv: Sequence[str]) -> list[str]:
        """The command line that reruns this job alone: ``argv`` without ``-m`` and with
        the job's overrides in place of the sweep's."""
        kept = [a for a in argv if a not in _MULTIRUN_FLAGS and not _is_override(a)]
        return [*kept, *self.overrides]

    def at_end(self, callback: Callable[[Outcome], None]) -> None:
        """Call ``callback`` with the job's outcome when its task function returns or raises."""
        self._at_end.append(callback)

    def pack_hydra_dir(self, dest: Path) -> Path | None:
        """The ``.hydra`` folder zipped into ``dest``; None when there is none."""
        if self.hydra_dir is None or not self.hydra_dir.is_dir():
            return None
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(self.hydra_dir.rglob("*")):
                if path.is_file():
                    archive.write(path, Path(".hydra") / path.relative_to(self.hydra_dir))
        return dest

    def _end(self, outcome: Outcome) -> None:
        for callback in self._at_end:
            callback(outcome)


class Sweep:
    """A running multirun: the run of the task that groups its jobs, once there is one."""

    parent: object | None = None
    """The sweep task's live run (kept until the process ends)."""
    parent_id: str | None = None


_job: Job | None = None
_sweep: Sweep | None = None
_job_started: Callable[[Job], None] | None = None
_rerun_overrides: Callable[[], list[str]] | None = None


def current_job() -> Job | None:
    """The Hydra job whose task function is running, if any."""
    return _job


def current_sweep() -> Sweep | None:
    """The multirun in progress, if any."""
    return _sweep


def on_job_start(callback: Callable[[Job], None] | None) -> None:
    """Call ``callback`` at the start of each job (a run made before Hydra's main uses it)."""
    global _job_started
    _job_started = callback


def on_compose(overrides: Callable[[], list[str]] | None) -> None:
    """Add what ``overrides()`` returns to Hydra's overrides of a single run (a rerun's)."""
    global _rerun_overrides
    _rerun_overrides = overrides


# --- the config as params ------------------------------------------------------------


def is_omegaconf(value: object) -> bool:
    """True for an OmegaConf ``DictConfig`` (without importing OmegaConf for others)."""
    omegaconf = sys.modules.get("omegaconf")
    return omegaconf is not None and isinstance(value, omegaconf.DictConfig)


def flatten(config: Any) -> dict[str, Any]:
    """Every leaf of a ``DictConfig`` as written, by dotted key; lists and empty dicts are
    leaves, interpolations stay ``${...}`` strings, missing values ``???``."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(config, resolve=False)
    flat: dict[str, Any] = {}

    def walk(node: Mapping[Any, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                walk(value, path + ".")
            else:
                flat[path] = jsonable(value)

    if isinstance(tree, Mapping):
        walk(tree, "")
    return flat


def _apply_flat(config: Any, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Set in ``config`` each dotted key whose value in ``after`` differs from ``before``
    (keys new in ``after`` are added, even to a struct config)."""
    from omegaconf import OmegaConf

    for key, value in after.items():
        if key not in before or before[key] != value:
            OmegaConf.update(config, key, value, merge=False, force_add=True)


def rerun_overrides(params: Params) -> list[str]:
    """Hydra overrides for each ``Hydra`` param that differs from the recorded config."""
    current = params.get(SECTION)
    record = params.get(RECORD_SECTION)
    if not isinstance(current, dict) or not isinstance(record, dict):
        return []
    written = record.get("config")
    if not isinstance(written, str):
        return []
    from omegaconf import OmegaConf

    recorded = flatten(OmegaConf.create(written))
    return [
        override_text(key, value, new=key not in recorded)
        for key, value in current.items()
        if key not in recorded or recorded[key] != value
    ]


def override_text(key: str, value: Any, *, new: bool = False) -> str:
    """``key=value`` in Hydra's override grammar (``++key=value`` for a ``new`` key)."""
    return f"{'++' if new else ''}{key}={_value(value)}"


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value(v)}" for k, v in value.items()) + "}"
    return _quoted(str(value))


def _quoted(text: str) -> str:
    """``text`` as a single-quoted Hydra string: backslashes before a quote (or the end)
    are doubled and quotes escaped, every other character is taken as it is."""
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


def _is_override(arg: str) -> bool:
    return "=" in arg and not arg.startswith("-")


# --- patching Hydra ------------------------------------------------------------------


def _wrap(task_function: Callable[[Any], Any], multirun: bool) -> Callable[[Any], Any]:
    @functools.wraps(task_function)
    def job_function(config: Any) -> Any:
        global _job
        from hydra.core.hydra_config import HydraConfig

        hydra = HydraConfig.get()
        subdir = hydra.output_subdir
        job = Job(
            config=config,
            overrides=list(hydra.overrides.task),
            hydra_dir=Path(hydra.runtime.output_dir) / subdir if subdir else None,
            multirun=multirun,
            number=_job_number(hydra.job),
        )
        _job = job
        try:
            if _job_started is not None:
                _job_started(job)
            result = task_function(config)
        except BaseException as exc:
            job._end(raised(type(exc), exc, exc.__traceback__))
            raise
        finally:
            _job = None
        job._end(Outcome(TaskStatus.COMPLETED, 0))
        return result

    return job_function


def _job_number(job: Any) -> int:
    """``hydra.job.num``: set in a multirun, a missing value in a single run."""
    from omegaconf.errors import MissingMandatoryValue

    try:
        return int(job.num)
    except (MissingMandatoryValue, TypeError, ValueError):
        return 0


def _patch(module: ModuleType) -> None:
    """Wrap ``Hydra.run`` and ``Hydra.multirun`` of ``hydra._internal.hydra`` (once)."""
    hydra_class = module.Hydra
    if getattr(hydra_class, "_runyard_bound", False):
        return
    original_run, original_multirun = hydra_class.run, hydra_class.multirun

    def run(
        self: Any, config_name: Any, task_function: Any, overrides: list[str], *a: Any, **kw: Any
    ) -> Any:
        extra = _rerun_overrides() if _rerun_overrides is not None else []
        overrides = merged_args(overrides, extra)
        return original_run(self, config_name, _wrap(task_function, False), overrides, *a, **kw)

    def multirun(
        self: Any, config_name: Any, task_function: Any, overrides: list[str], *a: Any, **kw: Any
    ) -> Any:
        global _sweep
        _sweep = Sweep()
        try:
            wrapped = _wrap(task_function, True)
            return original_multirun(self, config_name, wrapped, overrides, *a, **kw)
        finally:
            _sweep = None

    hydra_class.run, hydra_class.multirun = run, multirun
    hydra_class._runyard_bound = True


_TARGET = "hydra._internal.hydra"


class _PatchOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Patches Hydra right after ``hydra._internal.hydra`` is first imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    _loader: importlib.abc.Loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader, so inspect and tracebacks read its source.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _patch(module)


def install() -> None:
    """Bind Hydra now if it is loaded, else when it is imported (idempotent)."""
    module = sys.modules.get(_TARGET)
    if module is not None:
        _patch(module)
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def connect_omegaconf(config: Any, connect: Callable[[MutableMapping[str, Any]], object]) -> None:
    """``connect`` the config's leaves by dotted key; write back what it changed (under an
    agent: the task's values), leaving unchanged interpolations in place."""
    before = flatten(config)
    values = dict(before)
    connect(values)
    _apply_flat(config, before, values)
