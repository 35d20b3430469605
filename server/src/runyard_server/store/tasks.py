"""Task records: create, read, edit, delete and clone."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import WatchError

from runyard.models import (
    CloneRequest,
    OverrideError,
    Task,
    TaskCreate,
    TaskSpec,
    TaskStatus,
    TaskUpdate,
    checked_overrides,
)
from runyard_server.errors import Conflict, Invalid, NoCode, NotFound
from runyard_server.store import gpu_placement, keys, script_keys, scripts
from runyard_server.store.dispatch import publish_work
from runyard_server.store.idempotency import NO_KEY, Idempotency, replayed
from runyard_server.store.idempotency import declared as idempotency_keys
from runyard_server.store.names import fold
from runyard_server.store.records import flatten, number, spec_fields, spec_of, task_from_hash

MAX_WATCH_TRIES = 50
"""How often an edit is retried when the task changes under it before it answers 409."""

Writes = Callable[[Any], Awaitable[None]]
"""Queues an edit's commands on a ``MULTI`` pipeline."""


async def watched_edit(
    r: "aioredis.Redis",
    task_id: str,
    read: Callable[[Any], Awaitable[Writes]],
    also_watch: tuple[str, ...] = (),
) -> None:
    """Apply an edit of ``task_id`` atomically with ``WATCH``/``MULTI``.

    ``read`` looks at the watched task (the pipeline in immediate mode) and returns what
    to write; when the task changed meanwhile the whole edit is retried from ``read``.
    """
    for _ in range(MAX_WATCH_TRIES):
        async with r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.task(task_id), *also_watch)
                writes = await read(pipe)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                await writes(pipe)
                await pipe.execute()
                return
            except WatchError:
                continue
    raise Conflict(f"task {task_id} kept changing while it was being edited; retry")


def _index_keys(spec: TaskSpec) -> set[str]:
    return {keys.project_index(spec.project), *(keys.tag_index(tag) for tag in spec.tags)}


def _joined(body: TaskCreate, owner: str | None) -> list[str]:
    """The indexes scored by ``num`` that a new task joins."""
    indexes = {keys.ALL_TASKS, *_index_keys(body)}
    if body.parent:
        indexes.add(keys.parent_index(body.parent))
    if owner:
        indexes.add(keys.owner_index(owner))
    return sorted(indexes)


def create_keys(
    task_id: str, body: TaskCreate, num: int, owner: str | None = None
) -> script_keys.Declared:
    """The keys of ``lua/create.lua`` for the task numbered ``num`` (the creation
    sequence's next value)."""
    joined = {f"join:{i}": index for i, index in enumerate(_joined(body, owner), 1)}
    declared = script_keys.transition([task_id], [body.queue], [])
    return {**declared, **script_keys.names_for(num), **joined}


def create_args(
    task_id: str,
    body: TaskCreate,
    now: float,
    create_queue: bool = True,
    idem: Idempotency | None = None,
    owner: str | None = None,
    origin: str | None = None,
) -> list[str | int | float | bytes]:
    """The arguments of ``lua/create.lua`` after the labels."""
    fields = spec_fields(body)
    fields.update(created=number(now), parent=body.parent or "")
    if owner:
        fields["owner"] = owner
    if origin:
        fields["origin"] = origin
    flat = flatten(fields)
    return [
        task_id, now, body.queue or "", body.priority, body.name, fold(body.name),
        int(create_queue), len(flat), *flat, len(_joined(body, owner)),
        *(idem.args() if idem else NO_KEY),
    ]  # fmt: skip


def queue_create(
    pipe: Any,
    sha: str,
    task_id: str,
    body: TaskCreate,
    now: float,
    num: int,
    owner: str | None = None,
) -> None:
    """Queue ``lua/create.lua`` (loaded as ``sha``) on a pipeline, for a bulk load that
    knows the task will be numbered ``num`` (the store's ``num`` so far, plus one)."""
    args = create_args(task_id, body, now, owner=owner)
    scripts.queue(pipe, sha, create_keys(task_id, body, num, owner), *args)


async def create_task(
    r: "aioredis.Redis",
    body: TaskCreate,
    now: float,
    *,
    create_queue: bool = True,
    require_code: bool = False,
    idem: Idempotency | None = None,
    owner: str | None = None,
    origin: str | None = None,
) -> Task:
    """Store a new draft task, owned by ``owner`` and made by ``origin`` (a controller's
    KIND:ID:SLOT, ``Task.origin``); with ``body.queue`` it is enqueued in the same step.

    Without ``create_queue`` a queue that does not exist is NotFound (the HTTP API
    passes the request's ``create_queue``; a typo must not make a queue nobody serves).
    With ``require_code`` (the HTTP API) a task without code is not queued (NoCode).
    With ``idem`` a repeat of an earlier request under its key answers the task that
    request made, as it is now (``idempotency.py``).
    """
    missing = body.script.missing_code() if body.queue and require_code else None
    if missing:
        raise NoCode(missing)
    task_id = uuid.uuid4().hex

    async def plan() -> script_keys.Declared:
        async with r.pipeline(transaction=False) as pipe:
            pipe.get(keys.TASK_SEQ)
            if idem:
                pipe.hget(keys.idempotency(idem.key), "task")
            seq, *seen = await pipe.execute()
        declared = create_keys(task_id, body, int(seq or 0) + 1, owner)
        if idem:
            declared |= idempotency_keys(idem, seen[0])
        return declared

    args = create_args(task_id, body, now, create_queue, idem, owner, origin)
    reply = await scripts.run_planned(r, "create", plan, *args)
    first = replayed(reply, idem)
    if first:
        task = task_from_hash(*first)
    else:
        task = task_from_hash(task_id, scripts.task_reply(reply, task_id, "cannot create it"))
    if body.queue:
        await publish_work(r, body.queue)
    return task


