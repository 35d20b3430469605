"""GPU providers: models, memory, NVLink peers and GPU processes through a fake ``pynvml``,
``nvidia-smi`` output, and the fake provider's JSON spec (no GPU needed)."""

import json
from pathlib import Path

import pytest

from runyard.models import Gpu
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError
from runyard_agent.fake_gpus import FOREIGN_PID, FakeGpuProvider
from runyard_agent.gpu_provider import GpuProcess, GpuUnavailable
from runyard_agent.nvidia_smi import NvidiaSmiProvider, parse_compute_apps, parse_topology
from runyard_agent.nvml_topology import pci_address
from runyard_agent.resources import NvmlProvider, default_gpu_provider, detect_machine
from runyard_agent.slots import SlotPool
from tests.unit.fake_nvml import FakeDevice, FakeNvml, Pci, install

GIB = 1024**3


def peers(gpus: list[Gpu]) -> list[list[int]]:
    return [gpu.peers for gpu in gpus]


def test_nvml_reports_models_memory_and_bridged_nvlink_pairs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four A100 PCIe cards, bridged in pairs (0-1, 2-3) by two links each; no P2P answers.
    devices = [
        FakeDevice("NVIDIA A100 80GB PCIe", 80, bus=0x17, links=[0x31, 0x31]),
        FakeDevice("NVIDIA A100 80GB PCIe", 80, bus=0x31, links=[0x17, 0x17]),
        FakeDevice("NVIDIA A100 80GB PCIe", 80, bus=0xB1, links=[0xCA, 0xCA]),
        FakeDevice("NVIDIA A100 80GB PCIe", 80, bus=0xCA, links=[0xB1, 0xB1]),
    ]
    install(monkeypatch, FakeNvml(devices))

    gpus = NvmlProvider().detect()

    assert [g.name for g in gpus] == ["NVIDIA A100 80GB PCIe"] * 4
    assert [g.memory_gb for g in gpus] == [80.0] * 4
    assert gpus[2].uuid == "GPU-00000002"
    assert peers(gpus) == [[1], [0], [3], [2]]


def test_nvml_peers_through_an_nvswitch_come_from_p2p_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # HGX H100: every link ends at a switch, so only the P2P status over NVLink tells.
    devices = [FakeDevice("NVIDIA H100 80GB HBM3", 79.6, bus=0x18 + i, links=[None] * 18)
               for i in range(8)]  # fmt: skip
    everyone = {frozenset((a, b)) for a in range(8) for b in range(8) if a != b}
    install(monkeypatch, FakeNvml(devices, p2p_nvlink=everyone))

    gpus = NvmlProvider().detect()

    assert peers(gpus) == [[j for j in range(8) if j != i] for i in range(8)]
    assert gpus[0].memory_gb == 79.6


def test_nvml_mixed_machine_links_only_the_linked_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two bridged A100 40GB, a V100 and an RTX 4090 without NVLink; P2P says NVLink for 0-1.
    devices = [
        FakeDevice("NVIDIA A100-SXM4-40GB", 40, bus=0x07, links=[0x0B]),
        FakeDevice("NVIDIA A100-SXM4-40GB", 40, bus=0x0B, links=[0x07]),
        FakeDevice("Tesla V100-PCIE-16GB", 16, bus=0x41),
        FakeDevice("NVIDIA GeForce RTX 4090", 23.99, bus=0x81),
    ]
    nvml = install(monkeypatch, FakeNvml(devices, p2p_nvlink={frozenset((0, 1))}))

    gpus = NvmlProvider().detect()

    assert peers(gpus) == [[1], [0], [], []]
    assert [g.memory_gb for g in gpus] == [40.0, 40.0, 16.0, 23.99]
    # A GPU without NVLink answers "not supported" on its first link: one call each.
    assert nvml.calls["link_state"] == 2 + 2 + 1 + 1


