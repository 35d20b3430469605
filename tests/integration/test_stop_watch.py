"""Stop watches: an agent hears of an abort or a preemption of a task it runs at once,
through the dispatcher's one subscription, with exactly the heartbeat's rules."""

import asyncio

import pytest
import redis.asyncio as aioredis

from runyard.models import HeldTask, StopNews
from runyard_server import store
from runyard_server.store.preemption import preempt_for
from runyard_server.store.stops import wait_for_stops
from tests.integration.store_support import PLENTY, T0, make_task, make_worker
from tests.integration.test_queue_engine_preemption import (
    LATER,
    POLICY,
    _queues,
    _running,
    _waiting,
    _worker,
)

pytestmark = pytest.mark.anyio

LONG_S = 30.0
"""A watch's wait no test sits out: an answer before it is the behaviour under test."""


async def _held(r: aioredis.Redis, worker_id: str, queue: str = "q") -> HeldTask:
    """A task of ``queue`` claimed by ``worker_id``."""
    task = await make_task(r, queue=queue)
    found = await store.claim(r, worker_id, [queue], PLENTY, 30, T0)
    assert found is not None and found.task is not None and found.lease_token is not None
    assert found.task.id == task.id
    return HeldTask(task_id=task.id, lease_token=found.lease_token)


def _watch(
    r: aioredis.Redis, dispatcher: store.Dispatcher, worker_id: str, held: list[HeldTask]
) -> "asyncio.Task[StopNews]":
    return asyncio.create_task(wait_for_stops(r, dispatcher, worker_id, held, LONG_S))


async def _answer(watch: "asyncio.Task[StopNews]") -> StopNews:
    return await asyncio.wait_for(watch, timeout=5)


async def test_an_abort_answers_the_watch_of_the_tasks_worker(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    held = [await _held(r, worker.id), await _held(r, worker.id)]
    watch = _watch(r, dispatcher, worker.id, held)
    await asyncio.sleep(0.05)
    assert not watch.done()

    await store.abort(r, held[1].task_id, T0)

    assert await _answer(watch) == StopNews(abort=[held[1].task_id])


async def test_an_abort_made_before_the_watch_is_answered_at_once(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    held = await _held(r, worker.id)
    await store.abort(r, held.task_id, T0)

    assert await _answer(_watch(r, dispatcher, worker.id, [held])) == StopNews(abort=[held.task_id])


async def test_a_stale_lease_token_or_another_workers_watch_hears_nothing(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker, other = await make_worker(r), await make_worker(r, name="other")
    held = await _held(r, worker.id)
    await store.abort(r, held.task_id, T0)
    stale = HeldTask(task_id=held.task_id, lease_token="0" * 32)

    assert await wait_for_stops(r, dispatcher, worker.id, [stale], 0.2) == StopNews()
    assert await wait_for_stops(r, dispatcher, other.id, [held], 0.2) == StopNews()


async def test_a_preemption_answers_the_victims_watch_with_its_preemptor(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    await _queues(r)
    worker_id = await _worker(r, gpus=1)
    victim, token = await _running(r, worker_id, priority=0, gpus=1, started=T0)
    watch = _watch(r, dispatcher, worker_id, [HeldTask(task_id=victim.id, lease_token=token)])
    await asyncio.sleep(0.05)
    urgent = await _waiting(r, priority=5, gpus=1)

    decision = await preempt_for(r, urgent.id, [worker_id], POLICY, LATER)

    assert decision.outcome == "marked"
    assert await _answer(watch) == StopNews(preempt={victim.id: urgent.id})


async def test_news_of_a_task_the_watch_does_not_list_ends_it_so_the_agent_watches_again(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    listed = await _held(r, worker.id)
    watch = _watch(r, dispatcher, worker.id, [listed])
    await asyncio.sleep(0.05)
    claimed_since = await _held(r, worker.id)

    await store.abort(r, claimed_since.task_id, T0)

    assert await _answer(watch) == StopNews()
    again = _watch(r, dispatcher, worker.id, [listed, claimed_since])
    assert await _answer(again) == StopNews(abort=[claimed_since.task_id])


async def test_a_dropped_subscription_rereads_and_keeps_the_watch_waiting(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    held = await _held(r, worker.id)
    watch = _watch(r, dispatcher, worker.id, [held])
    await asyncio.sleep(0.05)

    await dispatcher.resubscribe()  # wakes every waiter, as a lost connection does
    await asyncio.sleep(0.1)
    assert not watch.done()

    await store.abort(r, held.task_id, T0)
    assert await _answer(watch) == StopNews(abort=[held.task_id])


async def test_a_watch_with_no_news_ends_after_its_wait(
    r: aioredis.Redis, dispatcher: store.Dispatcher
) -> None:
    worker = await make_worker(r)
    held = await _held(r, worker.id)

    assert await wait_for_stops(r, dispatcher, worker.id, [held], 0.2) == StopNews()