async def create_tasks(
    r: "aioredis.Redis",
    bodies: list[TaskCreate],
    now: float,
    *,
    require_code: bool = False,
    owner: str | None = None,
) -> list[str]:
    """Store ``bodies`` as new tasks, all or none; their ids in the order given.

    One ``MULTI``/``EXEC`` of ``create.lua`` calls, so Redis runs all of them or (the
    connection lost before ``EXEC``: a killed server, a cut network) none. A queue a body
    names without ``create_queue`` must exist: it is checked under ``WATCH`` on the queue
    set, so no queue can vanish between the check and the creates (NotFound otherwise);
    the creation sequence is watched too, as the keys depend on the numbers the tasks
    get. With ``require_code``, one queued task without code refuses them all (NoCode).
    """
    for body in bodies:
        missing = body.script.missing_code() if body.queue and require_code else None
        if missing:
            raise NoCode(missing)
    ids = [uuid.uuid4().hex for _ in bodies]
    sha = await scripts.load(r, "create")
    must_exist = sorted({b.queue for b in bodies if b.queue and not b.create_queue})
    woken = sorted({b.queue for b in bodies if b.queue})
    for _ in range(MAX_WATCH_TRIES):
        async with r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.QUEUES, keys.TASK_SEQ)
                if must_exist:
                    known = await pipe.smismember(keys.QUEUES, must_exist)
                    missing_queues = [q for q, ok in zip(must_exist, known, strict=True) if not ok]
                    if missing_queues:
                        raise scripts.no_queue(missing_queues[0])
                num = int(await pipe.get(keys.TASK_SEQ) or 0)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                for i, (task_id, body) in enumerate(zip(ids, bodies, strict=True), 1):
                    queue_create(pipe, sha, task_id, body, now, num + i, owner)
                for queue in woken:
                    pipe.publish(keys.WAKE_CHANNEL, queue)
                replies = await pipe.execute()
            except WatchError:
                continue
        for task_id, reply in zip(ids, replies, strict=False):
            scripts.task_reply(reply, task_id, "cannot create it")
        return ids
    raise Conflict("the store kept changing while the batch was being created; retry")


async def get_task(r: "aioredis.Redis", task_id: str) -> Task:
    """The task, or NotFound."""
    h = cast(dict[str, str], await r.hgetall(keys.task(task_id)))
    if not h:
        raise NotFound(f"task {task_id} does not exist")
    return task_from_hash(task_id, h)


async def update_task(r: "aioredis.Redis", task_id: str, body: TaskUpdate) -> Task:
    """Edit a draft task's spec; fields absent from ``body`` are kept.

    A running local run (no worker) may still change its params: a script records
    what it ``connect``s as it goes. Anything else is a Conflict.
    """

    async def read(pipe: Any) -> Writes:
        h = await _watched_hash(pipe, task_id)
        task = task_from_hash(task_id, h)
        _check_editable(task, body)
        old = spec_of(task)
        merged = old.model_dump() | body.model_dump(exclude_none=True)
        new = _validated_spec(merged)

        async def writes(pipe: Any) -> None:
            fields = spec_fields(new)
            pipe.hset(keys.task(task_id), items=flatten(fields))
            unasked = [field for field in gpu_placement.TYPED_FIELDS if field not in fields]
            if unasked:
                pipe.hdel(keys.task(task_id), *unasked)
            for gone in _index_keys(old) - _index_keys(new):
                pipe.zrem(gone, task_id)
            for added in _index_keys(new) - _index_keys(old):
                pipe.zadd(added, {task_id: int(h["num"])})
            if new.name != old.name:
                _move_name(pipe, names_sha, task_id, h["num"], old.name, new.name)

        return writes

    names_sha = await scripts.load(r, "names")
    await watched_edit(r, task_id, read)
    return await get_task(r, task_id)


def _check_editable(task: Task, body: TaskUpdate) -> None:
    if task.status is TaskStatus.DRAFT:
        return
    # Tags and the comment label a run; they do not change what it runs or ran.
    if body.model_fields_set <= {"tags", "comment"}:
        return
    local_run = task.status is TaskStatus.RUNNING and task.worker is None
    if local_run and body.model_fields_set <= {"params"}:
        return
    rule = (
        "only a draft can be edited (any task: its tags and comment; "
        "a running local run: its params)"
    )
    raise Conflict(f"task {task.id} is {task.status}; {rule}")