def test_nvml_stays_initialised_across_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = install(monkeypatch, FakeNvml([FakeDevice("NVIDIA L4", 22.5, bus=1)]))
    provider = NvmlProvider()
    provider.detect()
    provider.processes()
    provider.processes()
    assert provider.cuda_version() == (12, 4)
    assert nvml.inits == 1


def test_nvml_processes_join_compute_and_graphics_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [
        FakeDevice("NVIDIA A10", 24, bus=1, compute=[(100, 2 * GIB), (101, None)],
                   graphics=[(100, 2 * GIB), (102, 300 * 1024**2)]),
        FakeDevice("NVIDIA A10", 24, bus=2, compute=[(100, 512 * 1024**2)]),
    ]  # fmt: skip
    install(monkeypatch, FakeNvml(devices))

    found = sorted(NvmlProvider().processes(), key=lambda p: (p.gpu, p.pid))

    assert found == [
        GpuProcess(0, 100, 2048),
        GpuProcess(0, 101, None),
        GpuProcess(0, 102, 300),
        GpuProcess(1, 100, 512),
    ]


def test_nvml_without_the_module_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    with pytest.raises(GpuUnavailable, match="not installed"):
        NvmlProvider().processes()


@pytest.mark.parametrize(
    ("info", "address"),
    [
        (Pci(busId=b"00000000:07:00.0"), (0, 7, 0, 0)),
        (Pci(busId=b"", busIdLegacy=b"0001:B1:00.1"), (1, 0xB1, 0, 1)),
        (Pci(busId="00000002:CA:1F.0"), (2, 0xCA, 0x1F, 0)),  # type: ignore[arg-type]
        (Pci(busId=b"garbage"), None),
    ],
)
def test_pci_bus_ids_parse_in_both_widths(info: Pci, address: tuple[int, ...] | None) -> None:
    assert pci_address(info) == address


TOPO_DGX = """\
\tGPU0\tGPU1\tGPU2\tGPU3\tNIC0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID
GPU0\t X \tNV12\tNV12\tSYS\tPXB\t0-63\t0\t\tN/A
GPU1\tNV12\t X \tNV12\tSYS\tPXB\t0-63\t0\t\tN/A
GPU2\tNV12\tNV12\t X \tSYS\tSYS\t64-127\t1\t\tN/A
GPU3\tSYS\tSYS\tSYS\t X \tSYS\t64-127\t1\t\tN/A
NIC0\tPXB\tPXB\tSYS\tSYS\t X

Legend:

  X    = Self
  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes
  NV#  = Connection traversing a bonded set of # NVLinks
"""


def test_nvidia_smi_topology_gives_nvlink_peers() -> None:
    assert parse_topology(TOPO_DGX) == {0: [1, 2], 1: [0, 2], 2: [0, 1], 3: []}


def test_nvidia_smi_topology_of_one_gpu_has_no_peers() -> None:
    text = "\tGPU0\tCPU Affinity\tNUMA Affinity\nGPU0\t X \t0-15\t0\n"
    assert parse_topology(text) == {0: []}


def test_nvidia_smi_topology_without_a_matrix_is_unavailable() -> None:
    with pytest.raises(GpuUnavailable):
        parse_topology("NVIDIA-SMI has failed\n")


def test_nvidia_smi_compute_apps_parse_with_unknown_memory() -> None:
    text = "GPU-aaa, 4242, 8192\nGPU-bbb, 77, [N/A]\nGPU-zzz, 1, 5\n"
    found = parse_compute_apps(text, {"GPU-aaa": 0, "GPU-bbb": 1})
    assert found == [GpuProcess(0, 4242, 8192), GpuProcess(1, 77, None)]


def spec(*gpus: dict[str, object]) -> str:
    return json.dumps(list(gpus))


