"""Task records: what ran (script, environment, params), what it needs, how it went."""

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from runyard.models.limits import (
    MAX_ARGS,
    MAX_BATCH_TASKS,
    MAX_DIFF_BYTES,
    MAX_PARAMS_BYTES,
    MAX_PRIORITY,
    MAX_REASON_CHARS,
    MAX_REQUIREMENTS,
    MAX_TAGS,
    MIN_PRIORITY,
)
from runyard.models.names import Name, Tag, TaskId, TaskName
from runyard.models.resources import Placement, Resources
from runyard.models.strict import Strict


class TaskStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED)


class FailureKind(StrEnum):
    """Why a task failed: its environment could not be built, its script failed, or the
    agent running it failed (a bug or a lost machine)."""

    ENVIRONMENT = "environment"
    SCRIPT = "script"
    AGENT = "agent"


class Script(Strict):
    """The code to run: a commit of a repository plus the uncommitted changes."""

    repository: str = Field(default="", max_length=4096, description="git URL or local path")
    commit: str | None = Field(default=None, max_length=64)
    branch: str | None = Field(default=None, max_length=255)
    diff: str = Field(default="", description="`git diff --binary` of uncommitted changes")
    entry_point: str = Field(default="", max_length=1024, description="path relative to repo root")
    working_dir: str = Field(default=".", max_length=1024)
    args: list[str] = Field(default_factory=list, max_length=MAX_ARGS)
    bundle: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the git bundle (`POST /bundles`) holding commits no remote has",
    )

    def missing_code(self) -> str | None:
        """Why an agent could not run this script (None when it can): it names no entry
        point, so queueing it would only build an environment and then fail."""
        if self.entry_point:
            return None
        return (
            "the task has no code to run (script.entry_point is empty): it was recorded "
            "without a script file (interactive, -c, or the code could not be captured). "
            "Record it again from a script, or set its script before queueing it"
        )

    @field_validator("repository", "branch")
    @classmethod
    def _no_option_injection(cls, value: str | None) -> str | None:
        if value and value.startswith("-"):
            raise ValueError(
                f"{value!r} starts with '-': a repository or branch cannot be an option"
            )
        if value and not value.isprintable():
            raise ValueError(f"{value!r} contains a line break or control character")
        return value

    @field_validator("commit")
    @classmethod
    def _commit_is_hex(cls, value: str | None) -> str | None:
        if value is not None and not all(c in "0123456789abcdef" for c in value.lower()):
            raise ValueError(f"commit {value!r} must be a hexadecimal git object id")
        return value

    @field_validator("entry_point", "working_dir")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/") or "\x00" in value:
            raise ValueError(f"{value!r} must be a path relative to the repository root")
        return value

    @field_validator("diff")
    @classmethod
    def _diff_size(cls, value: str) -> str:
        if len(value.encode()) > MAX_DIFF_BYTES:
            raise ValueError(
                f"diff is {len(value.encode())} bytes, over the {MAX_DIFF_BYTES}-byte limit: "
                "commit large files or keep them out of the repository"
            )
        return value


class InstalledPackage(Strict):
    """One distribution the agent found installed in a task's environment after building it."""

    name: str = Field(min_length=1, max_length=256)
    version: str = Field(min_length=1, max_length=128)
    hashes: list[str] = Field(default_factory=list, max_length=64)
    """``sha256:…`` of the archives the lock file allowed, when the installer gave them."""
    path: str | None = Field(default=None, max_length=1024)
    """For a package of the repository (installed editable from the checkout): its folder."""


PACKAGING_TOOLS = frozenset({"pip", "setuptools", "wheel"})
"""What a venv is seeded with: never recorded from a freeze nor pinned from an installed set
(a pin of the local ``pip`` would downgrade the agent's)."""


_RepoPath = Annotated[str, Field(min_length=1, max_length=1024)]


