"""Pretend GPUs, for tests and demos on machines without any.

``RUNYARD_AGENT_FAKE_GPUS=N`` gives N alike GPUs. ``RUNYARD_AGENT_FAKE_GPUS_JSON``
describes each one, as JSON or the path of a JSON file::

    [{"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "peers": [1], "foreign_mb": 0},
     {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "peers": [0], "foreign_mb": 4096}]

A GPU's index is its place in the list. ``foreign_mb`` is memory held by a process
the agent did not start (another user's job); from a file it is read again at each
busy check, so a test or a demo can make a GPU busy, or free it, while the agent runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runyard.models import Gpu
from runyard_agent.errors import ConfigError
from runyard_agent.gpu_provider import CudaVersion, GpuProcess, GpuUnavailable

FOREIGN_PID = 0
"""The pid fake foreign use is reported under: never one of the agent's processes."""


class FakeGpu(BaseModel):
    """One pretend GPU."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="Fake GPU", max_length=256)
    memory_gb: float = Field(default=16.0, ge=0)
    peers: list[int] = Field(default_factory=list, max_length=64)
    foreign_mb: int = Field(default=0, ge=0)


_SPEC = TypeAdapter(list[FakeGpu])


def parse_spec(text: str) -> list[FakeGpu]:
    """The GPUs a JSON spec describes; peers must name other GPUs of the list."""
    try:
        gpus = _SPEC.validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"fake GPU spec: {exc}") from None
    for index, gpu in enumerate(gpus):
        wrong = [peer for peer in gpu.peers if peer == index or not 0 <= peer < len(gpus)]
        if wrong:
            raise ValueError(f"fake GPU {index}: peers {wrong} are not other GPUs of the list")
    return gpus


class FakeGpuProvider:
    """Pretend GPUs: ``count`` alike ones, or the ones a spec describes."""

    name = "fake"

    def __init__(
        self,
        gpus: int | Sequence[FakeGpu],
        cuda: CudaVersion | None = None,
        source: Path | None = None,
    ) -> None:
        self.gpus = [FakeGpu() for _ in range(gpus)] if isinstance(gpus, int) else list(gpus)
        self.cuda = cuda
        self.source = source
        """The spec file re-read for ``foreign_mb`` at each :meth:`processes`."""

    @classmethod
    def from_spec(cls, spec: str, cuda: CudaVersion | None = None) -> FakeGpuProvider:
        """From ``RUNYARD_AGENT_FAKE_GPUS_JSON``: JSON text, or a JSON file's path."""
        if spec.lstrip().startswith("["):
            source, text = None, spec
        else:
            source = Path(spec).expanduser()
            try:
                text = source.read_text()
            except OSError as exc:
                raise ConfigError(f"fake GPU spec {source}: {exc}") from None
        try:
            return cls(parse_spec(text), cuda, source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def detect(self) -> list[Gpu]:
        return [
            Gpu(
                index=index,
                name=gpu.name,
                memory_gb=gpu.memory_gb,
                uuid=f"GPU-fake-{index}",
                peers=sorted(set(gpu.peers)),
            )
            for index, gpu in enumerate(self.gpus)
        ]

    def cuda_version(self) -> CudaVersion | None:
        return self.cuda

    def processes(self) -> list[GpuProcess]:
        gpus = self.gpus
        if self.source is not None:
            try:
                gpus = parse_spec(self.source.read_text())
            except (OSError, ValueError) as exc:
                raise GpuUnavailable(f"fake GPU spec {self.source}: {exc}") from None
        return [
            GpuProcess(index, FOREIGN_PID, gpu.foreign_mb)
            for index, gpu in enumerate(gpus)
            if gpu.foreign_mb
        ]
