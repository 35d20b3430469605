"""GPUs through the ``nvidia-smi`` tool, for machines without nvidia-ml-py.

Detection runs ``--query-gpu`` for the GPUs and ``topo -m`` for their NVLink peers
(``NV#`` in the matrix); the busy check runs ``--query-compute-apps``, which lists
compute processes only (NVML also sees graphics ones). Each run costs a process
start, so the busy check's cache matters more here than with NVML.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

from runyard.models import Gpu
from runyard_agent.gpu_provider import CudaVersion, GpuProcess, GpuUnavailable

log = logging.getLogger(__name__)

_QUERY_GPUS = ["--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader"]
_QUERY_APPS = ["--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"]
_TIMEOUT_S = 20.0
_CUDA = re.compile(r"CUDA Version:\s*(\d+)\.(\d+)")
_GPU_LABEL = re.compile(r"GPU(\d+)$")


class NvidiaSmiProvider:
    """GPUs through ``nvidia-smi --query-gpu``, for machines without nvidia-ml-py."""

    name = "nvidia-smi"

    def __init__(self, executable: str = "nvidia-smi") -> None:
        self.executable = executable
        self._index_by_uuid: dict[str, int] = {}

    def detect(self) -> list[Gpu]:
        gpus = parse_nvidia_smi(self._run(_QUERY_GPUS))
        try:
            peers = parse_topology(self._run(["topo", "-m"]))
        except GpuUnavailable as exc:
            log.debug("no NVLink peers from nvidia-smi topo -m: %s", exc)
            peers = {}
        self._index_by_uuid = {gpu.uuid: gpu.index for gpu in gpus}
        return [gpu.model_copy(update={"peers": peers.get(gpu.index, [])}) for gpu in gpus]

    def cuda_version(self) -> CudaVersion | None:
        try:
            found = _CUDA.search(self._run([]))
        except GpuUnavailable:
            return None
        return (int(found[1]), int(found[2])) if found else None

    def processes(self) -> list[GpuProcess]:
        if not self._index_by_uuid:
            self.detect()
        return parse_compute_apps(self._run(_QUERY_APPS), self._index_by_uuid)

    def _run(self, args: list[str]) -> str:
        path = shutil.which(self.executable)
        if path is None:
            raise GpuUnavailable(f"{self.executable} is not on PATH")
        try:
            done = subprocess.run(
                [path, *args], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GpuUnavailable(f"{self.executable} did not run: {exc}") from None
        if done.returncode != 0:
            raise GpuUnavailable(f"{self.executable} failed: {done.stderr.strip()[-500:]}")
        return done.stdout


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
            gpus.append(Gpu(index=int(index), name=name, memory_gb=_memory_gb(memory), uuid=uuid))
        except ValueError as exc:
            raise GpuUnavailable(f"unexpected nvidia-smi line {line!r}: {exc}") from None
    return sorted(gpus, key=lambda gpu: gpu.index)


def _memory_gb(value: str) -> float:
    number, _, unit = value.partition(" ")
    if not number.replace(".", "", 1).isdigit():
        return 0.0
    factor = {"MiB": 1 / 1024, "GiB": 1.0, "KiB": 1 / 1024**2}.get(unit.strip(), 1 / 1024)
    return round(float(number) * factor, 2)


def parse_topology(text: str) -> dict[int, list[int]]:
    """Each GPU's NVLink peers from ``nvidia-smi topo -m``: the ``NV#`` cells of its row.

    The matrix's columns are the ``GPUn`` (and ``NICn``) headers before ``CPU Affinity``;
    each row is its label, then one token per column (``X``, ``NV12``, ``SYS``, ``PIX``).
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    header = next((tokens for tokens in lines if tokens and tokens[0] == "GPU0"), None)
    if header is None:
        raise GpuUnavailable("no GPU0 column in nvidia-smi topo -m")
    columns = []
    for token in header:
        if not re.fullmatch(r"(GPU|NIC)\d+", token):
            break
        columns.append(token)
    peers: dict[int, list[int]] = {}
    for tokens in lines:
        row = _GPU_LABEL.match(tokens[0]) if tokens and tokens is not header else None
        if row is None:
            continue
        cells = tokens[1 : 1 + len(columns)]
        peers[int(row[1])] = [
            int(column[3:])
            for column, cell in zip(columns, cells, strict=False)
            if column.startswith("GPU") and cell.startswith("NV")
        ]
    return peers


def parse_compute_apps(text: str, index_by_uuid: dict[str, int]) -> list[GpuProcess]:
    """Parse ``--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits``;
    memory shown as ``[N/A]`` is unknown; GPUs not in ``index_by_uuid`` are left out."""
    found = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3 or fields[0] not in index_by_uuid:
            continue
        uuid, pid, used = fields
        try:
            found.append(
                GpuProcess(index_by_uuid[uuid], int(pid), int(used) if used.isdigit() else None)
            )
        except ValueError:
            raise GpuUnavailable(f"unexpected nvidia-smi line {line!r}") from None
    return found