def _move_name(pipe: Any, sha: str, task_id: str, num: str, old: str, new: str | None) -> None:
    """Queue the change of the task's name indexes (``new`` None: remove them) with
    ``lua/names.lua``, loaded as ``sha``."""
    renamed = ("", "") if new is None else (new, fold(new))
    declared = {**script_keys.names_for(int(num)), "name_idx": keys.NAME_INDEX}
    scripts.queue(pipe, sha, declared, task_id, num, old, fold(old), *renamed)


async def _watched_hash(pipe: Any, task_id: str) -> dict[str, str]:
    h: dict[str, str] = await pipe.hgetall(keys.task(task_id))
    if not h:
        raise NotFound(f"task {task_id} does not exist")
    return h


def _validated_spec(data: dict[str, Any]) -> TaskSpec:
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as error:
        raise Invalid(str(error)) from error


async def delete_task(r: "aioredis.Redis", task_id: str) -> None:
    """Delete a task that is not queued or running, with its indexes and logs."""

    async def read(pipe: Any) -> Writes:
        h = await _watched_hash(pipe, task_id)
        task = task_from_hash(task_id, h)
        if task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
            raise Conflict(f"task {task_id} is {task.status}; dequeue or abort it before deleting")
        series = cast(set[str], await pipe.smembers(keys.METRIC_SERIES))

        async def writes(pipe: Any) -> None:
            for index in _indexes_holding(task, series):
                pipe.zrem(index, task_id)
            _move_name(pipe, names_sha, task_id, h["num"], task.name, None)
            pipe.delete(
                keys.task(task_id),
                keys.task_logs(task_id),
                keys.task_log_seqs(task_id),
                keys.task_metrics(task_id),
                keys.task_final_metrics(task_id),
                keys.task_artifacts(task_id),
            )

        return writes

    names_sha = await scripts.load(r, "names")
    # A metric for a series new to the store changes METRIC_SERIES: retry.
    await watched_edit(r, task_id, read, also_watch=(keys.METRIC_SERIES,))


def _indexes_holding(task: Task, series: set[str]) -> set[str]:
    """Every sorted-set index the task may be in (``series``: every metric series)."""
    indexes = {
        keys.ALL_TASKS,
        keys.TASK_IDS,
        keys.STARTED_INDEX,
        keys.FINISHED_INDEX,
        keys.status_index(task.status),
        *_index_keys(task),
        *(index for name in series for index in keys.metric_indexes(name)),
    }
    if task.parent:
        indexes.add(keys.parent_index(task.parent))
    if task.queue:
        indexes.add(keys.queue_index(task.queue))
    if task.owner:
        indexes.add(keys.owner_index(task.owner))
    return indexes


async def clone_task(
    r: "aioredis.Redis",
    task_id: str,
    body: CloneRequest,
    now: float,
    *,
    require_code: bool = False,
    idem: Idempotency | None = None,
    owner: str | None = None,
    origin: str | None = None,
) -> Task:
    """A new draft copied from ``task_id`` (``parent`` = it) with ``body.overrides``
    checked against its params, ``body.new_params`` added and ``body.args`` and
    ``body.resources``, if given, in place of the source's; enqueued when
    ``body.queue`` is given (which must exist unless ``body.create_queue``, and with
    ``require_code`` the task must have code); a draft without code says so in a warning.
    With ``idem`` it is made once per key, as ``create_task`` says; ``origin`` as there."""
    source = await get_task(r, task_id)
    data = spec_of(source).model_dump()
    try:
        data["params"] = checked_overrides(data["params"], body.overrides, body.new_params)
    except OverrideError as error:
        raise Invalid(str(error)) from None
    except ValueError as error:
        raise Invalid(f"new param {error}") from None
    if body.args is not None:
        data["script"]["args"] = body.args
    if body.resources is not None:
        data["resources"] = body.resources.model_dump()
    if body.pin_installed:
        try:
            data["environment"] = source.environment.pinned_to_installed().model_dump()
        except ValueError as error:
            raise Invalid(f"pin_installed: {error}") from None
    if body.name is not None:
        data["name"] = body.name
    if body.tags is not None:
        data["tags"] = body.tags
    data.update(parent=task_id, queue=body.queue, priority=body.priority)
    try:
        create = TaskCreate.model_validate(data)
    except ValidationError as error:
        raise Invalid(str(error)) from error
    clone = await create_task(
        r,
        create,
        now,
        create_queue=body.create_queue,
        require_code=require_code,
        idem=idem,
        owner=owner,
        origin=origin,
    )
    missing = create.script.missing_code()
    if missing:
        return clone.model_copy(update={"warnings": [f"{missing}; it cannot be queued"]})
    return clone
