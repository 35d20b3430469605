"""What a way of finding GPUs answers: the GPUs, the driver's CUDA version, who uses them.

Providers live in :mod:`runyard_agent.resources` (NVML), :mod:`runyard_agent.nvidia_smi`
and :mod:`runyard_agent.fake_gpus` (tests and demos on machines without GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runyard.models import Gpu

CudaVersion = tuple[int, int]


@dataclass(frozen=True)
class GpuProcess:
    """A process with memory on a GPU, as the driver reports it."""

    gpu: int
    """The GPU's index."""
    pid: int
    used_mb: int | None
    """MiB of GPU memory it holds; None when the driver does not say (some containers)."""


class GpuUnavailable(Exception):
    """Raised by a :class:`GpuProvider` whose method does not work on this machine."""


class GpuProvider(Protocol):
    """A way to list the machine's GPUs."""

    name: str

    def detect(self) -> list[Gpu]:
        """The GPUs, ordered by index; raises :class:`GpuUnavailable` when this way fails."""
        ...

    def cuda_version(self) -> CudaVersion | None:
        """The newest CUDA version the driver supports; None when it cannot tell."""
        ...

    def processes(self) -> list[GpuProcess]:
        """Every process holding GPU memory now; raises :class:`GpuUnavailable` when
        this way cannot tell."""
        ...