class Environment(Strict):
    """How to rebuild the Python environment the task ran in."""

    python: str | None = Field(default=None, max_length=32, pattern=r"^\d+(\.\d+){0,2}$")
    requirements: list[str] = Field(default_factory=list, max_length=MAX_REQUIREMENTS)
    repo_packages: list[_RepoPath] = Field(default_factory=list, max_length=64)
    """Folders of the repository (relative to its root, ``.`` for the root) holding Python
    projects the agent installs editable from the checkout, after the requirements."""
    lock_file: _RepoPath | None = None
    """A ``uv.lock`` of the repository (relative to its root): the agent installs exactly
    the versions it locks (``uv export --frozen``), in place of ``requirements``."""
    installed: list[InstalledPackage] = Field(default_factory=list, max_length=MAX_REQUIREMENTS)
    """What the agent found installed after building the environment; set only by the
    agent's report (``POST /tasks/{id}/installed``), ignored when a task is created."""
    docker_image: str | None = Field(default=None, max_length=512)
    env: dict[str, str] = Field(default_factory=dict)
    package_index: Name | None = None
    """A package index by the name the agent's operator gave it; never a URL."""

    @field_validator("requirements")
    @classmethod
    def _no_pip_options(cls, value: list[str]) -> list[str]:
        for line in value:
            # A per-line option ("six --index-url ...") is as dangerous as a whole-line one.
            if any(word.startswith("-") for word in line.split()):
                raise ValueError(
                    f"requirement {line!r} holds a pip option; only package specifiers are allowed"
                )
            if not line.isprintable():
                raise ValueError(
                    f"requirement {line!r} must be one line without control characters"
                )
        return value

    def pinned_to_installed(self) -> "Environment":
        """This environment with ``requirements`` pinned to exactly what was ``installed``.

        The lock file is dropped (the pins say the same, from the installed side); the
        repository's own packages stay installed from the checkout; packaging tools are left
        to the venv. Raises ValueError when nothing installed is recorded.
        """
        if not self.installed:
            raise ValueError(
                "the task has no environment.installed to pin: it has not been built by an "
                "agent that records what it installed"
            )
        pins = [
            f"{package.name}=={package.version}"
            for package in self.installed
            if package.path is None and package.name.lower() not in PACKAGING_TOOLS
        ]
        return self.model_copy(update={"requirements": sorted(pins), "lock_file": None})

    @field_validator("repo_packages", "lock_file")
    @classmethod
    def _repo_paths(cls, value: list[str] | str | None) -> list[str] | str | None:
        for path in [value] if isinstance(value, str) else value or []:
            if path.startswith(("/", "-")) or ".." in path.split("/") or not path.isprintable():
                raise ValueError(f"{path!r} must be a path relative to the repository root")
        return value

    @field_validator("docker_image")
    @classmethod
    def _image_not_option(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ValueError(f"docker image {value!r} is not an image reference")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if (
                not key
                or not (key[0].isalpha() or key[0] == "_")
                or not all(c.isalnum() or c == "_" for c in key)
            ):
                raise ValueError(f"environment variable name {key!r} is not valid")
            if "\x00" in value[key]:
                raise ValueError(f"environment variable {key} holds a NUL byte")
        return value


Params = dict[str, dict[str, Any]]
"""Sections of hyperparameters: ``{"General": {"lr": 0.01}, "Args": {...}}``."""


def _check_params(value: Params) -> Params:
    size = len(json.dumps(value))
    if size > MAX_PARAMS_BYTES:
        raise ValueError(f"params are {size} bytes of JSON, over the {MAX_PARAMS_BYTES}-byte limit")
    for section in value:
        if not section or "/" in section:
            raise ValueError(f"params section {section!r} must be non-empty and contain no '/'")
    return value


# The constraints of the spec's fields live in their types, so ``TaskUpdate`` states
# each field once more only as "this type, or None" and the two cannot drift apart.
_Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
_Comment = Annotated[str, Field(max_length=10_000)]
_Params = Annotated[Params, AfterValidator(_check_params)]
_Retries = Annotated[int, Field(ge=0, le=100, description="requeues on worker loss")]


class TaskSpec(Strict):
    """The user-editable part of a task: everything needed to run it again."""

    project: Name = "default"
    name: TaskName = "untitled"
    tags: _Tags = Field(default_factory=list)
    comment: _Comment = ""
    script: Script = Field(default_factory=Script)
    environment: Environment = Field(default_factory=Environment)
    params: _Params = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    max_retries: _Retries = 1


class TaskCreate(TaskSpec):
    """``POST /tasks``: a new task; with ``queue`` it is enqueued at once."""

    parent: TaskId | None = None
    queue: Name | None = None
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    create_queue: bool = False
    """Create ``queue`` when it does not exist (else that is a 404: a typo would wait forever)."""


class TaskBatch(Strict):
    """``POST /tasks:batch``: up to ``MAX_BATCH_TASKS`` tasks, created all or none."""

    tasks: list[TaskCreate] = Field(min_length=1, max_length=MAX_BATCH_TASKS)


class TaskBatchCreated(BaseModel):
    """The ids of a batch's tasks in the order they were sent; ``warnings`` name the
    queues no live worker serves."""

    ids: list[str]
    warnings: list[str] = Field(default_factory=list)


class TaskUpdate(Strict):
    """``PATCH /tasks/{id}``: only while the task is a draft (tags and comment at any
    time); absent fields are kept.

    Each field is ``TaskSpec``'s type or None (a unit test holds the two to the
    same fields).
    """

    project: Name | None = None
    name: TaskName | None = None
    tags: _Tags | None = None
    comment: _Comment | None = None
    script: Script | None = None
    environment: Environment | None = None
    params: _Params | None = None
    resources: Resources | None = None
    max_retries: _Retries | None = None


class Task(TaskSpec):
    """A task record as the server returns it."""

    model_config = ConfigDict(extra="ignore")

    id: TaskId
    status: TaskStatus
    parent: str | None = None
    owner: str | None = Field(
        default=None, description="the user (or agent pool) that created it; none on an open server"
    )
    origin: str | None = Field(
        default=None,
        description="for a task a sweep, pipeline, schedule or trigger made: KIND:ID:SLOT "
        "(e.g. sweep:3f2a…:7, pipeline:9c01…:train)",
    )
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    queue: str | None = None
    priority: int = 0
    worker: str | None = None
    attempt: int = 0
    exit_code: int | None = None
    failure_reason: str | None = None
    abort_requested: bool = False
    logs_dropped: int = Field(
        default=0, description="console lines its senders dropped past their spool quota"
    )
    preempted: int = Field(
        default=0, description="times a higher-priority task preempted it (requeued, not failed)"
    )
    preempted_by: str | None = Field(default=None, description="the task that preempted it last")
    preempted_at: datetime | None = Field(default=None, description="when it was last preempted")
    placement: list[Placement] = Field(default_factory=list)
    """Where its current (or last) attempt runs: one entry per rank, empty until claimed."""
    warnings: list[str] = Field(default_factory=list)
    """What the reply that returned this record warns about (e.g. no live worker serves
    its queue); said once, never stored."""


SORT_FIELDS = ("created", "started", "finished", "name")
"""What ``GET /tasks?sort=`` takes, besides ``metric:{series}`` (the series' last value),
``metric_min:{series}`` / ``metric_max:{series}`` (its smallest / largest value) and
``param:{Section/key}``."""

METRIC_SORT = "metric:"
"""The prefix of a sort by a metric series, e.g. ``metric:val/acc``."""

METRIC_MIN_SORT = "metric_min:"
"""The prefix of a sort by the smallest value a series took, e.g. ``metric_min:loss``."""

METRIC_MAX_SORT = "metric_max:"
"""The prefix of a sort by the largest value a series took, e.g. ``metric_max:val/acc``."""

PARAM_SORT = "param:"
"""The prefix of a sort by a parameter, e.g. ``param:General/lr``."""


class SortOrder(StrEnum):
    """``GET /tasks?order=``; the default is ``asc`` for ``name``, else ``desc``."""

    ASC = "asc"
    DESC = "desc"


class TaskPage(BaseModel):
    """A page of ``GET /tasks``; pass ``next_cursor`` as ``cursor`` for the next one.

    Sorted by ``metric:SERIES`` (``metric_min:``, ``metric_max:``), ``metric_values``
    holds each item's last (smallest, largest) value of that series (items without it
    are absent).
    """

    items: list[Task]
    next_cursor: str | None = None
    metric_values: dict[str, float] = Field(default_factory=dict)


class TaskSummary(BaseModel):
    """An item of ``GET /tasks?view=summary``: the record without its code diff,
    packages, environment variables and failure text, so a page of runs stays small
    whatever the tasks carry (``GET /tasks/{id}`` has the whole task)."""

    model_config = ConfigDict(extra="ignore")

    id: TaskId
    project: str
    name: str
    tags: list[str] = Field(default_factory=list)
    comment: str = ""
    status: TaskStatus
    parent: str | None = None
    owner: str | None = None
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    queue: str | None = None
    priority: int = 0
    worker: str | None = None
    attempt: int = 0
    exit_code: int | None = None
    abort_requested: bool = False
    params: Params = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    commit: str | None = None
    entry_point: str = ""
    diff_bytes: int = Field(default=0, description="size of the uncommitted diff")
    packages: int = Field(default=0, description="how many requirements are recorded")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="last values of the series asked for with metrics="
    )
    metrics_min: dict[str, float] = Field(
        default_factory=dict,
        description="smallest values of the series asked for with metrics_min=",
    )
    metrics_max: dict[str, float] = Field(
        default_factory=dict,
        description="largest values of the series asked for with metrics_max=",
    )

    @classmethod
    def of(cls, task: Task, metrics: "dict[str, dict[str, float]] | None" = None) -> "TaskSummary":
        """The summary of a whole task record; ``metrics`` maps ``metrics``,
        ``metrics_min`` and ``metrics_max`` to {series: value}."""
        return cls(
            **task.model_dump(include=set(cls.model_fields) & set(Task.model_fields)),
            commit=task.script.commit,
            entry_point=task.script.entry_point,
            diff_bytes=len(task.script.diff.encode()),
            packages=len(task.environment.requirements),
            **(metrics or {}),
        )


