"""``Task``: any task on the server; ``Task.init`` gives a :class:`Run`, this script's own.

::

    task = Task.init(project="vision", name="baseline")    # this script, as a run
    cfg = task.connect({"lr": 0.1, "epochs": 3})             # under an agent: the clone's values
    task.log_metric("val/acc", 0.91, step=3)
    rerun = Task.clone(task.id, overrides={"General/lr": 0.01})
    rerun.enqueue("gpu")

A :class:`Task` is a handle: it reads and moves a task that exists. A :class:`Run`
is also the live run of this script (``connect``, ``log_metric``, ``execute_remotely``);
run by an agent (``RUNYARD_TASK_ID`` set) it attaches to that task. Nothing the SDK
does for a live run raises into the script because of the server: trouble becomes one
warning, and metrics wait in a buffer until they can be sent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from runyard import _hydra_runs, config
from runyard._exit import Outcome
from runyard._gpu_share import apply_memory_fraction
from runyard._notices import Notices
from runyard._run import Live, attach, start_local
from runyard.capture import argparse_hook, hydra_bind
from runyard.capture.run import RequirementsSource
from runyard.client import Client
from runyard.errors import RunyardError
from runyard.models import (
    Artifact,
    CloneRequest,
    MetricPoint,
    Params,
    Resources,
    TaskMetrics,
    TaskStatus,
)
from runyard.models import Task as TaskRecord

Connectable = TypeVar("Connectable", bound=MutableMapping[str, Any] | argparse.Namespace)

# Hydra is bound from the import on, so a Hydra app that imports Task at the top has its
# config recorded and, under an agent, composed with the task's params.
hydra_bind.on_compose(_hydra_runs.rerun_overrides)
hydra_bind.install()

_LIVE_CLIENT = {"timeout": 5.0, "retries": 2}
_NOT_RECORDED = "this run is not recorded on the server yet (is it reachable?)"


class Task:
    """A task on a Runyard server: its record, its results, its queue moves.

    Get one with :meth:`get`, :meth:`clone`, or :meth:`init` (this script, as a :class:`Run`).
    """

    def __init__(self, client: Client, record: TaskRecord | None = None) -> None:
        self._client = client
        self._record = record

    # --- getting a task -----------------------------------------------------------------

    @classmethod
    def init(
        cls,
        project: str = "default",
        name: str = "untitled",
        *,
        tags: Sequence[str] = (),
        requirements: RequirementsSource = None,
        seed: int | bool = True,
        capture_output: bool = True,
        auto_connect_argparse: bool = True,
        server: str | None = None,
        token: str | None = None,
    ) -> Run:
        """Record this script as a task run; under an agent, attach to the agent's task.

        ``requirements``: None records the installed packages, pinned; a path (relative
        to the repository root) records a ``requirements.txt`` or ``pyproject.toml``;
        a list records those lines. ``seed``: True seeds ``random``, NumPy and PyTorch
        with a new seed recorded as ``Runyard/seed`` (a rerun uses the recorded one), an
        int seeds with that, False seeds nothing. ``capture_output`` copies the console
        of a local run to its task's log. ``auto_connect_argparse``: every
        ``parse_args()`` after this call is connected as section ``Args`` (recorded
        locally; under an agent the task's values replace the parsed ones), so
        ``task.connect(args)`` is not needed. A script has one run: calling it again
        returns the same one, with a warning when the arguments differ (they are not
        applied).
        """
        asked = (
            project,
            name,
            tuple(tags),
            requirements,
            seed,
            capture_output,
            auto_connect_argparse,
            server,
            token,
        )
        if Run.current is not None:
            if asked != Run.current.init_args:
                Run.current.notices.once(
                    "init-again",
                    "Task.init() was called again with other arguments; they are ignored and "
                    "the first call's run is returned",
                )
            return Run.current
        cfg = config.load(server, token)
        client = Client(cfg.server, cfg.token, **_LIVE_CLIENT)  # type: ignore[arg-type]
        notices = Notices()
        hydra_bind.install()
        job = hydra_bind.current_job()
        record: TaskRecord | None = None
        if cfg.task_id:
            apply_memory_fraction(cfg.gpu_memory_fraction)
            record, live = attach(client, cfg.task_id, seed, notices)
        else:

            def local(**how: Any) -> Live:
                return start_local(
                    client, project, name, tags, requirements, seed,
                    notices=notices, spool=cfg.spool, **how,
                )  # fmt: skip

            live = _hydra_runs.start(local, job, capture_output)
        run = Run.current = Run(client, record, live, notices, asked)
        if auto_connect_argparse:
            argparse_hook.install(run.connect)
        _hydra_runs.bind(run, job, local=cfg.task_id is None)
        return run

    @classmethod
    def get(cls, task_id: str, *, server: str | None = None, token: str | None = None) -> Task:
        """The task ``task_id``; :class:`~runyard.errors.NotFoundError` when unknown."""
        client = Client(server, token)
        return cls(client, client.tasks.get(task_id))

    @classmethod
    def clone(
        cls,
        source: str | Task,
        name: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        create_queue: bool = False,
        new_params: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        args: Sequence[str] | None = None,
        resources: Resources | None = None,
        server: str | None = None,
        token: str | None = None,
    ) -> Task:
        """A new draft copied from ``source`` with ``overrides`` (``{"General/lr": 0.01}``).

        Each override must name a recorded param and fit its type (else
        :class:`~runyard.errors.InvalidError` names the closest ones); ``new_params``
        adds params on purpose; ``args`` replaces the script's arguments (see
        :func:`runyard.models.merged_args` to change some of them); ``resources``
        replaces what the source asks for (e.g. ``Resources(gpus=0.5)``). With ``queue`` the
        clone is enqueued at once (a queue that does not exist only with
        ``create_queue``; a task without code never); else call :meth:`enqueue`.
        """
        if isinstance(source, Task):
            client, source_id = source._client, source._task_id()
        else:
            client, source_id = Client(server, token), source
        request = CloneRequest(
            name=name,
            overrides=dict(overrides or {}),
            new_params=dict(new_params or {}),
            queue=queue,
            create_queue=create_queue,
            tags=None if tags is None else list(tags),
            args=None if args is None else list(args),
            resources=resources,
        )
        record = client.tasks.clone(source_id, request)
        Notices.from_server(record.warnings)
        return cls(client, record)

    # --- what the task is ---------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The task id (a :class:`Run` records itself for it; None while offline)."""
        return self._record.id if self._record is not None else None

    @property
    def record(self) -> TaskRecord:
        """The task record as last read from the server (see :meth:`refresh`)."""
        if self._record is None:
            return self.refresh()
        return self._record

    @property
    def status(self) -> TaskStatus:
        """The status as last read; :meth:`refresh` reads it again."""
        return self.record.status

    @property
    def params(self) -> Params:
        """Hyperparameter sections, as the record holds them."""
        return self.record.params

    def refresh(self) -> TaskRecord:
        """Read the record from the server again."""
        self._record = self._client.tasks.get(self._task_id())
        return self._record

    # --- results and queue moves --------------------------------------------------------

    def upload_artifact(self, name: str, path: str | Path) -> Artifact | None:
        """Upload a file as artifact ``name`` (a same-named one is replaced)."""
        return self._client.artifacts.upload(self._task_id(), name, path)

    def enqueue(
        self, queue: str = "default", priority: int = 0, *, create_queue: bool = False
    ) -> Task:
        """Put this draft on ``queue`` (one that does not exist only with ``create_queue``);
        returns self, refreshed. Warns when no live worker serves the queue."""
        self._record = self._client.tasks.enqueue(
            self._task_id(), queue, priority, create_queue=create_queue
        )
        Notices.from_server(self._record.warnings)
        return self

    def move(self, queue: str, *, priority: int | None = None, create_queue: bool = False) -> Task:
        """Move this queued task onto another ``queue`` in one step (it stays queued), at
        the tail of ``priority`` there (None keeps its own); returns self, refreshed."""
        self._record = self._client.tasks.move(
            self._task_id(), queue, priority=priority, create_queue=create_queue
        )
        Notices.from_server(self._record.warnings)
        return self

    def metrics(self) -> TaskMetrics:
        """Every metric series with its points, and each series' last value (``final``)."""
        return self._client.metrics.read(self._task_id())

    def artifacts(self) -> list[Artifact]:
        """The task's artifacts."""
        return self._client.artifacts.list(self._task_id())

    def download_artifact(self, name: str, dest: str | Path = ".") -> Path:
        """Save artifact ``name`` to ``dest`` (a file or a folder); returns the file's path."""
        return self._client.artifacts.download(self._task_id(), name, dest)

    def download_reference(self, reference: str, dest: str | Path = ".") -> Path:
        """Save the artifact a pipeline step's ``${STEP.artifacts.NAME}`` param names (the
        value the step was given) to ``dest``; returns the file's path."""
        return self._client.artifacts.download_reference(reference, dest)

    def logs(self) -> list[str]:
        """The task's console lines so far."""
        return [line.text for line in self._client.logs.iter(self._task_id())]

    def wait(self, timeout: float | None = None, poll_s: float = 1.0) -> Task:
        """Poll until the task is completed, failed or aborted; TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().status.is_final:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {self.id} is still {self.status} after {timeout}s")
            time.sleep(poll_s)
        return self

    def __repr__(self) -> str:
        if self._record is not None:
            return f"<Task {self._record.id} {self._record.status.value}>"
        return "<Task (not read yet)>"

    def _task_id(self) -> str:
        task_id = self.id
        if task_id is None:
            raise RunyardError(_NOT_RECORDED)
        return task_id


class Run(Task):
    """This script's own task, live: it records params, metrics, output and its end.

    :meth:`Task.init` makes the one run of a script; everything a :class:`Task` does
    works on it too.
    """

    current: Run | None = None
    """The run :meth:`Task.init` made in this process."""

    def __init__(
        self,
        client: Client,
        record: TaskRecord | None,
        live: Live,
        notices: Notices,
        init_args: tuple[object, ...],
    ) -> None:
        super().__init__(client, record)
        self._live = live
        self.notices = notices
        self.init_args = init_args

    @property
    def id(self) -> str | None:
        """The task id; a local run is recorded on the server for it if needed."""
        return super().id or self._live.run.ensure_started()

    @property
    def params(self) -> Params:
        """What this run connected (locally) or what its task holds (under an agent)."""
        return self._live.run.params

    def connect(self, values: Connectable, name: str | None = None) -> Connectable:
        """Record ``values`` as hyperparameters; under an agent, apply the task's values.

        ``values`` is a dict (section ``name`` or ``"General"``), an OmegaConf
        ``DictConfig`` (section ``name`` or ``"General"``, its leaves by dotted key as
        written) or an ``argparse.Namespace`` (section ``"Args"``). It is updated in
        place and returned: locally it is recorded as it is; under an agent the task's
        stored values replace the defaults, converted to the defaults' types (in a
        ``DictConfig`` only changed keys are set, so interpolations of others follow).
        """
        current: MutableMapping[str, Any]
        if hydra_bind.is_omegaconf(values):
            section = name or "General"
            hydra_bind.connect_omegaconf(values, lambda flat: self._live.run.connect(section, flat))
            return values
        if isinstance(values, argparse.Namespace):
            # vars() is the namespace's own __dict__: updating it sets the attributes.
            section, current = name or "Args", vars(values)
        elif isinstance(values, MutableMapping):
            section, current = name or "General", values
        else:
            raise TypeError(f"connect() takes a dict or an argparse.Namespace, not {values!r}")
        self._live.run.connect(section, current)
        return values

    def log_metric(self, series: str, value: float, step: int | None = None) -> None:
        """Record ``value`` of ``series`` (``"val/acc"``) at ``step``; sent in the background.

        A value that cannot be stored (NaN, a bad series name) is skipped with one
        warning per series, never an exception.
        """
        try:
            point = MetricPoint(series=series, value=float(value), step=step, ts=time.time())
        except (ValidationError, TypeError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            self.notices.once(f"metric:{series}", f"metric {series!r} skipped: {reason}")
            return
        self._live.reporter.add_point(point)

    def flush(self) -> bool:
        """Send buffered metrics and output now; True when everything was sent."""
        return self._live.reporter.flush()

    def upload_artifact(self, name: str, path: str | Path) -> Artifact | None:
        """Upload a file as artifact ``name``; a failure is a warning and the result None."""
        try:
            return super().upload_artifact(name, path)
        except (RunyardError, OSError) as exc:
            self.notices.once(f"artifact:{name}", f"artifact {name!r} was not uploaded: {exc}")
            return None

    def execute_remotely(
        self, queue: str = "default", *, create_queue: bool = False, exit_process: bool = True
    ) -> Task | None:
        """Stop running here and queue this run for an agent; under an agent, do nothing.

        The queued task has everything recorded so far (code, environment, the params
        connected before this call); a local record made earlier is replaced by it.
        Exits with status 0 unless ``exit_process`` is False, then returns the queued task.
        Raises :class:`~runyard.errors.RunyardError` when the server cannot queue it (a
        queue that does not exist is refused unless ``create_queue``).
        """
        queued = self._live.run.execute_remotely(queue, create_queue)
        if queued is None:
            return None
        self._live.detach()
        Notices.from_server(queued.warnings)
        Notices.info(f"queued as task {queued.id} on {queue!r}; not running it here")
        task = Task(self._client, queued)
        if exit_process:
            sys.exit(0)
        return task

    def close(self, outcome: Outcome | None = None) -> None:
        """End the run now: send what is buffered and, locally, report it completed (or
        ``outcome``); a later :meth:`Task.init` makes a new run."""
        self._live.close(outcome)
        if Run.current is self:
            Run.current = None

    def __repr__(self) -> str:
        if self._record is not None:
            return super().__repr__()
        return f"<Run {self._live.run.current_id() or '(not recorded yet)'} live>"
