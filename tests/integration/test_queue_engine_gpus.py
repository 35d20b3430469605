"""Typed and fractional GPU requests in the claim: model, memory and NVLink matching,
packing of shares, exact placement, and agents that send no GPU list."""

import pytest
import redis.asyncio as aioredis

from runyard.models import Gpu, GpuFree, Placement, Resources, Task, TaskStatus
from runyard_agent.resources import Machine
from runyard_agent.slots import Allocation, SlotPool
from runyard_server import store
from runyard_server.store import keys
from tests.faults.consistency import problems
from tests.integration.store_support import (
    PLENTY,
    T0,
    StoreRedis,
    make_task,
    make_worker,
    sync_client,
)

pytestmark = pytest.mark.anyio

FREE = Resources(gpus=0, cpus=64, memory_gb=512)
"""An agent's CPUs and memory; its GPUs go in the GpuFree list."""


def gpu(index: int, name: str, memory_gb: float, free: float = 1.0, group: int = 0) -> GpuFree:
    return GpuFree(index=index, name=name, memory_gb=memory_gb, free=free, group=group)


A100 = "NVIDIA A100-SXM4-80GB"
H100 = "NVIDIA H100 80GB HBM3"
RTX = "NVIDIA GeForce RTX 4090"


async def claim(r: aioredis.Redis, worker_id: str, gpus: list[GpuFree] | None) -> Task | None:
    found = await store.claim(r, worker_id, ["q"], FREE if gpus else PLENTY, 15, T0, gpus=gpus)
    return None if found is None else found.task


def placed(task: Task | None) -> Placement:
    assert task is not None and len(task.placement) == 1
    return task.placement[0]


async def test_model_glob_matches_case_insensitively_after_the_vendor_word(
    r: aioredis.Redis,
) -> None:
    worker = await make_worker(r)
    wants_a100 = await make_task(r, queue="q", resources=Resources(gpus=1, gpu_model="a100*"))
    wants_h100 = await make_task(r, queue="q", resources=Resources(gpus=1, gpu_model="*H100*"))

    on_rtx = await claim(r, worker.id, [gpu(0, RTX, 24)])
    on_h100 = await claim(r, worker.id, [gpu(0, RTX, 24), gpu(1, H100, 79.6)])
    on_a100 = await claim(r, worker.id, [gpu(0, A100, 80), gpu(1, A100, 80)])

    assert on_rtx is None
    assert on_h100 is not None and on_h100.id == wants_h100.id
    assert placed(on_h100).gpu_indices == [1]
    assert on_a100 is not None and on_a100.id == wants_a100.id
    assert placed(on_a100) == Placement(worker=worker.id, gpu_indices=[0], gpu_fraction=1.0)


async def test_a_glob_matches_the_whole_name_not_a_part_of_it(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(gpus=1, gpu_model="A10"))
    await make_task(r, queue="q", resources=Resources(gpus=1, gpu_model="RTX 4?9?"))

    got = await claim(r, worker.id, [gpu(0, A100, 80), gpu(1, RTX, 24)])

    # "A10" is not "A100-SXM4-80GB"; "RTX 4?9?" is the tail "rtx 4090" of the RTX's name.
    assert placed(got).gpu_indices == [1]
    assert await claim(r, worker.id, [gpu(0, A100, 80)]) is None


async def test_memory_per_gpu_picks_the_big_gpus_of_a_mixed_machine(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(gpus=2, gpu_memory_gb=40))
    mixed = [gpu(0, RTX, 24), gpu(1, A100, 80), gpu(2, RTX, 24), gpu(3, A100, 80)]

    assert await claim(r, worker.id, mixed[:3]) is None
    assert placed(await claim(r, worker.id, mixed)).gpu_indices == [1, 3]


async def test_nvlink_task_gets_gpus_of_one_group_choosing_the_tightest_fit(
    r: aioredis.Redis,
) -> None:
    worker = await make_worker(r)
    # Two NVLink quads (0-3, 4-7) and two single GPUs (8, 9) in groups of their own.
    machine = [gpu(i, A100, 80, group=0 if i < 4 else 4) for i in range(8)]
    machine += [gpu(8, A100, 80, group=8), gpu(9, A100, 80, group=9)]
    machine[1] = gpu(1, A100, 80, free=0, group=0)  # a whole task holds GPU 1
    await make_task(r, queue="q", resources=Resources(gpus=3, gpu_interconnect="nvlink"))
    await make_task(r, queue="q", resources=Resources(gpus=4, gpu_interconnect="nvlink"))
    await make_task(r, queue="q", resources=Resources(gpus=2, gpu_interconnect="nvlink"))

    three = await claim(r, worker.id, machine)
    four = await claim(r, worker.id, machine)

    # Three fit exactly in the quad missing GPU 1; four only in the whole quad.
    assert placed(three).gpu_indices == [0, 2, 3]
    assert placed(four).gpu_indices == [4, 5, 6, 7]
    # Only single GPUs left: two free GPUs of different groups are not NVLink peers.
    assert await claim(r, worker.id, [gpu(8, A100, 80, group=8), gpu(9, A100, 80, group=9)]) is None