class TaskSummaryPage(BaseModel):
    """A page of ``GET /tasks?view=summary``; cursors work as in :class:`TaskPage`."""

    items: list[TaskSummary]
    next_cursor: str | None = None
    metric_values: dict[str, float] = Field(default_factory=dict)


class ProjectRun(BaseModel):
    """One of a project's latest tasks, as ``GET /projects`` lists them."""

    id: TaskId
    name: str
    status: TaskStatus
    created: datetime


class Project(BaseModel):
    """``GET /projects`` items: a project with its task count and newest tasks."""

    name: str
    tasks: int
    latest: list[ProjectRun] = Field(default_factory=list)


class CloneRequest(Strict):
    """``POST /tasks/{id}/clone``.

    ``overrides`` maps recorded ``"Section/key"`` paths (or ``"Section/a/b"`` for
    nested values) to new values, converted to the recorded value's type; an unknown
    path or a value that cannot take that type is a 422. ``new_params`` adds paths
    the task does not have yet, on purpose.
    """

    name: TaskName | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    new_params: dict[str, Any] = Field(default_factory=dict)
    args: list[str] | None = Field(default=None, max_length=MAX_ARGS)
    """The clone's script arguments in place of the source's (None: the source's)."""
    queue: Name | None = None
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    create_queue: bool = False
    tags: list[Tag] | None = None
    resources: Resources | None = None
    """The clone's resources in place of the source's (None: the source's)."""
    pin_installed: bool = False
    """Replace the requirements (and lock file) with exact pins of what the source task had
    installed (``environment.installed``); a 422 when it has none recorded."""

    @field_validator("overrides", "new_params")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            parts = path.split("/")
            if len(parts) < 2 or not all(parts):
                raise ValueError(f"param {path!r} must look like 'Section/key'")
        return value


