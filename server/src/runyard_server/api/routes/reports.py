"""Agent reports on the tasks they hold; each carries the lease token of the claim."""

import time

from fastapi import APIRouter

from runyard.models import (
    AbortedReport,
    CompletedReport,
    FailedReport,
    InstalledReport,
    PingReport,
    RequeueReport,
    StartedReport,
    Task,
    TaskStatus,
)
from runyard_server import store
from runyard_server.api.deps import CallDep
from runyard_server.api.json_body import FiniteJSONRoute

router = APIRouter(prefix="/tasks", tags=["agent reports"], route_class=FiniteJSONRoute)


@router.post("/{task_id}/started")
async def report_started(task_id: str, body: StartedReport, call: CallDep) -> Task:
    call.who.require("agent", "user")
    lease_s = call.settings.lease_s
    return await store.report_started(call.redis, task_id, body.lease_token, lease_s, time.time())


@router.post("/{task_id}/completed")
async def report_completed(task_id: str, body: CompletedReport, call: CallDep) -> Task:
    call.who.require("agent", "user")
    return await store.report_end(
        call.redis,
        task_id,
        body.lease_token,
        TaskStatus.COMPLETED,
        body.exit_code,
        None,
        time.time(),
    )


@router.post("/{task_id}/failed")
async def report_failed(task_id: str, body: FailedReport, call: CallDep) -> Task:
    call.who.require("agent", "user")
    reason = store.failure_reason(body.kind, body.reason)
    return await store.report_end(
        call.redis,
        task_id,
        body.lease_token,
        TaskStatus.FAILED,
        body.exit_code,
        reason,
        time.time(),
    )


@router.post("/{task_id}/aborted")
async def report_aborted(task_id: str, body: AbortedReport, call: CallDep) -> Task:
    call.who.require("agent", "user")
    return await store.report_end(
        call.redis,
        task_id,
        body.lease_token,
        TaskStatus.ABORTED,
        body.exit_code,
        "aborted",
        time.time(),
    )


@router.post("/{task_id}/installed")
async def report_installed(task_id: str, body: InstalledReport, call: CallDep) -> Task:
    """What the agent installed for the task, after building its environment."""
    call.who.require("agent", "user")
    return await store.record_installed(call.redis, task_id, body.lease_token, body.packages)


@router.post("/{task_id}/ping")
async def ping(task_id: str, body: PingReport, call: CallDep) -> Task:
    """A local run's keep-alive: extends its lease by ``--local-lease`` seconds."""
    call.who.require("agent", "user")
    lease_s = call.settings.local_lease_s
    return await store.ping(call.redis, task_id, body.lease_token, lease_s, time.time())


@router.post("/{task_id}/requeue")
async def report_requeue(task_id: str, body: RequeueReport, call: CallDep) -> Task:
    call.who.require("agent", "user")
    return await store.requeue(call.redis, task_id, body.lease_token, time.time())
