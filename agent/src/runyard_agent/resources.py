"""What this machine offers tasks: GPUs (NVML, then ``nvidia-smi``, then none), CPUs, memory.

GPU detection goes through a :class:`GpuProvider` so tests and demos can pretend
to have GPUs (``RUNYARD_AGENT_FAKE_GPUS=2``, ``RUNYARD_AGENT_FAKE_GPUS_JSON``,
``RUNYARD_AGENT_FAKE_CUDA=12.1``; :mod:`runyard_agent.fake_gpus`) on a machine without
any. A provider also tells the newest CUDA version the driver supports, which picks
the PyTorch build tasks get, and which processes hold GPU memory, which tells GPUs
busy with other people's work (:mod:`runyard_agent.gpu_watch`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from runyard.models import Gpu, Resources
from runyard_agent import nvml_topology
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError
from runyard_agent.fake_gpus import FakeGpuProvider
from runyard_agent.gpu_provider import CudaVersion, GpuProcess, GpuProvider, GpuUnavailable
from runyard_agent.nvidia_smi import NvidiaSmiProvider

log = logging.getLogger(__name__)

_GIB = 1024**3
_MIB = 1024**2


class NvmlProvider:
    """GPUs through NVML (the ``nvidia-ml-py`` package, extra ``runyard-agent[gpu]``).

    NVML stays initialised once opened: the busy check asks for the GPUs' processes
    every second or two, and ``nvmlInit`` can take seconds on a GPU without
    persistence mode. NVML makes no CUDA context, so the agent never shows as a GPU user.
    """

    name = "nvml"

    def __init__(self) -> None:
        self._nvml: Any = None
        self._lock = threading.Lock()

    def detect(self) -> list[Gpu]:
        nvml = self._open()
        try:
            handles = _nvml_handles(nvml)
            peers = nvml_topology.nvlink_peers(nvml, handles)
            return [_nvml_gpu(nvml, i, h, peers[i]) for i, h in enumerate(handles)]
        except nvml.NVMLError as exc:
            raise GpuUnavailable(f"NVML query failed: {exc}") from None

    def cuda_version(self) -> CudaVersion | None:
        try:
            nvml = self._open()
        except GpuUnavailable:
            return None
        try:
            version = int(nvml.nvmlSystemGetCudaDriverVersion())
        except nvml.NVMLError:
            return None
        # NVML encodes 12.1 as 12010.
        return version // 1000, (version % 1000) // 10

    def processes(self) -> list[GpuProcess]:
        nvml = self._open()
        try:
            return _nvml_processes(nvml, _nvml_handles(nvml))
        except nvml.NVMLError as exc:
            raise GpuUnavailable(f"NVML process query failed: {exc}") from None

    def _open(self) -> Any:
        with self._lock:
            if self._nvml is not None:
                return self._nvml
            try:
                import pynvml
            except ImportError:
                raise GpuUnavailable("nvidia-ml-py is not installed") from None
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise GpuUnavailable(f"NVML did not start: {exc}") from None
            self._nvml = pynvml
            return pynvml


def _nvml_handles(nvml: Any) -> list[Any]:
    return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]


def _nvml_processes(nvml: Any, handles: Sequence[Any]) -> list[GpuProcess]:
    """Compute and graphics processes on each GPU; a process in both lists counts once."""
    found: dict[tuple[int, int], GpuProcess] = {}
    for index, handle in enumerate(handles):
        for query in (
            nvml.nvmlDeviceGetComputeRunningProcesses,
            nvml.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for process in query(handle):
                used = process.usedGpuMemory
                mb = None if used is None else int(used) // _MIB
                seen = found.get((index, process.pid))
                if seen is None or (mb or 0) > (seen.used_mb or 0):
                    found[(index, process.pid)] = GpuProcess(index, process.pid, mb)
    return list(found.values())


def _nvml_gpu(nvml: Any, index: int, handle: Any, peers: list[int]) -> Gpu:
    name = nvml.nvmlDeviceGetName(handle)
    uuid = nvml.nvmlDeviceGetUUID(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return Gpu(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        memory_gb=round(memory.total / _GIB, 2),
        uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
        peers=peers,
    )


class FirstWorkingProvider:
    """Tries providers in order; the first that works answers, and none working means no GPUs."""

    name = "auto"

    def __init__(self, providers: Sequence[GpuProvider]) -> None:
        self.providers = list(providers)
        self._answered: GpuProvider | None = None

    def detect(self) -> list[Gpu]:
        for provider in self.providers:
            try:
                gpus = provider.detect()
            except GpuUnavailable as exc:
                log.debug("GPU detection through %s: %s", provider.name, exc)
                continue
            log.debug("GPU detection through %s found %d GPU(s)", provider.name, len(gpus))
            self._answered = provider
            return gpus
        return []

    def cuda_version(self) -> CudaVersion | None:
        """Asked of the provider that found the GPUs."""
        return self._answered.cuda_version() if self._answered is not None else None

    def processes(self) -> list[GpuProcess]:
        """Asked of the provider that found the GPUs."""
        if self._answered is None:
            raise GpuUnavailable("no provider found GPUs")
        return self._answered.processes()


def default_gpu_provider(settings: AgentSettings) -> GpuProvider:
    """The fake provider when ``fake_gpus_json`` or ``fake_gpus`` is set, else NVML
    falling back to nvidia-smi."""
    major, _, minor = settings.fake_cuda.partition(".") if settings.fake_cuda else ("", "", "")
    cuda = (int(major), int(minor)) if settings.fake_cuda else None
    if settings.fake_gpus_json is not None:
        return FakeGpuProvider.from_spec(settings.fake_gpus_json, cuda)
    if settings.fake_gpus is not None:
        return FakeGpuProvider(settings.fake_gpus, cuda)
    return FirstWorkingProvider([NvmlProvider(), NvidiaSmiProvider()])


@dataclass(frozen=True)
class Machine:
    """What the agent may hand out to tasks."""

    gpus: tuple[Gpu, ...]
    cpus: float
    memory_gb: float
    cuda: CudaVersion | None = None
    """The newest CUDA version the GPU driver supports (None without GPUs)."""
    scheduled: bool = False
    """A batch scheduler (Slurm) places the tasks: this is its largest node, and every
    slot may ask for all of it; what runs at once is the scheduler's to decide."""

    @property
    def total(self) -> Resources:
        """The whole machine as a :class:`Resources` (what the agent registers with)."""
        return Resources(gpus=len(self.gpus), cpus=self.cpus, memory_gb=self.memory_gb)


