"""Slots and GPU placement: which tasks fit now, and which GPUs each one gets."""

from runyard.models import Gpu, Resources
from runyard_agent.resources import Machine
from runyard_agent.slots import SlotPool, default_slots


def machine(gpus: int, cpus: float = 16, memory_gb: float = 64) -> Machine:
    return Machine(gpus=tuple(Gpu(index=i) for i in range(gpus)), cpus=cpus, memory_gb=memory_gb)


def test_one_slot_per_gpu_or_one_without_gpus() -> None:
    assert default_slots(machine(4)) == 4
    assert default_slots(machine(0)) == 1


def test_tasks_get_distinct_gpus_lowest_first() -> None:
    pool = SlotPool(machine(4))
    first = pool.acquire(Resources(gpus=1))
    second = pool.acquire(Resources(gpus=2))
    assert first is not None and second is not None
    assert first.gpu_indices == (0,)
    assert second.gpu_indices == (1, 2)
    assert second.cuda_visible_devices == "1,2"
    assert pool.free() == Resources(gpus=1, cpus=16, memory_gb=64)


def test_cpu_task_gets_an_empty_cuda_visible_devices() -> None:
    allocation = SlotPool(machine(2)).acquire(Resources())
    assert allocation is not None
    assert allocation.cuda_visible_devices == ""


def test_released_gpus_are_reused() -> None:
    pool = SlotPool(machine(2))
    first = pool.acquire(Resources(gpus=1))
    second = pool.acquire(Resources(gpus=1))
    assert first is not None and second is not None
    pool.release(first)
    third = pool.acquire(Resources(gpus=1))
    assert third is not None and third.gpu_indices == (0,)


def test_no_claim_while_every_slot_is_taken() -> None:
    pool = SlotPool(machine(0), slots=2)
    a, b = pool.acquire(Resources()), pool.acquire(Resources())
    assert a is not None and b is not None
    assert pool.free() is None
    assert pool.acquire(Resources()) is None
    pool.release(a)
    assert pool.free() is not None
    assert pool.busy == 1


def test_task_needing_more_than_is_free_does_not_fit() -> None:
    pool = SlotPool(machine(2, cpus=8, memory_gb=32), slots=4)
    assert pool.acquire(Resources(gpus=3)) is None
    assert pool.acquire(Resources(cpus=6)) is not None
    assert pool.acquire(Resources(cpus=4)) is None
    assert pool.acquire(Resources(memory_gb=40)) is None
    free = pool.free()
    assert free is not None and free.cpus == 2


def test_identical_allocations_release_independently() -> None:
    pool = SlotPool(machine(0), slots=2)
    a, b = pool.acquire(Resources(cpus=1)), pool.acquire(Resources(cpus=1))
    assert a is not None and b is not None
    pool.release(b)
    pool.release(a)
    assert pool.busy == 0
