"""A live run: the script's own process recording itself, locally or under an agent.

A **local run** is recorded by the reporter's thread as soon as ``Task.init`` returns
(never on the script's own thread, which must not wait on the server), so its times
are the real ones and ``runyard task logs -f`` follows it live. The record is a
running task from ``POST /local-runs``; params connected while it is being created
go with it or follow in a ``PATCH`` (the server takes params of a running local
run). At exit the script reports its own end with the lease token.

**Under an agent** the task exists already (``RUNYARD_TASK_ID``): the run writes
metrics and artifacts to it and leaves the end to the agent.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from runyard._code_bundle import ship_unpushed
from runyard._console import Tee
from runyard._exit import ExitWatch, Outcome
from runyard._notices import Notices
from runyard._reporter import Reporter, Target
from runyard.capture.git import GitError
from runyard.capture.params import apply_stored, jsonable
from runyard.capture.run import RequirementsSource, capture_run, code_root
from runyard.capture.seeding import new_seed, seed_everything
from runyard.client import Client
from runyard.errors import (
    TRANSIENT,
    ConflictError,
    RunyardError,
)
from runyard.logship import SpoolSettings
from runyard.models import Claim, FailureKind, Params, Task, TaskCreate, TaskStatus, TaskUpdate

_EXIT_FLUSH_S = 5.0
SEED_SECTION = "Runyard"


class Run(Target, Protocol):
    """Where a live run records itself: :class:`LocalRun` or :class:`AgentRun`."""

    client: Client

    @property
    def params(self) -> Params:
        """The param sections this run uses."""

    def connect(self, section: str, values: MutableMapping[str, Any]) -> None:
        """Record ``values`` as param section ``section``, or apply the stored ones to it."""

    def execute_remotely(self, queue: str, create_queue: bool) -> Task | None:
        """The queued task that replaces this run; None when it already runs on an agent."""

    def finish(self, outcome: Outcome) -> None:
        """Report how the script ended, when that is the run's job."""


class LocalRun:
    """The record of a script run on this machine, created on first need."""

    def __init__(
        self, client: Client, spec: TaskCreate, notices: Notices, code_root: Path | None = None
    ) -> None:
        self.client = client
        self.spec = spec
        self._notices = notices
        self._code_root = code_root  # until its unpushed commits (if any) are shipped
        self._claim: Claim | None = None
        self._refused = False
        self._params_changed = False
        self._lock = threading.RLock()  # the spec and the claim
        self._start_lock = threading.Lock()  # one creation at a time, never under _lock

    @property
    def lease_token(self) -> str | None:
        return self._claim.lease_token if self._claim else None

    @property
    def params(self) -> Params:
        return self.spec.params

    def current_id(self) -> str | None:
        claim = self._claim
        return claim.task.id if claim is not None and claim.task is not None else None

    def ensure_started(self) -> str | None:
        """Create the record unless it exists; None while the server cannot take it."""
        with self._start_lock:
            if self._claim is None and not self._refused:
                self._start()
            return self.current_id()

    def connect(self, section: str, values: MutableMapping[str, Any]) -> None:
        """Record ``values`` as param section ``section``, as they are."""
        with self._lock:
            self.spec.params[section] = jsonable(values)
            self._params_changed = True
        self._send_params()

    def _send_params(self) -> None:
        """Store the params on the record when they changed since it got them."""
        with self._lock:
            task_id = self.current_id()
            if task_id is None or not self._params_changed:
                return
            self._params_changed = False
            try:
                self.client.tasks.update(task_id, TaskUpdate(params=self.spec.params))
            except RunyardError as exc:
                self._notices.once(
                    "late-params",
                    f"params connected after the run was recorded were not stored ({exc}). "
                    "Call task.connect() before logging metrics, so a clone of this run "
                    "gets them.",
                )

    def finish(self, outcome: Outcome) -> None:
        """Report the end with the lease token (recording the run first if it never was)."""
        task_id = self.ensure_started()
        token = self.lease_token
        if task_id is None or token is None:
            return
        tasks = self.client.tasks
        try:
            if outcome.status is TaskStatus.COMPLETED:
                tasks.report_completed(task_id, token, outcome.exit_code or 0)
            elif outcome.status is TaskStatus.ABORTED:
                tasks.report_aborted(task_id, token, outcome.exit_code)
            else:
                reason = outcome.reason or "the script failed"
                tasks.report_failed(task_id, token, FailureKind.SCRIPT, reason, outcome.exit_code)
        except ConflictError:
            pass  # aborted from the CLI or web UI meanwhile: the record already has its end
        except RunyardError as exc:
            self._notices.once("end", f"could not record how run {task_id} ended: {exc}")

    def execute_remotely(self, queue: str, create_queue: bool) -> Task:
        """A queued task with this run's spec; this run's own record, if any, is removed.

        Raises :class:`~runyard.errors.RunyardError` when the server cannot queue it, or
        when no code was recorded (an agent would have nothing to run).
        """
        missing = self.spec.script.missing_code()
        if missing:
            raise RunyardError(f"this run cannot be queued: {missing}")
        with self._start_lock, self._lock:
            self._ship_code()
            update = {"queue": queue, "create_queue": create_queue}
            queued = self.client.tasks.create(self.spec.model_copy(update=update))
            task_id, token = self.current_id(), self.lease_token
            self._refused = True  # nothing more is recorded from this process
        if task_id is not None and token is not None:
            try:
                self.client.tasks.report_aborted(task_id, token)
                self.client.tasks.delete(task_id)
            except RunyardError as exc:
                self._notices.once("replace", f"the local record {task_id} stays: {exc}")
        return queued

    def _ship_code(self) -> None:
        """Put commits no remote has on the server as a bundle, once, before the record."""
        root = self._code_root
        if root is None:
            return
        try:
            script, notice = ship_unpushed(self.client, self.spec.script, root)
        except TRANSIENT:
            return  # the record waits for the server too; shipped on the next try
        except (GitError, OSError, subprocess.SubprocessError, RunyardError) as exc:
            self._code_root = None
            self._notices.once(
                "bundle",
                f"the unpushed commits were not sent to the server ({exc}): only an agent "
                f"that can read {root} can rerun this task",
            )
            return
        self._code_root = None
        self.spec = self.spec.model_copy(update={"script": script})
        if notice:
            Notices.info(notice)

    def _start(self) -> None:
        self._ship_code()
        with self._lock:
            spec = self.spec.model_copy(deep=True)
            self._params_changed = False
        try:
            claim = self.client.tasks.start_local(spec)
        except TRANSIENT as exc:
            self._notices.unreachable(exc)
            return
        except RunyardError as exc:
            self._refused = True
            self._notices.once("refused", f"this run is not recorded: {exc}")
            return
        with self._lock:
            self._claim = claim
        self._send_params()
        Notices.info(
            f"run {self.current_id()} ({self.spec.project}/{self.spec.name}) "
            f"is recorded on {self.client.server}"
        )


