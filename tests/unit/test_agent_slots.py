"""Slots and GPU placement: which tasks fit now, and which GPUs each one gets."""

from runyard.models import Gpu, Placement, Resources
from runyard_agent.resources import Machine
from runyard_agent.slots import Allocation, SlotPool, default_slots, nvlink_groups


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


def linked(index: int, peers: list[int], name: str = "A100") -> Gpu:
    return Gpu(index=index, name=name, memory_gb=80, peers=peers)


def test_nvlink_groups_find_the_quads_of_a_hybrid_cube_mesh() -> None:
    # DGX-1: GPUs 0-3 and 4-7 are fully linked quads, plus one link across (i, i+4).
    quad = {0: [1, 2, 3], 1: [0, 2, 3], 2: [0, 1, 3], 3: [0, 1, 2]}
    gpus = [linked(i, [*quad[i], i + 4]) for i in range(4)]
    gpus += [linked(i + 4, [*(p + 4 for p in quad[i]), i]) for i in range(4)]
    assert nvlink_groups(gpus) == {0: 0, 1: 0, 2: 0, 3: 0, 4: 4, 5: 4, 6: 4, 7: 4}


def test_nvlink_groups_of_an_nvswitch_machine_and_of_unlinked_gpus() -> None:
    switched = [linked(i, [j for j in range(8) if j != i]) for i in range(8)]
    assert set(nvlink_groups(switched).values()) == {0}
    # A link only one side reports still counts; GPUs without links are groups of one.
    assert nvlink_groups([linked(0, [1]), linked(1, []), linked(2, [])]) == {0: 0, 1: 0, 2: 2}


def test_gpu_free_lists_shares_groups_and_busy_gpus() -> None:
    pool = SlotPool(
        Machine(gpus=(linked(0, [1]), linked(1, [0]), linked(2, [])), cpus=8, memory_gb=8)
    )
    half = pool.acquire(
        Resources(gpus=0.5), Placement(worker="w", gpu_indices=[1], gpu_fraction=0.5)
    )
    assert half is not None
    pool.set_busy([2])
    free = {g.index: (g.free, g.group) for g in pool.gpu_free()}
    assert free == {0: (1.0, 0), 1: (0.5, 0), 2: (0.0, 2)}
    assert pool.free() == Resources(gpus=1, cpus=8, memory_gb=8)
    pool.set_busy([])
    assert [g.free for g in pool.gpu_free()] == [1.0, 0.5, 1.0]


def test_acquire_takes_exactly_the_servers_placement() -> None:
    pool = SlotPool(machine(4))
    got = pool.acquire(Resources(gpus=2), Placement(worker="w", gpu_indices=[3, 1]))
    assert got is not None and got.gpu_indices == (3, 1) and got.cuda_visible_devices == "3,1"
    # Taken GPUs, busy GPUs, unknown indices and a placement of the wrong size are refused.
    assert pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[1])) is None
    pool.set_busy([0])
    assert pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[0])) is None
    assert pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[7])) is None
    assert pool.acquire(Resources(gpus=2), Placement(worker="w", gpu_indices=[2])) is None
    assert pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[2])) is not None


def test_shares_of_one_gpu_take_no_slot_and_never_meet_a_whole_task() -> None:
    pool = SlotPool(machine(1))
    half = Placement(worker="w", gpu_indices=[0], gpu_fraction=0.5)
    a = pool.acquire(Resources(gpus=0.5), half)
    b = pool.acquire(Resources(gpus=0.5), half)
    assert a is not None and b is not None
    assert pool.acquire(Resources(gpus=0.5), half) is None
    assert pool.free() == Resources(gpus=0, cpus=16, memory_gb=64)  # the one slot is free
    assert pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[0])) is None
    pool.release(a)
    pool.release(b)
    whole = pool.acquire(Resources(gpus=1), Placement(worker="w", gpu_indices=[0]))
    assert whole is not None
    assert pool.acquire(Resources(gpus=0.5), half) is None


def test_a_share_sets_the_memory_fraction_and_a_whole_gpu_clears_it() -> None:
    env = {"RUNYARD_GPU_MEMORY_FRACTION": "0.9"}
    Allocation((0,), 0, 0, gpu_fraction=0.25).apply_gpu_share(env)
    assert env == {"RUNYARD_GPU_MEMORY_FRACTION": "0.25"}
    Allocation((0,), 0, 0).apply_gpu_share(env)
    assert env == {}
