"""Which tasks fit now: slots, and the specific GPUs, CPUs and memory each running task holds.

The server places a task's GPUs in the claim (``Task.placement``), from the GPU list
this pool sends with it (``gpu_free``): each GPU's free share and NVLink group. The pool
then takes exactly that placement; it chooses GPUs itself only for a server that sends
no placement (whole GPUs, lowest index first).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

from runyard.models import GpuFree, Placement, Resources, nvlink_groups
from runyard_agent.resources import Machine

GPU_MEMORY_FRACTION_ENV = "RUNYARD_GPU_MEMORY_FRACTION"
"""Set for a task holding a share of a GPU; the SDK caps PyTorch's memory to it."""


@dataclass(frozen=True, eq=False)
class Allocation:
    """What one running task holds: GPU indices (for ``CUDA_VISIBLE_DEVICES``), the share
    of each it holds (1.0 whole), CPUs, memory."""

    gpu_indices: tuple[int, ...]
    cpus: float
    memory_gb: float
    gpu_fraction: float = 1.0

    @property
    def cuda_visible_devices(self) -> str:
        """The value of ``CUDA_VISIBLE_DEVICES``: the indices, or an empty string for none."""
        return ",".join(str(i) for i in self.gpu_indices)

    @property
    def gpu_shares(self) -> dict[int, float]:
        """The share of each of its GPUs the task holds (GPU state in heartbeats)."""
        return dict.fromkeys(self.gpu_indices, self.gpu_fraction)

    @property
    def takes_slot(self) -> bool:
        """A share of a GPU takes no slot: shares bound how many share one GPU."""
        return self.gpu_fraction >= 1

    def apply_gpu_share(self, env: MutableMapping[str, str]) -> None:
        """Set ``RUNYARD_GPU_MEMORY_FRACTION`` for a share of a GPU; remove it otherwise
        (the task's own environment cannot claim a share it does not hold)."""
        if self.gpu_indices and self.gpu_fraction < 1:
            env[GPU_MEMORY_FRACTION_ENV] = repr(self.gpu_fraction)
        else:
            env.pop(GPU_MEMORY_FRACTION_ENV, None)


SCHEDULED_SLOTS = 256
"""Tasks submitted at once to a batch scheduler, unless ``slots`` says otherwise."""


def default_slots(machine: Machine) -> int:
    """One slot per GPU, or a single slot on a machine without GPUs; a scheduler's many."""
    return SCHEDULED_SLOTS if machine.scheduled else max(1, len(machine.gpus))


class SlotPool:
    """Hands out slots and resources to tasks; thread-safe.

    A task takes one slot (unless it holds a share of a GPU) plus the GPUs, CPUs and
    memory its ``resources`` ask for. Each GPU has a free share: 1 wholly free, less
    while shares of it run, 0 while a whole task holds it or :meth:`set_busy` says
    another user's process does.
    """

    def __init__(self, machine: Machine, slots: int | None = None) -> None:
        self.machine = machine
        self.slots = slots if slots is not None else default_slots(machine)
        self._lock = threading.Lock()
        self._share = {gpu.index: 1.0 for gpu in machine.gpus}
        self._groups = nvlink_groups(machine.gpus)
        self._busy: frozenset[int] = frozenset()
        self._used_cpus = 0.0
        self._used_memory = 0.0
        self._held: list[Allocation] = []

    def free(self) -> Resources | None:
        """What a claim may ask for now, or None when every slot is taken."""
        with self._lock:
            if not self._slot_free():
                return None
            return self._free_resources()

    def gpu_free(self) -> list[GpuFree]:
        """The GPUs with their free shares and NVLink groups, for the claim."""
        with self._lock:
            return [
                GpuFree(
                    index=gpu.index,
                    name=gpu.name,
                    memory_gb=gpu.memory_gb,
                    free=self._free_share(gpu.index),
                    group=self._groups[gpu.index],
                )
                for gpu in self.machine.gpus
            ]

    def set_busy(self, indices: Iterable[int]) -> None:
        """Mark these GPUs used by others (and only these): they are offered to no task."""
        with self._lock:
            self._busy = frozenset(indices)

    def acquire(self, needs: Resources, placement: Placement | None = None) -> Allocation | None:
        """Reserve a slot and resources for a task, or None when they are not free.

        With a ``placement`` (the server's) the task gets exactly its GPUs and share;
        without one, whole GPUs lowest index first.
        """
        with self._lock:
            if self.machine.scheduled:
                return self._submit(needs)
            share = 1.0 if placement is None else placement.gpu_fraction
            if share >= 1 and not self._slot_free():
                return None
            if needs.cpus > self._free_resources().cpus:
                return None
            if needs.memory_gb > self._free_resources().memory_gb:
                return None
            gpus = self._choose(needs, placement)
            if gpus is None:
                return None
            for index in gpus:
                self._share[index] -= share
            self._used_cpus += needs.cpus
            self._used_memory += needs.memory_gb
            allocation = Allocation(gpus, needs.cpus, needs.memory_gb, share)
            self._held.append(allocation)
            return allocation

    def _submit(self, needs: Resources) -> Allocation | None:
        """A slot for a task the scheduler places: it must fit one node; the scheduler
        picks its GPUs."""
        whole = self.machine.total
        if not self._slot_free() or needs.cpus > whole.cpus or needs.memory_gb > whole.memory_gb:
            return None
        if needs.gpus > whole.gpus:
            return None
        allocation = Allocation((), needs.cpus, needs.memory_gb)
        self._used_cpus += needs.cpus
        self._used_memory += needs.memory_gb
        self._held.append(allocation)
        return allocation

    def release(self, allocation: Allocation) -> None:
        """Give back what :meth:`acquire` reserved."""
        with self._lock:
            self._held.remove(allocation)
            for index in allocation.gpu_indices:
                self._share[index] += allocation.gpu_fraction
            self._used_cpus -= allocation.cpus
            self._used_memory -= allocation.memory_gb

    @property
    def busy(self) -> int:
        """How many tasks run."""
        with self._lock:
            return len(self._held)

    def _choose(self, needs: Resources, placement: Placement | None) -> tuple[int, ...] | None:
        """The GPU indices for the task, or None when they are not free as asked."""
        if placement is None:
            if needs.gpus % 1:
                return None  # a share needs the server's placement
            whole = [i for i in sorted(self._share) if self._free_share(i) >= 1]
            return tuple(whole[: int(needs.gpus)]) if len(whole) >= needs.gpus else None
        wanted = tuple(placement.gpu_indices)
        expected = math.ceil(needs.gpus)
        if len(wanted) != expected or len(set(wanted)) != expected:
            return None
        if any(
            i not in self._share or self._free_share(i) < placement.gpu_fraction for i in wanted
        ):
            return None
        return wanted

    def _free_share(self, index: int) -> float:
        return 0.0 if index in self._busy else self._share[index]

    def _slot_free(self) -> bool:
        return sum(1 for held in self._held if held.takes_slot) < self.slots

    def _free_resources(self) -> Resources:
        if self.machine.scheduled:
            return self.machine.total
        return Resources(
            gpus=sum(1 for i in self._share if self._free_share(i) >= 1),
            cpus=max(0.0, self.machine.cpus - self._used_cpus),
            memory_gb=max(0.0, self.machine.memory_gb - self._used_memory),
        )
