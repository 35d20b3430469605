"""``scripts/gpu_check.py``, the real-GPU check, runs its detection part against a fake
``pynvml`` and skips the CUDA parts, saying why, where PyTorch is missing."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.fake_nvml import FakeDevice, FakeNvml, install

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"
MIB = 1024**2


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_detection_prints_models_peers_and_busy_gpus_and_skips_cuda_parts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = [
        FakeDevice("NVIDIA H100 80GB HBM3", 79.6, bus=0x18, links=[0x2A]),
        FakeDevice("NVIDIA H100 80GB HBM3", 79.6, bus=0x2A, links=[0x18],
                   compute=[(1, 3000 * MIB)]),
    ]  # fmt: skip
    install(monkeypatch, FakeNvml(devices))
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "argv", ["gpu_check.py"])

    assert load().main() == 0

    out = capsys.readouterr().out
    assert "[PASS] NVML finds GPUs: 2 GPU(s), CUDA (12, 4)" in out
    assert "GPU 0: NVIDIA H100 80GB HBM3, 79.6 GB, GPU-00000000, NVLink peers [1]" in out
    assert "GPU 1: BUSY, 3000 MiB foreign" in out
    assert "[SKIP] NVLink peers against nvidia-smi: nvidia-smi is not on PATH" in out
    assert out.count("[SKIP]") == 4 and "PyTorch is not installed" in out
