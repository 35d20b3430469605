"""Agents: register, heartbeat, long-poll claim, list, leave."""

import time

from fastapi import APIRouter, Request, Response

from runyard.models import Claim, ClaimRequest, Heartbeat, HeartbeatReply, Worker, WorkerRegister
from runyard_server import store
from runyard_server.api.deps import (
    CallDep,
    PrincipalDep,
    RedisDep,
    SettingsDep,
)
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.api.long_poll import LONG_POLL, LongPoll
from runyard_server.store.claim import claim_or_skip

router = APIRouter(prefix="/workers", tags=["workers"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def register_worker(body: WorkerRegister, r: RedisDep, who: PrincipalDep) -> Worker:
    who.require("agent", "user")
    return await store.register_worker(r, body, time.time())


@router.get("")
async def list_workers(r: RedisDep, who: PrincipalDep, settings: SettingsDep) -> list[Worker]:
    who.require("user", "agent")
    return await store.list_workers(r, time.time(), settings.alive_after_s)


@router.delete("/{worker_id}", status_code=204)
async def unregister_worker(worker_id: str, r: RedisDep, who: PrincipalDep) -> Response:
    who.require("agent", "user")
    await store.delete_worker(r, worker_id)
    return Response(status_code=204)


@router.post("/{worker_id}/heartbeat")
async def heartbeat(worker_id: str, body: Heartbeat, call: CallDep) -> HeartbeatReply:
    call.who.require("agent", "user")
    return await store.heartbeat(call.redis, worker_id, body, call.settings.lease_s, time.time())


@router.post("/{worker_id}/claim", response_model=Claim)
async def claim(
    worker_id: str, body: ClaimRequest, call: CallDep, request: Request
) -> Claim | Response:
    call.who.require("agent", "user")
    r, lease_s = call.redis, call.settings.first_lease_s
    poll: LongPoll | None = request.scope.get(LONG_POLL)
    asked = time.perf_counter() if poll is None else poll.started
    refused = await store.report_ends(r, body.ended, time.time()) if body.ended else []

    def answer(got: Claim | None) -> Claim:
        if got is None or got.task is None:
            return Claim(refused=refused)
        call.metrics.claim_latency.observe(time.perf_counter() - asked)
        task_token = call.tokens.task_token(got.task.id, got.lease_token or "")
        return got.model_copy(update={"task_token": task_token, "refused": refused})

    if poll is None:
        return answer(
            await store.claim_wait(
                r, call.dispatcher, worker_id, body.queues, body.free, lease_s, body.wait_s
            )
        )

    # One attempt; the long-poll middleware waits, and tries again with ``again``.
    async def again() -> tuple[Response | None, bool]:
        async with call.dispatcher.claim_slots:
            got, unfit = await claim_or_skip(
                r, worker_id, body.queues, body.free, lease_s, time.time()
            )
        # Serialised once, by pydantic (a dict then stdlib json cost twice as much).
        found = None if got is None else _json(answer(got))
        return found, unfit

    found, poll.unfit = await again()
    poll.empty, poll.again = found is None, again
    return answer(None) if found is None else found


def _json(claim: Claim) -> Response:
    return Response(claim.model_dump_json(), media_type="application/json")
