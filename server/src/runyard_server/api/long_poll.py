"""Long-polling claims wait outside the app, so an idle agent costs a few KB.

A claim that may wait (``wait_s`` > 0) is held here, between the request log and the
rest of the app. Each attempt runs the whole app once (authentication, validation, one
claim) with a ``LongPoll`` in the scope: the claim route then tries once, says whether
it found nothing, and never waits itself. An attempt that found nothing is answered
only when the wait is over; meanwhile the request holds only this middleware's frame
and a ``Waiter``, not FastAPI's stack of frames, exit stacks and parsed models (about
20 KB a request). The dispatcher wakes it when work arrives, and it tries again.

A body that is not a JSON object naming its queues, or one without a wait, goes
through untouched: the route answers it (and refuses what is invalid).
"""

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.models.limits import MAX_WAIT_S
from runyard.models.routes import API_PREFIX
from runyard_server.errors import RunyardServerError
from runyard_server.store import Dispatcher
from runyard_server.store.dispatch import wait_for_work

LONG_POLL = "runyard.long_poll"
"""The scope key of the ``LongPoll`` of the attempt the route runs."""
_CLAIM = re.compile(re.escape(API_PREFIX) + r"/workers/[^/]+/claim")
_MAX_HELD_BODY = 64 * 1024
"""A claim body is a few hundred bytes; a larger one is passed through, not held."""


@dataclass
class LongPoll:
    """What the claim route tells the middleware about one attempt."""

    started: float = field(default_factory=time.perf_counter)
    empty: bool = False
    """The attempt found no task (its answer is not sent while time is left)."""
    unfit: bool = False
    """It saw waiting tasks too big for this worker."""
    again: Callable[[], Awaitable[tuple[Response | None, bool]]] | None = None
    """The same claim once more, without the app around it: the answer when a task was
    found (else None) and ``unfit``. The caller and the body were checked once already."""
    settle: Callable[[], Awaitable[Response | None]] | None = None
    """Set when the attempt joined the gang of a multi-node task (``store/gangs.py``):
    waits for the gang outside the attempt limits (it may take the whole wait, and a
    gang must never wait for an attempt slot its own members hold); the answer once it
    formed, else None."""


class LongPollMiddleware:
    """Holds waiting ``POST /workers/{id}/claim`` requests between attempts.

    At most ``ATTEMPTS_AT_ONCE`` first attempts run at a time: 10,000 agents polling at
    once would otherwise each hold FastAPI's stack together, and the process keeps the
    memory of that peak. Attempts after a wake-up have their own limit, so a claim woken
    by new work never queues behind a burst of polls that just arrived.
    """

    ATTEMPTS_AT_ONCE = 64

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._first = asyncio.Semaphore(self.ATTEMPTS_AT_ONCE)
        self._woken = asyncio.Semaphore(self.ATTEMPTS_AT_ONCE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not _CLAIM.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        wait = _wait(body) if complete else None
        if wait is None:
            await self.app(scope, _replay(body, receive, complete), send)
            return
        queues, wait_s = wait
        dispatcher: Dispatcher = scope["app"].state.dispatcher
        started = time.perf_counter()
        last: list[Message] = []

        polls: list[LongPoll] = []

        async def attempt() -> tuple[list[Message] | None, bool]:
            messages: list[Message] = []

            async def keep(message: Message) -> None:
                messages.append(message)

            if polls and polls[-1].again is not None:  # woken by work: the claim alone
                failed = False
                async with self._woken:
                    try:
                        found, unfit = await polls[-1].again()
                    except (RunyardServerError, RedisError):
                        found, unfit, failed = None, False, True  # the whole app below answers it
                if not failed and found is None:
                    found = await _settled(polls[-1], receive)
                    if found is None:
                        return None, unfit
                if found is not None:
                    await found(scope, receive, keep)
                    return messages, False
            poll = LongPoll(started=started)
            polls.append(poll)
            async with self._woken if len(polls) > 1 else self._first:
                await self.app({**scope, LONG_POLL: poll}, _replay(body, receive, True), keep)
            formed = await _settled(poll, receive)
            if formed is not None:
                messages.clear()
                await formed(scope, receive, keep)
                poll.empty = False
            last[:] = messages
            return (None if poll.empty else messages), poll.unfit

        try:
            found = await wait_for_work(dispatcher, queues, wait_s, attempt)
        except _ClientGone:
            return  # nobody to answer; its gang slot was given up
        for message in last if found is None else found:
            await send(message)


async def _settled(poll: LongPoll, receive: Receive) -> Response | None:
    """The answer of the gang an attempt joined, once formed (``LongPoll.settle``).

    An agent that goes away meanwhile (its connection closes) leaves the gang at once:
    the wait is cancelled, a cancelled wait leaves (``gangs.wait_formed``), and the
    request ends unanswered (``_ClientGone``)."""
    if poll.settle is None:
        return None
    settle = asyncio.ensure_future(poll.settle())
    gone = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((settle, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in (settle, gone):
            waiting.cancel()
        await asyncio.gather(settle, gone, return_exceptions=True)
    if settle.cancelled():
        raise _ClientGone
    if isinstance(settle.exception(), RunyardServerError | RedisError):
        return None  # a gang releases a member it never hears from at its deadline
    return settle.result()


class _ClientGone(Exception):
    """The agent of a claim waiting for its gang went away (its connection closed)."""


async def _disconnect(receive: Receive) -> None:
    """Returns once the client has gone (its request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _wait(body: bytes) -> tuple[list[str], float] | None:
    """The queues and wait of a claim body that asks to wait; None otherwise."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    queues, wait_s = data.get("queues"), data.get("wait_s")
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        return None
    if not isinstance(wait_s, int | float) or isinstance(wait_s, bool) or wait_s <= 0:
        return None
    # Up to a fifth shorter, at random: polls that all began together (agents back after
    # a restart) come back spread out instead of as one burst every ``wait_s``.
    return queues, min(float(wait_s), MAX_WAIT_S) * (1 - random.random() / 5)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body (complete: True), or its first bytes once over the size held (False)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > _MAX_HELD_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A ``receive`` that gives ``body`` first, then what is left of the request."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": not complete}

    return replay