async def test_shares_pack_on_the_fullest_gpu_that_holds_them(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    task = await make_task(r, queue="q", resources=Resources(gpus=0.25))
    machine = [gpu(0, A100, 80), gpu(1, A100, 80, free=0.5), gpu(2, A100, 80, free=0.25)]

    got = await claim(r, worker.id, machine)

    assert got is not None and got.id == task.id
    assert placed(got).gpu_indices == [2]
    assert placed(got).gpu_fraction == 0.25
    stored = await store.get_task(r, task.id)
    assert stored.placement == got.placement
    assert stored.resources.gpus == 0.25


async def test_a_share_never_lands_on_a_gpu_a_whole_task_holds(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(gpus=0.5))

    # GPU 0 is held whole (free 0), GPU 1 has a quarter left: neither holds a half.
    assert (
        await claim(r, worker.id, [gpu(0, A100, 80, free=0), gpu(1, A100, 80, free=0.25)]) is None
    )
    assert placed(
        await claim(r, worker.id, [gpu(0, A100, 80, free=0), gpu(1, A100, 80)])
    ).gpu_indices == [1]


async def test_a_whole_task_never_lands_on_a_shared_gpu(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    whole = await make_task(r, queue="q", resources=Resources(gpus=1))
    share = await make_task(r, queue="q", resources=Resources(gpus=0.5))

    got = await claim(r, worker.id, [gpu(0, A100, 80, free=0.5)])

    # The whole task waits (it stays first in the queue); the share behind it fits.
    assert got is not None and got.id == share.id
    assert await r.zrange(keys.queue("q"), 0, -1) == [whole.id]


async def test_an_agent_without_a_gpu_list_takes_only_untyped_whole_gpu_tasks(
    r: aioredis.Redis,
) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(gpus=0.5))
    await make_task(r, queue="q", resources=Resources(gpus=1, gpu_model="A100*"))
    await make_task(r, queue="q", resources=Resources(gpus=2, gpu_memory_gb=16))
    await make_task(r, queue="q", resources=Resources(gpus=2, gpu_interconnect="nvlink"))
    plain = await make_task(r, queue="q", resources=Resources(gpus=2))
    cpu = await make_task(r, queue="q")

    first = await claim(r, worker.id, None)
    second = await claim(r, worker.id, None)

    assert first is not None and first.id == plain.id
    assert placed(first) == Placement(worker=worker.id, gpu_indices=[], gpu_fraction=1.0)
    assert second is not None and second.id == cpu.id
    assert await claim(r, worker.id, None) is None


async def test_a_task_stored_before_typed_requests_is_still_claimed(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    task = await make_task(r, queue="q", resources=Resources(gpus=1))
    await r.hdel(keys.task(task.id), "gpu_mem", "gpu_model", "gpu_pat", "gpu_link")
    await r.hset(keys.task(task.id), "gpus", "1")

    got = await claim(r, worker.id, [gpu(0, RTX, 24), gpu(1, RTX, 24)])

    assert got is not None and got.resources == Resources(gpus=1)
    assert placed(got).gpu_indices == [0]


async def test_cpu_tasks_take_no_gpu_and_record_the_worker(r: aioredis.Redis) -> None:
    worker = await make_worker(r)
    await make_task(r, queue="q", resources=Resources(cpus=2))

    got = await claim(r, worker.id, [gpu(0, A100, 80, free=0)])

    assert placed(got) == Placement(worker=worker.id, gpu_indices=[], gpu_fraction=1.0)


async def test_an_agent_pool_packs_shares_apart_from_whole_gpu_tasks(
    r: aioredis.Redis, store_redis: StoreRedis
) -> None:
    worker = await make_worker(r)
    machine = Machine(gpus=(Gpu(index=0, name=A100), Gpu(index=1, name=A100)), cpus=8, memory_gb=32)
    pool = SlotPool(machine)
    for gpus in (0.5, 1, 0.5, 0.25, 1):
        await make_task(r, queue="q", resources=Resources(gpus=gpus))

    leases: dict[Allocation, str] = {}

    async def claim_and_start() -> Allocation | None:
        found = await store.claim(r, worker.id, ["q"], FREE, 15, T0, gpus=pool.gpu_free())
        if found is None:
            return None
        assert found.task is not None and found.lease_token is not None
        allocation = pool.acquire(found.task.resources, placed(found.task))
        assert allocation is not None, "the agent could not take the server's placement"
        leases[allocation] = f"{found.task.id} {found.lease_token}"
        return allocation

    first = [await claim_and_start() for _ in range(4)]
    held = [(a.gpu_indices, a.gpu_fraction) for a in first if a is not None]

    # Both halves on GPU 0, the whole task on GPU 1; the quarter and the second whole
    # task fit nowhere (no GPU has a quarter left, none is wholly free).
    assert held == [((0,), 0.5), ((1,), 1.0), ((0,), 0.5)]
    assert first[3] is None
    whole = first[1]
    assert whole is not None
    task_id, token = leases[whole].split()
    await store.report_end(r, task_id, token, TaskStatus.COMPLETED, 0, None, T0)
    pool.release(whole)
    quarter = await claim_and_start()
    assert quarter is not None and (quarter.gpu_indices, quarter.gpu_fraction) == ((1,), 0.25)
    assert await claim_and_start() is None  # the last whole task waits for a whole GPU
    checked = sync_client(store_redis)
    try:
        assert problems(checked, overdue_after_s=None) == []
    finally:
        checked.close()
