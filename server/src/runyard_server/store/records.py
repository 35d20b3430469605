"""How a task is laid out in its Redis hash (see ``keys``) and read back."""

import json
from datetime import UTC, datetime
from typing import Any

from runyard.models import Task, TaskSpec
from runyard_server.store import gpu_placement

SPEC_JSON_FIELDS = frozenset({"comment", "script", "environment"})
"""TaskSpec fields kept together as JSON in the ``spec`` hash field. The params have a
field of their own, so a sort by a parameter reads them without the code diff."""


def number(value: float) -> str:
    """A number as Redis and Lua read it back exactly."""
    return repr(value) if isinstance(value, float) else str(value)


def compact(value: object) -> str:
    """JSON without the spaces after separators: a queued task's hash is its memory."""
    return json.dumps(value, separators=(",", ":"))


def flatten(fields: dict[str, str]) -> list[str | int | float | bytes]:
    """``{k1: v1, k2: v2}`` as ``[k1, v1, k2, v2]`` (HSET items, script arguments)."""
    return [item for pair in fields.items() for item in pair]


def spec_fields(spec: TaskSpec) -> dict[str, str]:
    """The hash fields that hold a task's editable spec."""
    # ``environment.installed`` is the agent's report (its own ``installed`` field), never
    # the creator's word: a clone or a copied environment does not carry it over.
    spec_json = spec.model_dump(
        mode="json",
        include=set(SPEC_JSON_FIELDS),
        exclude={"environment": {"installed"}},
    )
    return {
        "spec": compact(spec_json),
        "params": compact(spec.params),
        "project": spec.project,
        "name": spec.name,
        "tags": compact(spec.tags),
        **gpu_placement.task_fields(spec.resources),
        "cpus": number(float(spec.resources.cpus)),
        "mem": number(float(spec.resources.memory_gb)),
        "max_retries": str(spec.max_retries),
        "nodes": str(spec.resources.nodes),
    }


def spec_of(task: Task) -> TaskSpec:
    """The editable part of a task."""
    return TaskSpec.model_validate(task.model_dump(include=set(TaskSpec.model_fields)))


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), tz=UTC)


def _resources(h: dict[str, str]) -> dict[str, Any]:
    # Tasks stored before typed GPU requests and gangs have no gpu_* or nodes fields.
    return {
        "gpus": float(h["gpus"]),
        "cpus": float(h["cpus"]),
        "memory_gb": float(h["mem"]),
        "gpu_memory_gb": float(h.get("gpu_mem", "0")),
        "gpu_model": h.get("gpu_model") or None,
        "gpu_interconnect": h.get("gpu_link") or "any",
        "nodes": int(h.get("nodes", "1")),
    }


def task_from_hash(task_id: str, h: dict[str, str]) -> Task:
    """The Task model for a task hash (HGETALL result, decoded)."""
    data: dict[str, Any] = json.loads(h["spec"])
    if "installed" in h:
        data.setdefault("environment", {})["installed"] = json.loads(h["installed"])
    if "params" in h:  # else a task stored before params had their own field
        data["params"] = json.loads(h["params"])
    exit_code = h.get("exit_code")
    data.update(
        id=task_id,
        project=h["project"],
        name=h["name"],
        tags=json.loads(h["tags"]),
        resources=_resources(h),
        max_retries=int(h["max_retries"]),
        status=h["status"],
        parent=h.get("parent") or None,
        owner=h.get("owner") or None,
        origin=h.get("origin"),
        created=_time(h["created"]),
        started=_time(h.get("started")),
        finished=_time(h.get("finished")),
        queue=h.get("queue"),
        priority=int(float(h.get("priority", "0"))),
        worker=h.get("worker"),
        attempt=int(h.get("attempt", "0")),
        exit_code=None if exit_code is None else int(exit_code),
        failure_reason=h.get("failure_reason"),
        abort_requested=h.get("abort_requested") == "1",
        logs_dropped=int(h.get("logs_dropped", "0")),
        preempted=int(h.get("preempted", "0")),
        preempted_by=h.get("preempted_by"),
        preempted_at=_time(h.get("preempted_at")),
        placement=json.loads(h.get("placement", "[]")),
    )
    return Task.model_validate(data)