class AgentRun:
    """The task an agent runs this script for; its record exists, its end is the agent's."""

    lease_token: str | None = None

    def __init__(self, client: Client, task_id: str, params: Params, notices: Notices) -> None:
        self.client = client
        self.task_id = task_id
        self.params = params
        self._notices = notices

    def current_id(self) -> str | None:
        return self.task_id

    def ensure_started(self) -> str | None:
        return self.task_id

    def connect(self, section: str, values: MutableMapping[str, Any]) -> None:
        """Replace the defaults in ``values`` with the task's stored section, typed like them."""
        stored = self.params.get(section)
        if isinstance(stored, Mapping):
            for note in apply_stored(values, stored):
                self._notices.once(note, f"param {section}/{note}")

    def execute_remotely(self, queue: str, create_queue: bool) -> None:
        """Already on an agent: nothing to queue."""

    def finish(self, outcome: Outcome) -> None:
        """The agent reports the end."""


class Live:
    """The background parts of a live run: reporter, console copy and the end at exit."""

    def __init__(
        self,
        run: Run,
        notices: Notices,
        *,
        capture_output: bool,
        watch_exit: bool,
        spool: SpoolSettings | None = None,
    ) -> None:
        self.run = run
        self.reporter = Reporter(run.client, run, notices, spool=spool)
        self.reporter.start()
        self._watch: ExitWatch | None = None
        self._tees: list[Tee] = []
        self._closed = False
        if watch_exit:
            self._watch = ExitWatch()
            self._watch.install()
        if capture_output:
            self._tees = [
                Tee(sys.stdout, "stdout", self.reporter.add_lines),
                Tee(sys.stderr, "stderr", self.reporter.add_lines),
            ]
            sys.stdout, sys.stderr = self._tees
        atexit.register(self.close)

    def close(self, outcome: Outcome | None = None) -> None:
        """Send what is buffered and, for a local run, report ``outcome`` (by default how
        the script ended)."""
        if self._closed:
            return
        self._closed = True
        self._restore_streams()
        self.reporter.close(_EXIT_FLUSH_S)
        if outcome is None and self._watch is not None:
            outcome = self._watch.outcome()
        if outcome is not None:
            self.run.finish(outcome)

    def detach(self) -> None:
        """Stop recording without reporting an end (the run went to a queue)."""
        self._closed = True
        self._restore_streams()
        self.reporter.stop()

    def _restore_streams(self) -> None:
        for tee in self._tees:
            tee.drain()
        if self._tees:
            sys.stdout, sys.stderr = (tee.wrapped for tee in self._tees)
            self._tees = []


def attach(
    client: Client, task_id: str, seed: int | bool, notices: Notices
) -> tuple[Task | None, Live]:
    """The live run of the task an agent started this script for (seeded as recorded)."""
    try:
        record: Task | None = client.tasks.get(task_id)
    except RunyardError as exc:
        notices.once("attach", f"task {task_id} could not be read ({exc}); using defaults")
        record = None
    params: Params = record.params if record is not None else {}
    stored = params.get(SEED_SECTION, {}).get("seed")
    if seed is not False:
        chosen = stored if isinstance(stored, int) else new_seed() if seed is True else seed
        seed_everything(chosen)
    run = AgentRun(client, task_id, params, notices)
    return record, Live(run, notices, capture_output=False, watch_exit=False)


def start_local(
    client: Client,
    project: str,
    name: str,
    tags: Sequence[str],
    requirements: RequirementsSource,
    seed: int | bool,
    capture_output: bool,
    notices: Notices,
    spool: SpoolSettings,
    *,
    shape: Callable[[TaskCreate], TaskCreate] | None = None,
    watch_exit: bool = True,
) -> Live:
    """The live run of this script on this machine (recorded as soon as the reporter runs).

    ``shape`` changes the captured spec before anything is sent (a Hydra multirun job's
    parent and arguments); without ``watch_exit`` the run's end is the caller's to report.
    """

    def warn(message: str) -> None:
        notices.once(message, message)

    spec = capture_run(project, name, tags, requirements, warn)
    if shape is not None:
        spec = shape(spec)
    if seed is not False:
        chosen = new_seed() if seed is True else seed
        seed_everything(chosen)
        spec.params[SEED_SECTION] = {"seed": chosen}
    run = LocalRun(client, spec, notices, code_root())
    return Live(run, notices, capture_output=capture_output, watch_exit=watch_exit, spool=spool)
