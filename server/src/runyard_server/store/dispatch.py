"""Waking long-polling claimers: one pub/sub subscription per server process.

A change that puts work on a queue publishes the queue's name on ``ry:wake``. The
process's ``Dispatcher`` holds the only subscription and wakes the longest-waiting
claimer on that queue, so an idle claimer costs an Event, not a Redis connection,
and one new task costs one claim attempt, not one per waiter. A claimer registers
before it tries to claim, so work that arrives between a failed claim and the wait
still wakes it. A woken claimer that finds only tasks too big for it passes the
wake-up on to the next waiter, at most once around the waiters of that queue.

The same subscription listens on ``ry:stop`` for agents' stop watches
(``store/stops.py``): a worker id published there wakes every watch of that worker.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from runyard.models import Claim, GpuFree, Resources
from runyard_server.store import keys
from runyard_server.store.claim import claim_or_skip
from runyard_server.store.gangs import GangOffer, Joined, claim_settled

T = TypeVar("T")


async def publish_work(r: "aioredis.Redis", queue: str) -> None:
    """Tell every server process that ``queue`` has new work."""
    await r.publish(keys.WAKE_CHANNEL, queue)


class Waiter:
    """One claimer waiting on some queues; ``hops`` bounds how far its wake-up travels on.

    A future, not an ``asyncio.Event``: waiting on an event with a timeout wraps it in
    a task, a kilobyte more for each of thousands of idle claimers.
    """

    __slots__ = ("future", "hops", "queue")

    def __init__(self) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hops = 0
        self.queue = ""

    def is_set(self) -> bool:
        return self.future.done()

    def wake(self, queue: str, hops: int) -> None:
        if not self.future.done():
            self.queue, self.hops = queue, hops
            self.future.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True when woken."""
        try:
            await asyncio.wait_for(self.future, timeout)
        except TimeoutError:
            return False
        return True


