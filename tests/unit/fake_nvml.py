"""A stand-in ``pynvml`` module: GPUs with models, memory, PCI addresses, NVLink links,
P2P answers and processes, answering the calls the agent makes the way nvidia-ml-py does
(errors as ``NVMLError``, strings as ``bytes`` or ``str``, unknown memory as None)."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

NOT_SUPPORTED = 3
INVALID_ARGUMENT = 2


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


@dataclass
class FakeDevice:
    name: str
    memory_gb: float
    bus: int
    links: list[int | None] | None = None
    """The bus of each NVLink link's far end (None: a switch); None: no NVLink at all."""
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, bytes used or None) per process."""


@dataclass
class Pci:
    busId: bytes  # NVML's field names
    busIdLegacy: bytes = b""


@dataclass
class Proc:
    pid: int
    usedGpuMemory: int | None


@dataclass
class Memory:
    total: int
    used: int = 0
    free: int = 0


def bus_id(bus: int) -> bytes:
    return f"00000000:{bus:02X}:00.0".encode()


class FakeNvml(types.ModuleType):
    """``pynvml`` over a list of :class:`FakeDevice`; ``p2p_nvlink`` lists the index pairs
    whose P2P status over NVLink is OK (None: the driver does not answer P2P queries)."""

    NVMLError = NVMLError
    NVML_FEATURE_ENABLED = 1
    NVML_FEATURE_DISABLED = 0
    NVML_NVLINK_MAX_LINKS = 18
    NVML_P2P_CAPS_INDEX_NVLINK = 2
    NVML_P2P_STATUS_OK = 0
    NVML_P2P_STATUS_NOT_SUPPORTED = 5

    def __init__(
        self, devices: list[FakeDevice], p2p_nvlink: set[frozenset[int]] | None = None
    ) -> None:
        super().__init__("pynvml")
        self.devices = devices
        self.p2p_nvlink = p2p_nvlink
        self.inits = 0
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.devices):
            raise NVMLError(INVALID_ARGUMENT)
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return self.devices[handle].name.encode()

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-{handle:08d}"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Memory:
        return Memory(total=int(self.devices[handle].memory_gb * 1024**3))

    def nvmlDeviceGetPciInfo(self, handle: int) -> Pci:
        bus = self.devices[handle].bus
        return Pci(busId=bus_id(bus), busIdLegacy=f"0000:{bus:02X}:00.0".encode())

    def nvmlDeviceGetNvLinkState(self, handle: int, link: int) -> int:
        self._count("link_state")
        links = self.devices[handle].links
        if links is None:
            raise NVMLError(NOT_SUPPORTED)
        if link >= len(links):
            raise NVMLError(INVALID_ARGUMENT)
        return self.NVML_FEATURE_ENABLED

    def nvmlDeviceGetNvLinkRemotePciInfo(self, handle: int, link: int) -> Pci:
        links = self.devices[handle].links
        assert links is not None
        far = links[link]
        # A switch's address matches no GPU.
        return Pci(busId=bus_id(0xFE if far is None else far))

    def nvmlDeviceGetP2PStatus(self, first: int, second: int, index: int) -> int:
        if self.p2p_nvlink is None:
            raise NVMLError(NOT_SUPPORTED)
        assert index == self.NVML_P2P_CAPS_INDEX_NVLINK
        pair = frozenset((first, second))
        return self.NVML_P2P_STATUS_OK if pair in self.p2p_nvlink else 5

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Proc]:
        return [Proc(pid, used) for pid, used in self.devices[handle].compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Proc]:
        return [Proc(pid, used) for pid, used in self.devices[handle].graphics]


def install(monkeypatch: Any, nvml: FakeNvml) -> FakeNvml:
    """Make ``import pynvml`` give ``nvml`` for the rest of the test."""
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml
