"""What this machine offers tasks: GPUs (NVML, then ``nvidia-smi``, then none), CPUs, memory.

GPU detection goes through a :class:`GpuProvider` so tests and demos can pretend
to have GPUs (``RUNYARD_AGENT_FAKE_GPUS=2``, ``RUNYARD_AGENT_FAKE_CUDA=12.1``) on a
machine without any. The provider also tells the newest CUDA version the driver
supports, which picks the PyTorch build tasks get.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from runyard.models import Gpu, Resources
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError

log = logging.getLogger(__name__)

_SMI_QUERY = ["--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader"]
_SMI_TIMEOUT_S = 20.0
_GIB = 1024**3
_SMI_CUDA = re.compile(r"CUDA Version:\s*(\d+)\.(\d+)")

CudaVersion = tuple[int, int]


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


class NvmlProvider:
    """GPUs through NVML (the ``nvidia-ml-py`` package, extra ``runyard-agent[gpu]``)."""

    name = "nvml"

    def detect(self) -> list[Gpu]:
        try:
            import pynvml
        except ImportError:
            raise GpuUnavailable("nvidia-ml-py is not installed") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise GpuUnavailable(f"NVML did not start: {exc}") from None
        try:
            return [_nvml_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
        except pynvml.NVMLError as exc:
            raise GpuUnavailable(f"NVML query failed: {exc}") from None
        finally:
            pynvml.nvmlShutdown()

    def cuda_version(self) -> CudaVersion | None:
        try:
            import pynvml
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            try:
                version = int(pynvml.nvmlSystemGetCudaDriverVersion())
            finally:
                pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            return None
        # NVML encodes 12.1 as 12010.
        return version // 1000, (version % 1000) // 10


def _nvml_gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = nvml.nvmlDeviceGetName(handle)
    uuid = nvml.nvmlDeviceGetUUID(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return Gpu(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        memory_gb=round(memory.total / _GIB, 2),
        uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
    )


class NvidiaSmiProvider:
    """GPUs through ``nvidia-smi --query-gpu``, for machines without nvidia-ml-py."""

    name = "nvidia-smi"

    def __init__(self, executable: str = "nvidia-smi") -> None:
        self.executable = executable

    def detect(self) -> list[Gpu]:
        path = shutil.which(self.executable)
        if path is None:
            raise GpuUnavailable(f"{self.executable} is not on PATH")
        try:
            done = subprocess.run(
                [path, *_SMI_QUERY],
                capture_output=True,
                text=True,
                timeout=_SMI_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GpuUnavailable(f"{self.executable} did not run: {exc}") from None
        if done.returncode != 0:
            raise GpuUnavailable(f"{self.executable} failed: {done.stderr.strip()[-500:]}")
        return parse_nvidia_smi(done.stdout)

    def cuda_version(self) -> CudaVersion | None:
        path = shutil.which(self.executable)
        if path is None:
            return None
        try:
            done = subprocess.run(
                [path], capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = _SMI_CUDA.search(done.stdout)
        return (int(found[1]), int(found[2])) if found else None


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader``."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 4:
            raise GpuUnavailable(f"unexpected nvidia-smi line {line!r}")
        # GPU names may contain commas; index is first and memory, uuid are last.
        index, name, memory, uuid = fields[0], ", ".join(fields[1:-2]), fields[-2], fields[-1]
        try:
            gpus.append(
                Gpu(index=int(index), name=name, memory_gb=_smi_memory_gb(memory), uuid=uuid)
            )
        except ValueError as exc:
            raise GpuUnavailable(f"unexpected nvidia-smi line {line!r}: {exc}") from None
    return sorted(gpus, key=lambda gpu: gpu.index)


def _smi_memory_gb(value: str) -> float:
    number, _, unit = value.partition(" ")
    if not number.replace(".", "", 1).isdigit():
        return 0.0
    factor = {"MiB": 1 / 1024, "GiB": 1.0, "KiB": 1 / 1024**2}.get(unit.strip(), 1 / 1024)
    return round(float(number) * factor, 2)


class FakeGpuProvider:
    """``count`` pretend GPUs, for tests and demos on machines without any."""

    name = "fake"

    def __init__(
        self, count: int, memory_gb: float = 16.0, cuda: CudaVersion | None = None
    ) -> None:
        self.count = count
        self.memory_gb = memory_gb
        self.cuda = cuda

    def detect(self) -> list[Gpu]:
        return [
            Gpu(index=i, name="Fake GPU", memory_gb=self.memory_gb, uuid=f"GPU-fake-{i}")
            for i in range(self.count)
        ]

    def cuda_version(self) -> CudaVersion | None:
        return self.cuda


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


def default_gpu_provider(settings: AgentSettings) -> GpuProvider:
    """The fake provider when ``fake_gpus`` is set, else NVML falling back to nvidia-smi."""
    if settings.fake_gpus is not None:
        cuda = settings.fake_cuda
        major, _, minor = cuda.partition(".") if cuda else ("", "", "")
        return FakeGpuProvider(settings.fake_gpus, cuda=(int(major), int(minor)) if cuda else None)
    return FirstWorkingProvider([NvmlProvider(), NvidiaSmiProvider()])


@dataclass(frozen=True)
class Machine:
    """What the agent may hand out to tasks."""

    gpus: tuple[Gpu, ...]
    cpus: float
    memory_gb: float
    cuda: CudaVersion | None = None
    """The newest CUDA version the GPU driver supports (None without GPUs)."""

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