class Dispatcher:
    """The process's one subscription to ``ry:wake``; wakes waiters per queue.

    ``r`` lends the dispatcher one connection for the subscription. The reader
    blocks without a socket timeout (redis-py 8's default 5 s would break it) and,
    when the connection drops, wakes every waiter (a wake-up may have been lost)
    and resubscribes.

    ``claim_slots`` bounds how many woken waiters claim at once, so a wake-up of
    thousands of waiters never needs more pool connections than that.
    """

    def __init__(
        self, r: "aioredis.Redis", retry_s: float = 0.5, max_concurrent_claims: int = 32
    ) -> None:
        self._redis = r
        self._retry_s = retry_s
        self.claim_slots = asyncio.Semaphore(max_concurrent_claims)
        # Per queue, waiters in arrival order (a dict keeps insertion order).
        self._waiters: dict[str, dict[Waiter, None]] = {}
        # Per worker id, its agent's stop watches (one, or a few across a reconnect).
        self._stop_watches: dict[str, dict[Waiter, None]] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe, and return once Redis has confirmed the subscription."""
        self._pubsub = self._redis.pubsub()
        channels = {keys.WAKE_CHANNEL, keys.STOP_CHANNEL}
        await self._pubsub.subscribe(*channels)
        while channels:
            message = await self._pubsub.get_message(timeout=5.0)
            if message is not None and message["type"] == "subscribe":
                channels.discard(_text(message["channel"]))
        self._reader = asyncio.create_task(self._read(), name="runyard-dispatcher")

    async def stop(self) -> None:
        """Unsubscribe, give the connection back and wake every waiter."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        self._wake_all()

    async def resubscribe(self) -> None:
        """Subscribe again, on a new connection: after a switchover the old one may be
        on a master that no longer hears the new master's publishes."""
        await self.stop()
        await self.start()

    @property
    def waiting(self) -> int:
        """How many waiter registrations are open (a waiter counts once per queue)."""
        return sum(len(events) for events in self._waiters.values())

    @contextmanager
    def watching(self, queues: list[str]) -> Iterator[Waiter]:
        """A Waiter woken when work arrives on any of ``queues`` while the block runs."""
        waiter = Waiter()
        for queue in queues:
            self._waiters.setdefault(queue, {})[waiter] = None
        try:
            yield waiter
        finally:
            for queue in queues:
                waiters = self._waiters.get(queue)
                if waiters is not None:
                    waiters.pop(waiter, None)
                    if not waiters:
                        del self._waiters[queue]

    @contextmanager
    def watching_stops(self, worker_id: str) -> Iterator[Waiter]:
        """A Waiter woken when a task of ``worker_id`` is told to stop while the block
        runs (its ``queue`` is then the worker id), or when a wake-up may have been lost
        (its ``queue`` is empty: the connection to Redis dropped)."""
        waiter = Waiter()
        watches = self._stop_watches.setdefault(worker_id, {})
        watches[waiter] = None
        try:
            yield waiter
        finally:
            watches.pop(waiter, None)
            if not watches:
                self._stop_watches.pop(worker_id, None)

    async def wait(self, queues: list[str], timeout: float) -> bool:
        """Wait up to ``timeout`` s; True when woken by work on one of ``queues``."""
        with self.watching(queues) as waiter:
            return await waiter.wait(timeout)

    def pass_on(self, woken: Waiter) -> None:
        """``woken`` found nothing it could take: wake the next waiter of its queue."""
        if woken.hops > 0:
            self._wake_one(woken.queue, woken.hops - 1, skip=woken)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                self._wake_all()
                await asyncio.sleep(self._retry_s)
                continue
            if message is None or message["type"] != "message":
                continue
            data = _text(message["data"])
            if _text(message["channel"]) == keys.STOP_CHANNEL:
                for waiter in self._stop_watches.get(data, ()):
                    waiter.wake(data, 0)
            else:
                self._wake(data)

    def _wake(self, queue: str) -> None:
        self._wake_one(queue, len(self._waiters.get(queue, ())) - 1)

    def _wake_one(self, queue: str, hops: int, skip: Waiter | None = None) -> None:
        for waiter in self._waiters.get(queue, ()):
            if waiter is not skip and not waiter.is_set():
                waiter.wake(queue, hops)
                return

    def _wake_all(self) -> None:
        for queue, waiters in self._waiters.items():
            for waiter in waiters:
                waiter.wake(queue, 0)
        for watches in self._stop_watches.values():
            for waiter in watches:
                waiter.wake("", 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def claim_wait(
    r: "aioredis.Redis",
    dispatcher: Dispatcher,
    worker_id: str,
    queues: list[str],
    free: Resources,
    first_lease_s: float,
    wait_s: float,
    now_fn: Callable[[], float] = time.time,
    gpus: list[GpuFree] | None = None,
    offer: GangOffer | None = None,
) -> Claim | None:
    """Claim the first fitting task, waiting up to ``wait_s`` s for one to arrive.

    ``now_fn`` gives the unix time for each claim attempt (leases start then);
    ``gpus`` are the agent's GPUs (``ClaimRequest.gpus``). With an ``offer``, a
    multi-node task's gang joined is waited for within ``wait_s`` too.
    """
    until = time.monotonic() + wait_s

    async def once() -> tuple[Claim | Joined | None, bool]:
        # The slot is held for the claim only, never while a gang forms.
        async with dispatcher.claim_slots:
            return await claim_or_skip(
                r, worker_id, queues, free, first_lease_s, now_fn(), gpus=gpus, offer=offer
            )

    async def attempt() -> tuple[Claim | None, bool]:
        return await claim_settled(r, worker_id, once, until)

    return await wait_for_work(dispatcher, queues, wait_s, attempt)


async def wait_for_work(
    dispatcher: Dispatcher,
    queues: list[str],
    wait_s: float,
    attempt: Callable[[], Awaitable[tuple[T | None, bool]]],
) -> T | None:
    """Run ``attempt`` until it finds something or ``wait_s`` s have passed, again each
    time work arrives on ``queues``; what it found, or None.

    ``attempt`` returns what it found (None: nothing) and whether it saw waiting work
    that did not fit, so a wake-up it could not use is passed on to the next waiter.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    woken: Waiter | None = None
    while True:
        with dispatcher.watching(queues) as waiter:
            found, unfit = await attempt()
            if woken is not None and found is None and unfit:
                dispatcher.pass_on(woken)
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0:
                return found
            woken = waiter if await waiter.wait(remaining) else None