class EnqueueRequest(Strict):
    """``POST /tasks/{id}/enqueue``."""

    queue: Name = "default"
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    create_queue: bool = False
    """Create ``queue`` when it does not exist (else that is a 404)."""


class MoveToQueueRequest(Strict):
    """``POST /tasks/{id}/move``: a queued task onto another queue, in one step."""

    queue: Name
    priority: int | None = Field(default=None, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    """Its priority there; None keeps the one it has."""
    create_queue: bool = False
    """Create ``queue`` when it does not exist (else that is a 404)."""


class ReportBase(Strict):
    """Every agent report carries the lease token it was given with the claim."""

    lease_token: str = Field(min_length=1, max_length=128)


class StartedReport(ReportBase):
    """``POST /tasks/{id}/started``: the agent took the task and starts building it."""


class CompletedReport(ReportBase):
    """``POST /tasks/{id}/completed``: the script exited 0."""

    exit_code: int = 0


class FailedReport(ReportBase):
    """``POST /tasks/{id}/failed``: the environment could not be built or the script failed."""

    kind: FailureKind = FailureKind.SCRIPT
    exit_code: int | None = None
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class AbortedReport(ReportBase):
    """``POST /tasks/{id}/aborted``: the agent stopped the task after an abort request."""

    exit_code: int | None = None


class InstalledReport(ReportBase):
    """``POST /tasks/{id}/installed``: what the agent installed for the task, once built."""

    packages: list[InstalledPackage] = Field(max_length=MAX_REQUIREMENTS)


class PingReport(ReportBase):
    """``POST /tasks/{id}/ping``: a local run's script is alive; its lease is extended."""


class RequeueReport(ReportBase):
    """``POST /tasks/{id}/requeue``: a draining agent gives an unfinished task back."""
