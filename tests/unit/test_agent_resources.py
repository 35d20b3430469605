"""GPU, CPU and memory detection, with fake GPU providers (no GPU needed)."""

import stat
import sys
import types
from pathlib import Path

import pytest

from runyard.models import Gpu
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError
from runyard_agent.fake_gpus import FakeGpuProvider
from runyard_agent.gpu_provider import GpuUnavailable
from runyard_agent.nvidia_smi import NvidiaSmiProvider, parse_nvidia_smi
from runyard_agent.resources import (
    FirstWorkingProvider,
    NvmlProvider,
    default_gpu_provider,
    detect_machine,
)

SMI_SAMPLE = """\
0, NVIDIA H100 80GB HBM3, 81559 MiB, GPU-6f0d7b4e-1c2a-4c33-9e21-aaaaaaaaaaaa
1, NVIDIA H100 80GB HBM3, 81559 MiB, GPU-6f0d7b4e-1c2a-4c33-9e21-bbbbbbbbbbbb
"""


class BrokenProvider:
    name = "broken"

    def detect(self) -> list[Gpu]:
        raise GpuUnavailable("no driver")


class CountingProvider(FakeGpuProvider):
    calls = 0

    def detect(self) -> list[Gpu]:
        self.calls += 1
        return super().detect()


def test_nvidia_smi_output_parses_into_gpus() -> None:
    gpus = parse_nvidia_smi(SMI_SAMPLE)
    assert [g.index for g in gpus] == [0, 1]
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert gpus[0].memory_gb == pytest.approx(79.65, abs=0.01)
    assert gpus[1].uuid.endswith("bbbbbbbbbbbb")


def test_nvidia_smi_names_with_commas_keep_memory_and_uuid() -> None:
    gpus = parse_nvidia_smi("3, Tesla, V100, 16384 MiB, GPU-x\n\n")
    assert gpus == [Gpu(index=3, name="Tesla, V100", memory_gb=16.0, uuid="GPU-x")]


def test_nvidia_smi_unexpected_line_is_unavailable() -> None:
    with pytest.raises(GpuUnavailable):
        parse_nvidia_smi("No devices were found\n")


def test_nvidia_smi_provider_runs_the_tool(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\ncat <<'OUT'\n{SMI_SAMPLE}OUT\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    assert len(NvidiaSmiProvider(str(tool)).detect()) == 2


def test_nvidia_smi_provider_failing_tool_is_unavailable(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(GpuUnavailable, match="has failed"):
        NvidiaSmiProvider(str(tool)).detect()


def test_missing_nvidia_smi_is_unavailable() -> None:
    with pytest.raises(GpuUnavailable):
        NvidiaSmiProvider("no-such-nvidia-smi-here").detect()


def test_first_working_provider_falls_back_then_gives_none() -> None:
    assert len(FirstWorkingProvider([BrokenProvider(), FakeGpuProvider(2)]).detect()) == 2
    assert FirstWorkingProvider([BrokenProvider()]).detect() == []


def test_fake_gpus_setting_picks_the_fake_provider() -> None:
    provider = default_gpu_provider(AgentSettings(fake_gpus=3))
    assert [g.index for g in provider.detect()] == [0, 1, 2]


def test_gpus_option_restricts_to_those_indices() -> None:
    machine = detect_machine(AgentSettings(gpus="1,3"), FakeGpuProvider(4))
    assert [g.index for g in machine.gpus] == [1, 3]
    assert machine.total.gpus == 2


def test_gpus_option_naming_a_missing_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[5\]"):
        detect_machine(AgentSettings(gpus=[0, 5]), FakeGpuProvider(2))


def test_cpu_only_uses_no_gpus_and_does_not_probe() -> None:
    provider = CountingProvider(2)
    machine = detect_machine(AgentSettings(cpu_only=True), provider)
    assert machine.gpus == ()
    assert provider.calls == 0


def test_cpus_and_memory_come_from_the_machine() -> None:
    machine = detect_machine(AgentSettings(), FakeGpuProvider(0))
    assert machine.cpus >= 1
    assert machine.memory_gb > 0.1


SMI_HEADER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
+-----------------------------------------------------------------------------------------+
"""


def test_cuda_version_comes_from_the_provider_that_found_the_gpus(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    script = f"#!/bin/sh\nif [ $# -eq 0 ]; then cat <<'OUT'\n{SMI_HEADER}OUT\nelse cat <<'OUT'\n"
    tool.write_text(script + f"{SMI_SAMPLE}OUT\nfi\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    provider = FirstWorkingProvider([BrokenProvider(), NvidiaSmiProvider(str(tool))])

    machine = detect_machine(AgentSettings(), provider)

    assert (len(machine.gpus), machine.cuda) == (2, (12, 4))
    assert FirstWorkingProvider([BrokenProvider()]).cuda_version() is None


def test_nvml_cuda_driver_version_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeNvml(types.ModuleType):
        NVMLError = RuntimeError

        def nvmlInit(self) -> None: ...

        def nvmlShutdown(self) -> None: ...

        def nvmlSystemGetCudaDriverVersion(self) -> int:
            return 12010

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml("pynvml"))
    assert NvmlProvider().cuda_version() == (12, 1)
