"""Idempotent creates: a create or clone repeated with its Idempotency-Key makes one task."""

import asyncio

import pytest
import redis.asyncio as aioredis

from runyard.models import CloneRequest, Script, TaskCreate
from runyard_server import store
from runyard_server.errors import Conflict, Invalid, NotFound
from runyard_server.store import Idempotency, keys
from runyard_server.store.idempotency import TTL_S
from tests.integration.store_support import T0

pytestmark = pytest.mark.anyio

BODY = TaskCreate(name="train", queue="gpu", script=Script(entry_point="train.py"))


def key_of(key: str, body: TaskCreate = BODY) -> Idempotency:
    return Idempotency.of(key, "POST /tasks", body.model_dump_json().encode())


async def test_a_repeated_create_makes_one_task_and_answers_its_id(r: aioredis.Redis) -> None:
    first = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    again = await store.create_task(r, BODY, T0 + 5, idem=key_of("k1"))

    assert again.id == first.id and again.created == first.created
    assert await r.zrange(keys.ALL_TASKS, 0, -1) == [first.id]
    assert await r.zrange(keys.queue("gpu"), 0, -1) == [first.id]


async def test_the_repeat_answers_the_task_as_it_is_now(r: aioredis.Redis) -> None:
    first = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    await store.dequeue(r, first.id)

    again = await store.create_task(r, BODY, T0, idem=key_of("k1"))

    assert again.id == first.id and again.status == "draft"


async def test_concurrent_sends_of_one_key_make_one_task(r: aioredis.Redis) -> None:
    made = await asyncio.gather(
        *(store.create_task(r, BODY, T0, idem=key_of("k1")) for _ in range(8))
    )

    assert {task.id for task in made} == {made[0].id}
    assert await r.zcard(keys.ALL_TASKS) == 1


async def test_another_request_under_a_used_key_is_refused_and_makes_nothing(
    r: aioredis.Redis,
) -> None:
    first = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    other = BODY.model_copy(update={"name": "eval"})

    with pytest.raises(Invalid, match=rf"Idempotency-Key 'k1'.*another request.*{first.id}"):
        await store.create_task(r, other, T0, idem=key_of("k1", other))
    assert await r.zcard(keys.ALL_TASKS) == 1


async def test_different_keys_make_different_tasks(r: aioredis.Redis) -> None:
    one = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    two = await store.create_task(r, BODY, T0, idem=key_of("k2"))

    assert one.id != two.id and await r.zcard(keys.ALL_TASKS) == 2


async def test_the_key_is_kept_a_day_and_once_expired_a_repeat_creates_anew(
    r: aioredis.Redis,
) -> None:
    first = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    record = keys.idempotency("k1")

    assert TTL_S - 60 < await r.ttl(record) <= TTL_S == 24 * 3600
    assert await r.hgetall(record) == {"task": first.id, "request": key_of("k1").request}

    await r.pexpire(record, 1)
    await asyncio.sleep(0.05)
    again = await store.create_task(r, BODY, T0, idem=key_of("k1"))
    assert again.id != first.id and await r.zcard(keys.ALL_TASKS) == 2


async def test_a_refused_create_records_no_key_so_its_retry_can_succeed(
    r: aioredis.Redis,
) -> None:
    with pytest.raises(NotFound, match="queue gpu does not exist"):
        await store.create_task(r, BODY, T0, create_queue=False, idem=key_of("k1"))
    assert await r.exists(keys.idempotency("k1")) == 0

    await store.create_queue(r, "gpu")
    made = await store.create_task(r, BODY, T0, create_queue=False, idem=key_of("k1"))
    assert made.status == "queued"


async def test_a_repeat_after_the_task_was_deleted_says_so(r: aioredis.Redis) -> None:
    draft = BODY.model_copy(update={"queue": None})
    first = await store.create_task(r, draft, T0, idem=key_of("k1", draft))
    await store.delete_task(r, first.id)

    with pytest.raises(Conflict, match=rf"made task {first.id}, which has been deleted"):
        await store.create_task(r, draft, T0, idem=key_of("k1", draft))


async def test_a_repeated_clone_makes_one_clone(r: aioredis.Redis) -> None:
    source = await store.create_task(r, BODY.model_copy(update={"queue": None}), T0)
    request = CloneRequest(name="again")
    idem = Idempotency.of(
        "c1", f"POST /tasks/{source.id}/clone", request.model_dump_json().encode()
    )

    one = await store.clone_task(r, source.id, request, T0, idem=idem)
    two = await store.clone_task(r, source.id, request, T0, idem=idem)

    assert one.id == two.id != source.id and one.parent == source.id
    assert await r.zcard(keys.parent_index(source.id)) == 1