def test_fake_spec_describes_models_memory_and_peers() -> None:
    provider = FakeGpuProvider.from_spec(
        spec(
            {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "peers": [1]},
            {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80, "peers": [0]},
            {"name": "Tesla T4", "memory_gb": 15.0, "foreign_mb": 3000},
        )
    )
    gpus = provider.detect()
    assert [(g.index, g.name, g.memory_gb, g.peers) for g in gpus] == [
        (0, "NVIDIA A100-SXM4-80GB", 80.0, [1]),
        (1, "NVIDIA A100-SXM4-80GB", 80.0, [0]),
        (2, "Tesla T4", 15.0, []),
    ]
    assert provider.processes() == [GpuProcess(2, FOREIGN_PID, 3000)]


def test_fake_spec_file_is_read_again_for_foreign_use(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    path.write_text(spec({"memory_gb": 24}, {"memory_gb": 24}))
    provider = FakeGpuProvider.from_spec(str(path))
    assert provider.processes() == []

    path.write_text(spec({"memory_gb": 24}, {"memory_gb": 24, "foreign_mb": 9000}))
    assert provider.processes() == [GpuProcess(1, FOREIGN_PID, 9000)]

    path.write_text("{half written")
    with pytest.raises(GpuUnavailable):
        provider.processes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (spec({"peers": [0]}), "peers"),
        (spec({"peers": [3]}, {}), "peers"),
        (spec({"memory_gb": -1}), "memory_gb"),
        (spec({"colour": "green"}), "colour"),
        ("/no/such/gpus.json", "gpus.json"),
    ],
)
def test_bad_fake_spec_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FakeGpuProvider.from_spec(text)


def test_fake_gpus_json_setting_wins_and_keeps_fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_AGENT_FAKE_GPUS_JSON", spec({"name": "NVIDIA H100"}, {}))
    monkeypatch.setenv("RUNYARD_AGENT_FAKE_CUDA", "12.1")
    machine = detect_machine(AgentSettings(fake_gpus=5))
    assert [g.name for g in machine.gpus] == ["NVIDIA H100", "Fake GPU"]
    assert machine.cuda == (12, 1)
    assert AgentSettings().gpu_busy_mb == 1024
    monkeypatch.setenv("RUNYARD_AGENT_GPU_BUSY_MB", "300")
    assert AgentSettings().gpu_busy_mb == 300


def test_count_only_fake_provider_still_works() -> None:
    provider = default_gpu_provider(AgentSettings(fake_gpus=2))
    assert [(g.index, g.peers) for g in provider.detect()] == [(0, []), (1, [])]
    assert provider.processes() == []


def test_busy_gpus_are_neither_offered_nor_handed_out() -> None:
    machine = detect_machine(AgentSettings(), FakeGpuProvider(4))
    pool = SlotPool(machine)
    pool.set_busy({0, 2})
    free = pool.free()
    assert free is not None and free.gpus == 2
    allocation = pool.acquire(free.model_copy(update={"cpus": 0, "memory_gb": 0}))
    assert allocation is not None and allocation.gpu_indices == (1, 3)
    pool.set_busy(set())
    pool.release(allocation)
    free = pool.free()
    assert free is not None and free.gpus == 4


def test_nvidia_smi_provider_gives_peers_and_processes(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text(
        '#!/bin/sh\ncase "$1" in\n'
        f"  topo) cat <<'OUT'\n{TOPO_DGX}OUT\n;;\n"
        "  --query-compute-apps=*) echo 'GPU-c, 4242, 8192' ;;\n"
        "  *) printf '%s\\n' '0, NVIDIA A100, 81920 MiB, GPU-a' '1, NVIDIA A100, 81920 MiB, GPU-b'"
        " '2, NVIDIA A100, 81920 MiB, GPU-c' '3, Tesla T4, 15360 MiB, GPU-d' ;;\nesac\n"
    )
    tool.chmod(0o755)
    provider = NvidiaSmiProvider(str(tool))
    assert [(g.index, g.peers) for g in provider.detect()] == [
        (0, [1, 2]), (1, [0, 2]), (2, [0, 1]), (3, [])
    ]  # fmt: skip
    assert provider.processes() == [GpuProcess(2, 4242, 8192)]
