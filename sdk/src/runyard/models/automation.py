"""Work the queue starts on its own, and who hears about it: schedules, triggers, webhooks.

A schedule clones a task and enqueues the clone on a cron, in a time zone; a trigger
does the same when a task ends a certain way; a webhook POSTs an event (a task ended,
a sweep finished, a pipeline failed) to a URL. ``/api/v1/schedules``, ``/triggers``,
``/webhooks``.
"""

import math
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from runyard.models.limits import MAX_PRIORITY, MIN_PRIORITY
from runyard.models.names import Name, SeriesName, Tag, TaskId
from runyard.models.strict import Strict

EventKind = Literal[
    "task.completed",
    "task.failed",
    "task.aborted",
    "sweep.done",
    "sweep.failed",
    "pipeline.completed",
    "pipeline.failed",
    "pipeline.aborted",
]
"""The events a webhook may ask for. ``task.*`` come from every task that ends; the
others from the sweep and pipeline controllers (``notify.emit`` on the server)."""

EVENT_KINDS: tuple[str, ...] = get_args(EventKind)

CatchUp = Literal["once", "all", "skip"]
"""What a schedule does with the runs it missed while no jobs process ran: ``once``
starts one run for all of them, ``all`` starts each (at most ``MAX_CATCH_UP``), ``skip``
starts none and waits for the next time."""

MAX_CATCH_UP = 100
"""Missed runs a schedule with ``catch_up="all"`` starts, at most."""

FinalStatus = Literal["completed", "failed", "aborted"]
Comparison = Literal[">", ">=", "<", "<="]


def _failed_only() -> list[FinalStatus]:
    return ["failed"]


class RunTarget(Strict):
    """What a schedule or trigger starts: a clone of ``task`` with ``overrides`` (as
    ``POST /tasks/{id}/clone`` takes them), enqueued on ``queue``; or a run of
    ``pipeline`` with pipeline ``params``. Exactly one of ``task`` and ``pipeline``."""

    task: TaskId | None = None
    pipeline: TaskId | None = Field(default=None, description="a pipeline's id")
    queue: Name = "default"
    overrides: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(
        default_factory=dict, description="a pipeline run's parameters (by name)"
    )
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)

    @field_validator("overrides")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            if len(path.split("/")) < 2 or not all(path.split("/")):
                raise ValueError(f"override {path!r} must look like 'Section/key'")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> "RunTarget":
        if (self.task is None) == (self.pipeline is None):
            raise ValueError("give a task to clone or a pipeline to run (one of them)")
        if self.pipeline is not None and self.overrides:
            raise ValueError("overrides change a cloned task; a pipeline run takes params")
        if self.task is not None and self.params:
            raise ValueError("params are a pipeline run's; a cloned task takes overrides")
        return self


class ScheduleCreate(RunTarget):
    """``POST /schedules``: ``cron`` is five fields (minute hour day month weekday) or
    six, the sixth being seconds (``* * * * * */10``); ``tz`` an IANA zone name."""

    cron: str = Field(min_length=1, max_length=200)
    tz: str = Field(default="UTC", min_length=1, max_length=64)
    catch_up: CatchUp = "once"
    name: str | None = Field(default=None, max_length=200)


class Schedule(ScheduleCreate):
    """A schedule as stored, with when it runs next."""

    id: str
    project: str = Field(description="the project of the task it clones (or the pipeline)")
    owner: str | None = None
    created: datetime
    paused: bool = False
    next_runs: list[datetime] = Field(
        default_factory=list, description="the next few run times (none while paused)"
    )
    last_run: datetime | None = Field(default=None, description="the due time of the last run")
    last_task: str | None = Field(
        default=None, description="the task (or pipeline run) the last run made"
    )
    last_error: str | None = Field(default=None, description="why the last run made no task")
    runs: int = 0


class TriggerCreate(RunTarget):
    """``POST /triggers``: when a task of ``project`` (and/or with ``tag``) ends with one
    of ``statuses`` and, if ``metric`` is given, its final value of that series compares
    to ``threshold`` as ``op`` says, start the target. A trigger with neither project nor
    tag watches every task (admins only). A task that this trigger started never fires it."""

    watch_project: Name | None = None
    watch_tag: Tag | None = None
    statuses: list[FinalStatus] = Field(default_factory=_failed_only, min_length=1)
    metric: SeriesName | None = None
    op: Comparison = ">="
    threshold: float | None = None
    name: str | None = Field(default=None, max_length=200)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("threshold must be a finite number")
        return value

    @model_validator(mode="after")
    def _metric_with_threshold(self) -> "TriggerCreate":
        if (self.metric is None) != (self.threshold is None):
            raise ValueError("give metric and threshold together (or neither)")
        return self


class Trigger(TriggerCreate):
    """A trigger as stored."""

    id: str
    project: str = Field(description="the project of the task it clones (or the pipeline)")
    owner: str | None = None
    created: datetime
    paused: bool = False
    fired: int = 0
    last_fired: datetime | None = None
    last_task: str | None = None
    last_error: str | None = None


class WebhookCreate(Strict):
    """``POST /webhooks``: POST each of ``events`` (of ``project`` only, when given) to
    ``url`` as JSON, or as a Slack incoming-webhook message with ``format="slack"``."""

    url: str = Field(min_length=1, max_length=2048)
    events: list[EventKind] = Field(min_length=1)
    project: Name | None = None
    format: Literal["json", "slack"] = "json"


class Webhook(WebhookCreate):
    """A webhook as stored (its secret is shown only once, when it is created)."""

    id: str
    owner: str | None = None
    created: datetime


class WebhookCreated(Webhook):
    """The answer to a create: ``secret`` signs every body (``X-Runyard-Signature:
    sha256=HMAC-SHA256(secret, body)`` in hex). It is not shown again."""

    secret: str


DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookDelivery(Strict):
    """One event sent (or being sent) to one webhook: ``failed`` once it gave up (a day
    of retries), ``pending`` while it waits for its next attempt."""

    id: str
    webhook: str
    event_id: str = Field(description="the same for every attempt: receivers dedupe on it")
    event: EventKind
    status: DeliveryStatus
    attempts: int
    created: datetime
    last_attempt: datetime | None = None
    next_attempt: datetime | None = None
    response_code: int | None = None
    error: str | None = None
