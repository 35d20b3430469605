"""Agents: register, heartbeat, long-poll claim, stop watch, list, leave."""

import time
from functools import partial

from fastapi import APIRouter, Request, Response

from runyard.models import (
    Claim,
    ClaimRequest,
    Heartbeat,
    HeartbeatReply,
    StopNews,
    StopWatch,
    Worker,
    WorkerRegister,
)
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
from runyard_server.store.gangs import GangOffer, Joined, claim_settled
from runyard_server.store.leases import current_lease_token
from runyard_server.store.stops import wait_for_stops

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


@router.post("/{worker_id}/stops")
async def watch_stops(worker_id: str, body: StopWatch, call: CallDep) -> StopNews:
    """Answers once a held task is told to stop, else after ``wait_s`` with no news."""
    call.who.require("agent", "user")
    return await wait_for_stops(call.redis, call.dispatcher, worker_id, body.running, body.wait_s)


@router.post("/{worker_id}/claim", response_model=Claim)
async def claim(
    worker_id: str, body: ClaimRequest, call: CallDep, request: Request
) -> Claim | Response:
    call.who.require("agent", "user")
    r, lease_s = call.redis, call.settings.first_lease_s
    poll: LongPoll | None = request.scope.get(LONG_POLL)
    asked = time.perf_counter() if poll is None else poll.started
    refused = await store.report_ends(r, body.ended, time.time()) if body.ended else []

    async def answer(got: Claim | None) -> Claim:
        if got is None or got.task is None:
            return Claim(refused=refused)
        call.metrics.claim_latency.observe(time.perf_counter() - asked)
        # A gang's ranks share the task token of the attempt (the task's own lease token).
        lease = got.lease_token if got.gang is None else await current_lease_token(r, got.task.id)
        task_token = call.tokens.task_token(got.task.id, lease or "")
        return got.model_copy(update={"task_token": task_token, "refused": refused})

    offer = gang_offer(body, call.settings.gang_timeout_s)
    if poll is None:
        return await answer(
            await store.claim_wait(
                r, call.dispatcher, worker_id, body.queues, body.free, lease_s, body.wait_s,
                gpus=body.gpus, offer=offer,
            )
        )  # fmt: skip

    async def once() -> tuple[Claim | Joined | None, bool]:
        async with call.dispatcher.claim_slots:
            return await claim_or_skip(
                r,
                worker_id,
                body.queues,
                body.free,
                lease_s,
                time.time(),
                gpus=body.gpus,
                offer=offer,
            )

    async def respond(got: Claim | None) -> Response | None:
        # Serialised once, by pydantic (a dict then stdlib json cost twice as much).
        return None if got is None else _json(await answer(got))

    # One attempt; the long-poll middleware waits, and tries again with ``again``. A gang
    # joined is waited for (``settle``) by the middleware, outside its attempt limits,
    # within the claim's wait.
    until = time.monotonic() + body.wait_s - (time.perf_counter() - asked)

    async def settle(joined: Joined) -> Response | None:
        poll.settle = None
        got, _ = await claim_settled(r, worker_id, once, until, first=(joined, False))
        return await respond(got)

    async def again() -> tuple[Response | None, bool]:
        got, unfit = await once()
        if isinstance(got, Joined):
            poll.settle = partial(settle, got)
            return None, unfit
        return await respond(got), unfit

    found, poll.unfit = await again()
    poll.empty, poll.again = found is None, again
    return await answer(None) if found is None else found


def gang_offer(body: ClaimRequest, timeout_s: float) -> GangOffer | None:
    """The claim's offer to multi-node tasks; None from an agent that takes none."""
    if body.whole_gangs:
        return GangOffer(host="", port=0, timeout_s=timeout_s, whole=True)
    if not body.gang_host or not body.gang_port:
        return None
    return GangOffer(host=body.gang_host, port=body.gang_port, timeout_s=timeout_s)


def _json(claim: Claim) -> Response:
    return Response(claim.model_dump_json(), media_type="application/json")
