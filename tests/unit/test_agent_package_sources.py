"""Choosing PyTorch builds; handing the operator's indexes to installers without leaking them."""

import pytest
from pydantic import ValidationError

from runyard.models.tasks import Environment
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import TorchBuild, choose_build, plan_torch
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.package_sources import PackageSources
from runyard_agent.resources import FakeGpuProvider, detect_machine


@pytest.mark.parametrize(
    ("setting", "gpus", "cuda", "backend"),
    [
        ("auto", 0, None, "cpu"),
        ("auto", 2, (12, 1), "cu121"),
        ("auto", 1, (12, 3), "cu121"),
        ("auto", 1, (12, 9), "cu129"),
        ("auto", 1, (13, 2), "cu130"),
        ("auto", 1, (11, 0), "cu102"),
        ("auto", 1, (10, 1), "cpu"),
        ("auto", 1, None, "cpu"),
        ("cu118", 0, None, "cu118"),
    ],
)
def test_build_follows_the_drivers_cuda_version_like_uvs_torch_backend(
    setting: str, gpus: int, cuda: tuple[int, int] | None, backend: str
) -> None:
    assert choose_build(setting, gpus, cuda).backend == backend


def test_fake_gpu_provider_reports_its_cuda_version_through_detection() -> None:
    settings = AgentSettings(fake_gpus=2, fake_cuda="12.4")
    machine = detect_machine(settings)
    assert (len(machine.gpus), machine.cuda) == (2, (12, 4))
    assert detect_machine(settings, FakeGpuProvider(1)).cuda is None
    assert detect_machine(AgentSettings(cpu_only=True, fake_gpus=1, fake_cuda="12.4")).cuda is None


def test_recorded_builds_map_to_what_this_machine_runs() -> None:
    recorded = [
        "numpy==1.26.4",
        "torch==2.3.0+cu121",
        "torchvision==0.18.0+cu118",
        "torchaudio==2.3.0+cu128",
        "triton==2.3.0",
    ]
    plan = plan_torch(recorded, TorchBuild("cu124", "test"))
    assert plan.requirements == [
        "numpy==1.26.4",
        "torch==2.3.0+cu121",
        "torchvision==0.18.0+cu118",
        "torchaudio==2.3.0+cu124",
        "triton==2.3.0",
    ]
    assert plan.backends == ["cu121", "cu118", "cu124"]
    assert plan.notes == [
        "cu121, cu118, cu124 builds (test)",
        "torchaudio==2.3.0+cu128 → torchaudio==2.3.0+cu124 (this machine runs cu124 builds)",
    ]

    cpu = plan_torch(["torch==2.3.0+cu121", "torch>=2; python_version>'3'"], TorchBuild("cpu", ""))
    assert cpu.requirements == ["torch==2.3.0+cpu", 'torch>=2; python_version > "3"']
    assert cpu.backends == ["cpu"]
    assert plan_torch(["six"], TorchBuild("cpu", "")).backends == []


def test_sources_go_to_the_installer_by_environment_and_show_redacted() -> None:
    settings = AgentSettings(
        index_url="https://bot:hunter2-pass@pypi.corp/simple",
        extra_index_urls="https://mirror.corp/simple",
        find_links=["/opt/wheels"],
        indexes={"gpu": "https://bot:hunter2-pass@gpu.corp/simple"},
        torch_index_url="https://bot:hunter2-pass@torch.corp/whl/{backend}",
    )
    sources = PackageSources.for_task(settings, "gpu")

    assert sources.installer_env("uv") == {
        "UV_INDEX_URL": "https://bot:hunter2-pass@pypi.corp/simple",
        "UV_EXTRA_INDEX_URL": "https://bot:hunter2-pass@gpu.corp/simple https://mirror.corp/simple",
        "UV_FIND_LINKS": "/opt/wheels",
    }
    assert sources.installer_env("pip")["PIP_INDEX_URL"] == settings.index_url.get_secret_value()
    assert sources.torch_index("cu121") == "https://bot:hunter2-pass@torch.corp/whl/cu121"
    assert sources.describe() == (
        "indexes: https://****@gpu.corp/simple, https://mirror.corp/simple, "
        "https://****@pypi.corp/simple; find-links: /opt/wheels"
    )
    assert sources.redact("GET https://bot:hunter2-pass@x/ (password hunter2-pass)") == (
        "GET https://****@x/ (password ****)"
    )
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_a_task_names_an_index_and_never_a_url() -> None:
    with pytest.raises(EnvironmentBuildError, match=r"its indexes: a, b\)"):
        PackageSources.for_task(AgentSettings(indexes={"b": "http://b", "a": "http://a"}), "c")
    with pytest.raises(ValidationError):
        Environment(package_index="https://evil.example/simple")
    with pytest.raises(ValidationError):
        Environment(requirements=["torch --index-url https://evil.example/simple"])
