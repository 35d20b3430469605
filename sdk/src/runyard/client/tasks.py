"""``client.tasks``: task records, queue moves and the agent's status reports."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from runyard.client._http import Retry, Transport, seg
from runyard.errors import AuthError, ConflictError, NotFoundError
from runyard.models import (
    AbortedReport,
    Claim,
    CloneRequest,
    CompletedReport,
    EnqueueRequest,
    FailedReport,
    FailureKind,
    InstalledPackage,
    InstalledReport,
    MoveToQueueRequest,
    PingReport,
    PurgeRequest,
    PurgeResult,
    RequeueReport,
    SortOrder,
    StartedReport,
    Task,
    TaskBatch,
    TaskBatchCreated,
    TaskCreate,
    TaskPage,
    TaskStatus,
    TaskUpdate,
)
from runyard.models.routes import IDEMPOTENCY_KEY_HEADER


class Tasks:
    """Create, read, change and move tasks (``/tasks``)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, spec: TaskCreate, *, idempotency_key: str | None = None) -> Task:
        """Create a task (enqueued at once when ``spec.queue`` is set).

        Every attempt carries one ``Idempotency-Key`` (``idempotency_key``, or a fresh
        UUID per call), so retrying after a lost answer or a 503 gets the task the first
        attempt made, never a second one. Pass your own key to repeat the call safely
        across processes (the server remembers a key for 24 h).
        """
        return self._http.call(Task, "POST", "/tasks", body=spec, headers=_once(idempotency_key))

    def create_batch(self, specs: list[TaskCreate]) -> TaskBatchCreated:
        """Create up to ``MAX_BATCH_TASKS`` tasks in one request, all or none; the ids
        come back in the order of ``specs``. Retried like :meth:`create`."""
        body = TaskBatch(tasks=specs)
        return self._http.call(
            TaskBatchCreated, "POST", "/tasks:batch", body=body, retry=Retry.UNSENT
        )

    def start_local(self, spec: TaskCreate) -> Claim:
        """Record a script running on this machine as a running task (``POST /local-runs``).

        The reply carries the lease token the script reports its end with. Retried
        only when the request surely did not arrive: a repeat could record a second run.
        """
        return self._http.call(Claim, "POST", "/local-runs", body=spec, retry=Retry.UNSENT)

    def get(self, task_id: str) -> Task:
        """The task ``task_id``; :class:`~runyard.errors.NotFoundError` when unknown."""
        return self._http.call(Task, "GET", f"/tasks/{seg(task_id)}")

    def list(
        self,
        *,
        project: str | None = None,
        status: TaskStatus | str | None = None,
        queue: str | None = None,
        tag: str | None = None,
        parent: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        order: SortOrder | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        owner: str | None = None,
    ) -> TaskPage:
        """One page of tasks, newest first unless ``sort`` says otherwise (``created``,
        ``started``, ``finished``, ``name`` or ``metric:SERIES``, ``order`` ``asc`` or
        ``desc``); ``q`` is a name substring, ``owner`` the user who created them. Pass
        ``next_cursor`` back as ``cursor`` with the same sort: the order holds across all
        pages."""
        params: dict[str, Any] = {
            "project": project,
            "status": None if status is None else str(status),
            "queue": queue,
            "tag": tag,
            "parent": parent,
            "owner": owner,
            "q": q,
            "sort": sort,
            "order": None if order is None else str(order),
            "limit": limit,
            "cursor": cursor,
        }
        return self._http.call(TaskPage, "GET", "/tasks", params=params)

    def iter(self, **filters: Any) -> Iterator[Task]:
        """Every task matching ``filters`` (the keyword arguments of :meth:`list`), page by page."""
        cursor = filters.pop("cursor", None)
        while True:
            page = self.list(cursor=cursor, **filters)
            yield from page.items
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    def update(self, task_id: str, changes: TaskUpdate) -> Task:
        """Change a draft task; fields left ``None`` are kept."""
        body = changes.model_dump(mode="json", exclude_none=True)
        return self._http.call(Task, "PATCH", f"/tasks/{seg(task_id)}", body=body)

    def purge(self, body: PurgeRequest) -> PurgeResult:
        """Delete up to 1000 final tasks finished over ``body.older_than_days`` days ago."""
        return self._http.call(PurgeResult, "POST", "/tasks/purge", body=body)

    def delete(self, task_id: str) -> None:
        """Delete a task that is not queued or running."""
        try:
            self._http.send("DELETE", f"/tasks/{seg(task_id)}")
        except NotFoundError as exc:
            if not exc.retried:  # else an earlier attempt deleted it
                raise

    def clone(
        self,
        task_id: str,
        request: CloneRequest | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Task:
        """A new draft copied from ``task_id`` with overrides (queued when ``queue`` is set).

        Made once however often it is retried, as :meth:`create` says.
        """
        body = (request or CloneRequest()).model_dump(mode="json", exclude_none=True)
        path = f"/tasks/{seg(task_id)}/clone"
        return self._http.call(Task, "POST", path, body=body, headers=_once(idempotency_key))

    def enqueue(
        self, task_id: str, queue: str, priority: int = 0, *, create_queue: bool = False
    ) -> Task:
        """Put a draft task on ``queue``; higher ``priority`` runs first.

        A queue that does not exist is a :class:`~runyard.errors.NotFoundError` unless
        ``create_queue``; the returned task's ``warnings`` say when no live worker serves it.
        """
        body = EnqueueRequest(queue=queue, priority=priority, create_queue=create_queue)
        return self._transition(
            task_id, "enqueue", body, lambda t: t.status is TaskStatus.QUEUED and t.queue == queue
        )

    def move(
        self,
        task_id: str,
        queue: str,
        *,
        priority: int | None = None,
        create_queue: bool = False,
    ) -> Task:
        """Move a queued task onto another ``queue`` in one step (never a draft between):
        at the tail of ``priority`` there (None keeps its own). A queue that does not
        exist is a :class:`~runyard.errors.NotFoundError` unless ``create_queue``; a task
        that is not queued, or is on ``queue`` already, a
        :class:`~runyard.errors.ConflictError`."""
        body = MoveToQueueRequest(queue=queue, priority=priority, create_queue=create_queue)
        return self._transition(
            task_id, "move", body, lambda t: t.status is TaskStatus.QUEUED and t.queue == queue
        )

    def dequeue(self, task_id: str) -> Task:
        """Take a queued task off its queue, back to draft."""
        return self._transition(task_id, "dequeue", None, lambda t: t.status is TaskStatus.DRAFT)

    def abort(self, task_id: str) -> Task:
        """Abort a task: at once when draft or queued; a running one is stopped by its agent."""
        return self._transition(
            task_id, "abort", None, lambda t: t.status is TaskStatus.ABORTED or t.abort_requested
        )

    def report_started(self, task_id: str, lease_token: str) -> Task:
        """Agent: the claimed task is starting (extends the short first lease)."""
        body = StartedReport(lease_token=lease_token)
        return self._transition(task_id, "started", body, lambda t: t.status is TaskStatus.RUNNING)

    def report_completed(self, task_id: str, lease_token: str, exit_code: int = 0) -> Task:
        """Agent: the script exited 0."""
        body = CompletedReport(lease_token=lease_token, exit_code=exit_code)
        return self._transition(
            task_id, "completed", body, lambda t: t.status is TaskStatus.COMPLETED
        )

    def report_failed(
        self,
        task_id: str,
        lease_token: str,
        kind: FailureKind,
        reason: str,
        exit_code: int | None = None,
    ) -> Task:
        """Agent: building the environment or running the script failed."""
        body = FailedReport(lease_token=lease_token, kind=kind, reason=reason, exit_code=exit_code)
        return self._transition(task_id, "failed", body, lambda t: t.status is TaskStatus.FAILED)

    def report_aborted(self, task_id: str, lease_token: str, exit_code: int | None = None) -> Task:
        """Agent: the task was stopped after an abort request."""
        body = AbortedReport(lease_token=lease_token, exit_code=exit_code)
        return self._transition(task_id, "aborted", body, lambda t: t.status is TaskStatus.ABORTED)

    def ping(self, task_id: str, lease_token: str) -> Task:
        """Local run: the script is alive; the server extends the run's lease."""
        body = PingReport(lease_token=lease_token)
        return self._http.call(Task, "POST", f"/tasks/{seg(task_id)}/ping", body=body)

    def report_installed(
        self, task_id: str, lease_token: str, packages: Sequence[InstalledPackage]
    ) -> Task:
        """Agent: what it installed for the task (``environment.installed``); idempotent."""
        body = InstalledReport(lease_token=lease_token, packages=[*packages])
        return self._http.call(Task, "POST", f"/tasks/{seg(task_id)}/installed", body=body)

    def report_requeue(self, task_id: str, lease_token: str) -> Task:
        """Agent (draining): give an unfinished task back to the head of its queue."""
        body = RequeueReport(lease_token=lease_token)
        return self._transition(task_id, "requeue", body, lambda t: t.status is TaskStatus.QUEUED)

    def _transition(
        self,
        task_id: str,
        action: str,
        body: BaseModel | None,
        reached: Callable[[Task], bool],
    ) -> Task:
        """POST a status change; a 409 that echoes a retried attempt's success is success.

        Transitions are retried after ambiguous failures because the server refuses a
        second application (409) rather than doing it twice. When the 409 comes after an
        attempt that may have landed, the task is read back: if it already is where this
        call wanted it, that earlier attempt succeeded.
        """
        try:
            return self._http.call(Task, "POST", f"/tasks/{seg(task_id)}/{action}", body=body)
        except ConflictError as exc:
            if not exc.retried:
                raise
            try:
                current = self.get(task_id)
            except AuthError:
                # An agent token may not read tasks; the 409 is then the best answer.
                raise exc from None
            if reached(current):
                return current
            raise


def _once(key: str | None) -> dict[str, str]:
    """The header that makes every attempt of one create the same request to the server:
    drawn once per call, before the transport's first attempt."""
    return {IDEMPOTENCY_KEY_HEADER: key or uuid.uuid4().hex}