def detect_machine(settings: AgentSettings, provider: GpuProvider | None = None) -> Machine:
    """Detect GPUs, CPUs and memory, applying ``--gpus`` and ``--cpu-only``."""
    gpus: list[Gpu] = []
    cuda = None
    if not settings.cpu_only:
        provider = provider or default_gpu_provider(settings)
        gpus = restrict_gpus(provider.detect(), settings.gpus)
        cuda = provider.cuda_version() if gpus else None
    cpus = float(psutil.cpu_count(logical=True) or 1)
    memory_gb = round(psutil.virtual_memory().total / _GIB, 2)
    return Machine(gpus=tuple(gpus), cpus=cpus, memory_gb=memory_gb, cuda=cuda)


def restrict_gpus(found: Sequence[Gpu], wanted: Sequence[int] | None) -> list[Gpu]:
    """Keep only the ``wanted`` GPU indices; an index not on the machine is a ConfigError."""
    if wanted is None:
        return list(found)
    by_index = {gpu.index: gpu for gpu in found}
    missing = sorted(set(wanted) - by_index.keys())
    if missing:
        have = ", ".join(str(i) for i in sorted(by_index)) or "none"
        raise ConfigError(
            f"--gpus names GPU index(es) {missing} but this machine has GPU indices: {have}; "
            "check nvidia-smi, or use --cpu-only"
        )
    return [by_index[i] for i in sorted(set(wanted))]
