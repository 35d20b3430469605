"""``Task``: record the running script as a task, or work with any task on the server.

::

    task = Task.init(project="vision", name="baseline")    # this script, as a run
    cfg = task.connect({"lr": 0.1, "epochs": 3})             # under an agent: the clone's values
    task.log_metric("val/acc", 0.91, step=3)
    rerun = Task.clone(task.id, overrides={"General/lr": 0.01})
    rerun.enqueue("gpu")

Run by an agent (``RUNYARD_TASK_ID`` set), ``Task.init`` attaches to that task.
Nothing the SDK does for a live run raises into the script because of the server:
trouble becomes one warning, and metrics wait in a buffer until they can be sent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from runyard import config
from runyard._notices import Notices
from runyard._run import AgentRun, Live, LocalRun
from runyard.capture.params import apply_stored, jsonable
from runyard.capture.run import RequirementsSource, capture_run
from runyard.capture.seeding import new_seed, seed_everything
from runyard.client import Client
from runyard.errors import RunyardError
from runyard.logship import SpoolSettings
from runyard.models import Artifact, CloneRequest, MetricPoint, Params, TaskMetrics, TaskStatus
from runyard.models import Task as TaskRecord

Connectable = TypeVar("Connectable", bound=MutableMapping[str, Any] | argparse.Namespace)

SEED_SECTION = "Runyard"
_LIVE_CLIENT = {"timeout": 5.0, "retries": 2}
_current: Task | None = None


class Task:
    """A task on a Runyard server; from :meth:`init`, also the live run of this script.

    Get one with :meth:`init` (this script), :meth:`get` (any task) or :meth:`clone`.
    """

    def __init__(
        self,
        client: Client,
        record: TaskRecord | None = None,
        *,
        live: Live | None = None,
        notices: Notices | None = None,
    ) -> None:
        self._client = client
        self._record = record
        self._live = live
        self._notices = notices or Notices()

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
        server: str | None = None,
        token: str | None = None,
    ) -> Task:
        """Record this script as a task run; under an agent, attach to the agent's task.

        ``requirements``: None records the installed packages, pinned; a path (relative
        to the repository root) records a ``requirements.txt`` or ``pyproject.toml``;
        a list records those lines. ``seed``: True seeds ``random``, NumPy and PyTorch
        with a new seed recorded as ``Runyard/seed`` (a rerun uses the recorded one), an
        int seeds with that, False seeds nothing. ``capture_output`` copies the console
        of a local run to its task's log. Calling it again returns the same task.
        """
        global _current
        if _current is not None:
            return _current
        cfg = config.load(server, token)
        client = Client(cfg.server, cfg.token, **_LIVE_CLIENT)  # type: ignore[arg-type]
        notices = Notices()
        if cfg.task_id:
            task = cls._attach(client, cfg.task_id, seed, notices)
        else:
            task = cls._start_local(
                client, project, name, tags, requirements, seed, capture_output, notices, cfg.spool
            )
        _current = task
        return task

    @classmethod
    def _attach(cls, client: Client, task_id: str, seed: int | bool, notices: Notices) -> Task:
        try:
            record: TaskRecord | None = client.tasks.get(task_id)
        except RunyardError as exc:
            notices.once("attach", f"task {task_id} could not be read ({exc}); using defaults")
            record = None
        params: Params = record.params if record is not None else {}
        stored = params.get(SEED_SECTION, {}).get("seed")
        if seed is not False:
            chosen = stored if isinstance(stored, int) else new_seed() if seed is True else seed
            seed_everything(chosen)
        live = Live(AgentRun(client, task_id, params), notices, capture_output=False)
        return cls(client, record, live=live, notices=notices)

    @classmethod
    def _start_local(
        cls,
        client: Client,
        project: str,
        name: str,
        tags: Sequence[str],
        requirements: RequirementsSource,
        seed: int | bool,
        capture_output: bool,
        notices: Notices,
        spool: SpoolSettings,
    ) -> Task:
        def warn(message: str) -> None:
            notices.once(message, message)

        spec = capture_run(project, name, tags, requirements, warn)
        if seed is not False:
            chosen = new_seed() if seed is True else seed
            seed_everything(chosen)
            spec.params[SEED_SECTION] = {"seed": chosen}
        run = LocalRun(client, spec, notices)
        live = Live(run, notices, capture_output=capture_output, spool=spool)
        return cls(client, live=live, notices=notices)

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
        tags: Sequence[str] | None = None,
        server: str | None = None,
        token: str | None = None,
    ) -> Task:
        """A new draft copied from ``source`` with ``overrides`` (``{"General/lr": 0.01}``).

        With ``queue`` the clone is enqueued at once; else call :meth:`enqueue`.
        """
        if isinstance(source, Task):
            client, source_id = source._client, source.id
            if source_id is None:
                raise RunyardError("this run is not recorded on the server yet: nothing to clone")
        else:
            client, source_id = Client(server, token), source
        request = CloneRequest(
            name=name,
            overrides=dict(overrides or {}),
            queue=queue,
            tags=None if tags is None else list(tags),
        )
        return cls(client, client.tasks.clone(source_id, request))

    # --- what the task is ---------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The task id; for a local run this records it if needed (None while offline)."""
        if self._record is not None:
            return self._record.id
        if self._live is not None:
            return self._live.run.ensure_started()
        return None

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
        """Hyperparameter sections: what this run connected, or what the record holds."""
        if self._live is not None and isinstance(self._live.run, LocalRun):
            return self._live.run.spec.params
        if self._live is not None and isinstance(self._live.run, AgentRun):
            return self._live.run.params
        return self.record.params

    def refresh(self) -> TaskRecord:
        """Read the record from the server again."""
        task_id = self.id
        if task_id is None:
            raise RunyardError("this run is not recorded on the server yet (is it reachable?)")
        self._record = self._client.tasks.get(task_id)
        return self._record

    # --- the live run -------------------------------------------------------------------

    def connect(self, values: Connectable, name: str | None = None) -> Connectable:
        """Record ``values`` as hyperparameters; under an agent, apply the task's values.

        ``values`` is a dict (section ``name`` or ``"General"``) or an
        ``argparse.Namespace`` (section ``"Args"``). It is updated in place and
        returned: locally it is recorded as it is; under an agent the task's stored
        values replace the defaults, converted to the defaults' types.
        """
        live = self._require_live("connect")
        current: MutableMapping[str, Any]
        if isinstance(values, argparse.Namespace):
            # vars() is the namespace's own __dict__: updating it sets the attributes.
            section, current = name or "Args", vars(values)
        elif isinstance(values, MutableMapping):
            section, current = name or "General", values
        else:
            raise TypeError(f"connect() takes a dict or an argparse.Namespace, not {values!r}")
        if isinstance(live.run, LocalRun):
            live.run.connect(section, jsonable(current))
            return values
        stored = live.run.params.get(section)
        if isinstance(stored, Mapping):
            for note in apply_stored(current, stored):
                self._notices.once(note, f"param {section}/{note}")
        return values

    def log_metric(self, series: str, value: float, step: int | None = None) -> None:
        """Record ``value`` of ``series`` (``"val/acc"``) at ``step``; sent in the background.

        A value that cannot be stored (NaN, a bad series name) is skipped with one
        warning per series, never an exception.
        """
        live = self._require_live("log_metric")
        try:
            point = MetricPoint(series=series, value=float(value), step=step, ts=time.time())
        except (ValidationError, TypeError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            self._notices.once(f"metric:{series}", f"metric {series!r} skipped: {reason}")
            return
        live.reporter.add_point(point)

    def flush(self) -> bool:
        """Send buffered metrics and output now; True when everything was sent."""
        return self._require_live("flush").reporter.flush()

    def upload_artifact(self, name: str, path: str | Path) -> Artifact | None:
        """Upload a file as artifact ``name`` (a same-named one is replaced).

        In a live run a failure is a warning and the result None; on other tasks it raises.
        """
        if self._live is None:
            return self._client.artifacts.upload(self._task_id(), name, path)
        task_id = self._live.run.ensure_started()
        try:
            if task_id is None:
                raise RunyardError("the run is not recorded on the server (is it reachable?)")
            return self._client.artifacts.upload(task_id, name, path)
        except (RunyardError, OSError) as exc:
            self._notices.once(f"artifact:{name}", f"artifact {name!r} was not uploaded: {exc}")
            return None

    def execute_remotely(self, queue: str = "default", *, exit_process: bool = True) -> Task | None:
        """Stop running here and queue this run for an agent; under an agent, do nothing.

        The queued task has everything recorded so far (code, environment, the params
        connected before this call); a local record made earlier is replaced by it.
        Exits with status 0 unless ``exit_process`` is False, then returns the queued task.
        Raises :class:`~runyard.errors.RunyardError` when the server cannot queue it.
        """
        live = self._require_live("execute_remotely")
        if not isinstance(live.run, LocalRun):
            return None
        queued = live.run.replace_with_queued(queue)
        live.detach()
        Notices.info(f"queued as task {queued.id} on {queue!r}; not running it here")
        task = Task(self._client, queued)
        if exit_process:
            sys.exit(0)
        return task

    def close(self) -> None:
        """End a live run now: send what is buffered and, locally, report it completed."""
        if self._live is not None:
            self._live.close()

    # --- any task -----------------------------------------------------------------------

    def enqueue(self, queue: str = "default", priority: int = 0) -> Task:
        """Put this draft on ``queue``; returns self, refreshed."""
        self._record = self._client.tasks.enqueue(self._task_id(), queue, priority)
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

    def logs(self) -> list[str]:
        """The task's console lines so far."""
        texts: list[str] = []
        cursor: str | None = None
        while True:
            page = self._client.logs.read(self._task_id(), after=cursor)
            if not page.lines:
                return texts
            texts += [line.text for line in page.lines]
            cursor = page.cursor

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
        task_id = self._live.run.current_id() if self._live is not None else None
        return f"<Task {task_id or '(not recorded yet)'} live>"

    def _task_id(self) -> str:
        task_id = self.id
        if task_id is None:
            raise RunyardError("this run is not recorded on the server yet (is it reachable?)")
        return task_id

    def _require_live(self, what: str) -> Live:
        if self._live is None:
            raise RunyardError(
                f"{what}() works on the task of the running script: get it with Task.init()"
            )
        return self._live
