"""Which tasks fit now: slots, and the specific GPUs, CPUs and memory each running task holds."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from runyard.models import Resources
from runyard_agent.resources import Machine


@dataclass(frozen=True, eq=False)
class Allocation:
    """What one running task holds: GPU indices (for ``CUDA_VISIBLE_DEVICES``), CPUs, memory."""

    gpu_indices: tuple[int, ...]
    cpus: float
    memory_gb: float

    @property
    def cuda_visible_devices(self) -> str:
        """The value of ``CUDA_VISIBLE_DEVICES``: the indices, or an empty string for none."""
        return ",".join(str(i) for i in self.gpu_indices)

    @property
    def gpu_shares(self) -> dict[int, float]:
        """The share of each of its GPUs the task holds (GPU state in heartbeats)."""
        return dict.fromkeys(self.gpu_indices, 1.0)


def default_slots(machine: Machine) -> int:
    """One slot per GPU, or a single slot on a machine without GPUs."""
    return max(1, len(machine.gpus))


class SlotPool:
    """Hands out slots and resources to tasks; thread-safe.

    A task takes one slot plus the GPUs, CPUs and memory its ``resources`` ask for;
    GPUs go lowest index first so placements are predictable.
    """

    def __init__(self, machine: Machine, slots: int | None = None) -> None:
        self.machine = machine
        self.slots = slots if slots is not None else default_slots(machine)
        self._lock = threading.Lock()
        self._free_gpus = sorted(gpu.index for gpu in machine.gpus)
        self._busy: frozenset[int] = frozenset()
        self._used_cpus = 0.0
        self._used_memory = 0.0
        self._held: list[Allocation] = []

    def free(self) -> Resources | None:
        """What a claim may ask for now, or None when every slot is taken."""
        with self._lock:
            if len(self._held) >= self.slots:
                return None
            return self._free_resources()

    def acquire(self, needs: Resources) -> Allocation | None:
        """Reserve a slot and resources for a task, or None when they are not free."""
        with self._lock:
            if len(self._held) >= self.slots or not needs.fits_in(self._free_resources()):
                return None
            gpus = tuple(self._offered_gpus()[: needs.gpus])
            self._free_gpus = [i for i in self._free_gpus if i not in gpus]
            self._used_cpus += needs.cpus
            self._used_memory += needs.memory_gb
            allocation = Allocation(gpu_indices=gpus, cpus=needs.cpus, memory_gb=needs.memory_gb)
            self._held.append(allocation)
            return allocation

    def release(self, allocation: Allocation) -> None:
        """Give back what :meth:`acquire` reserved."""
        with self._lock:
            self._held.remove(allocation)
            self._free_gpus = sorted([*self._free_gpus, *allocation.gpu_indices])
            self._used_cpus -= allocation.cpus
            self._used_memory -= allocation.memory_gb

    def set_busy(self, indices: Iterable[int]) -> None:
        """GPUs busy with work the agent did not start: neither offered nor handed out."""
        with self._lock:
            self._busy = frozenset(indices)

    @property
    def busy(self) -> int:
        """How many slots are taken."""
        with self._lock:
            return len(self._held)

    def _free_resources(self) -> Resources:
        return Resources(
            gpus=len(self._offered_gpus()),
            cpus=max(0.0, self.machine.cpus - self._used_cpus),
            memory_gb=max(0.0, self.machine.memory_gb - self._used_memory),
        )

    def _offered_gpus(self) -> list[int]:
        return [i for i in self._free_gpus if i not in self._busy]
