"""The agent's package sources, PyTorch builds, build log and venv cache, on real venvs.

Packages come from a PEP 503 index on loopback holding wheels built here (only it
has them), behind basic auth, so nothing depends on PyPI.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runyard.models.tasks import Environment
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import TorchBuild, choose_build
from runyard_agent.environments.venv import VenvLease, lease_venv
from runyard_agent.environments.venv_cache import CacheLimits, evict, list_venvs
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.package_sources import PackageSources
from runyard_agent.resources import detect_machine
from tests.package_index import LocalIndex

USER, PASSWORD = "team", "s3cret-Token-9"
Build = Callable[..., tuple[VenvLease, list[str]]]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    local = LocalIndex(tmp_path_factory.mktemp("index"), credentials=(USER, PASSWORD))
    local.add("simple", "runyard-private-pkg", "1.2.0")
    local.add("team", "runyard-team-only", "0.3.0")
    for backend in ("cpu", "cu121"):
        for package in ("torch", "torchvision"):
            local.add(f"whl/{backend}", package, f"1.0.0+{backend}")
    with local.serving():
        yield local


def settings_for(index: LocalIndex, tmp_path: Path, **more: object) -> AgentSettings:
    return AgentSettings(
        cache_dir=tmp_path / "cache",
        index_url=index.url("simple"),
        indexes={"team": index.url("team")},
        torch_index_url=index.url("whl/{backend}"),
        **more,
    )


@pytest.fixture
def build(index: LocalIndex, tmp_path: Path) -> Iterator[Build]:
    leases: list[VenvLease] = []

    def make(
        environment: Environment, torch: TorchBuild | None = None, **more: object
    ) -> tuple[VenvLease, list[str]]:
        settings = settings_for(index, tmp_path, **more)
        sources = PackageSources.for_task(settings, environment.package_index)
        lines: list[str] = []
        lease = lease_venv(
            environment, settings.cache_dir, sources.redacting(lines.append), sources=sources,
            torch=torch,
        )  # fmt: skip
        leases.append(lease)
        return lease, lines

    yield make
    for lease in leases:
        lease.release()


def run_in(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_package_only_on_the_operators_index_installs_by_name(
    build: Build, index: LocalIndex
) -> None:
    lease, log = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))

    assert run_in(lease.python, "import runyard_private_pkg as m; print(m.__version__)") == "1.2.0"
    assert index.requests["simple/runyard-private-pkg"] >= 1
    assert not any(PASSWORD in line for line in log)
    assert any("indexes: http://****@127.0.0.1" in line for line in log), log


def test_installed_list_and_bytecode_are_made_at_build_and_kept_for_cache_hits(
    build: Build,
) -> None:
    wanted = Environment(requirements=["runyard-private-pkg==1.2.0"])
    built, _ = build(wanted)
    hit, log = build(wanted)

    assert any(line.startswith("venv cache hit") for line in log), log
    for lease in (built, hit):
        versions = {package.name: package.version for package in lease.installed}
        assert versions["runyard-private-pkg"] == "1.2.0"
        assert "runyard" not in versions  # the agent's SDK overlay is not the task's
    site = built.python.parent.parent / "lib"
    assert list(site.glob("python3.*/site-packages/runyard_private_pkg/__pycache__/*.pyc"))


def test_named_index_is_used_only_when_the_task_asks_for_it(build: Build) -> None:
    wanted = Environment(requirements=["runyard-team-only"], package_index="team")
    lease, _ = build(wanted)
    assert run_in(lease.python, "import runyard_team_only as m; print(m.__version__)") == "0.3.0"

    with pytest.raises(EnvironmentBuildError) as without:
        build(Environment(requirements=["runyard-team-only"]))
    assert without.value.stage == "install"
    assert PASSWORD not in str(without.value)


def test_unknown_named_index_fails_naming_the_agents_indexes(build: Build) -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        build(Environment(requirements=["six"], package_index="pytorch"))

    assert caught.value.stage == "install"
    assert "package index 'pytorch' is not one this agent knows" in caught.value.message
    assert "its indexes: team" in caught.value.message


def test_cuda_pinned_torch_gets_the_cpu_build_on_a_cpu_only_agent(
    build: Build, index: LocalIndex, tmp_path: Path
) -> None:
    settings = AgentSettings(cache_dir=tmp_path / "cache", cpu_only=True)
    machine = detect_machine(settings)
    torch = choose_build(settings.torch_backend, len(machine.gpus), machine.cuda)
    recorded = ["torch==1.0.0+cu121", "torchvision==1.0.0+cu121"]

    lease, log = build(Environment(requirements=recorded), torch)

    assert run_in(lease.python, "import torch; print(torch.__version__)") == "1.0.0+cpu"
    assert run_in(lease.python, "import torchvision; print(torchvision.__version__)") == "1.0.0+cpu"
    assert "torch: cpu builds (this agent has no GPU)" in log
    assert "torch: torch==1.0.0+cu121 → torch==1.0.0+cpu (this machine runs cpu builds)" in log
    assert index.requests["whl/cu121/torch"] == 0


def test_fake_cuda_12_1_driver_keeps_cu121_and_maps_a_newer_build_down(
    build: Build, tmp_path: Path
) -> None:
    settings = AgentSettings(cache_dir=tmp_path / "cache", fake_gpus=1, fake_cuda="12.1")
    machine = detect_machine(settings)
    torch = choose_build(settings.torch_backend, len(machine.gpus), machine.cuda)
    assert torch == TorchBuild("cu121", "the GPU driver supports CUDA 12.1")

    kept, log = build(Environment(requirements=["torch==1.0.0+cu121"]), torch)
    assert run_in(kept.python, "import torch; print(torch.__version__)") == "1.0.0+cu121"
    assert "torch: cu121 builds (the GPU driver supports CUDA 12.1)" in log

    newer, log = build(Environment(requirements=["torch==1.0.0+cu128"]), torch)
    assert run_in(newer.python, "import torch; print(torch.__version__)") == "1.0.0+cu121"
    assert "torch: torch==1.0.0+cu128 → torch==1.0.0+cu121 (this machine runs cu121 builds)" in log


def test_build_log_is_one_line_per_step_without_virtualenvs_dump(build: Build) -> None:
    _, cold = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))
    _, warm = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))

    joined = "\n".join(cold)
    for dump in ("creator CPython", "seeder FromAppData", "activators ", "Resolved ", " + "):
        assert dump not in joined
    steps = [line for line in cold if not line.startswith("runyard SDK")]
    assert [line.split(" ", 2)[:2] for line in steps] == [
        ["installing", "1"],
        ["installed", "1"],
        ["venv", steps[-1].split()[1]],
    ], cold
    assert steps[1].startswith("installed 1 packages with uv in ")
    assert steps[-1].endswith(f"s (Python {sys.version.split()[0]}, 1 requirements)")
    assert warm == [f"venv cache hit {steps[-1].split()[1]}"]


def test_installer_failure_carries_its_errors_in_full(build: Build) -> None:
    missing = ["runyard-private-pkg==9.9", "runyard-absent-pkg-3c1e"]
    with pytest.raises(EnvironmentBuildError) as caught:
        build(Environment(requirements=missing))

    message = caught.value.message
    assert message.startswith("uv could not install the requirements (exit 1):")
    assert "runyard-private-pkg" in message
    assert PASSWORD not in message


def test_eviction_removes_least_recently_used_venvs_but_never_one_in_use(
    build: Build, tmp_path: Path
) -> None:
    held, _ = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))
    older, _ = build(Environment(requirements=["runyard-private-pkg"]))
    older.release()
    newest, _ = build(Environment())
    newest.release()
    cache_dir = tmp_path / "cache"
    before = list_venvs(cache_dir)
    assert [venv.path / "bin" / "python" for venv in before] == [
        held.python, older.python, newest.python
    ]  # fmt: skip
    assert [venv.in_use for venv in before] == [True, False, False]

    lines: list[str] = []
    removed = evict(cache_dir, CacheLimits(max_bytes=0), lines.append)

    assert [venv.key for venv in removed] == [before[1].key, before[2].key]
    assert [venv.key for venv in list_venvs(cache_dir)] == [before[0].key]
    assert run_in(held.python, "import runyard_private_pkg; print('still here')") == "still here"
    assert len(lines) == 2 and all("evicted" in line for line in lines)
    held.release()
    floor = CacheLimits(min_free_bytes=2**62)  # more than any disk: evict all that is free
    assert evict(cache_dir, floor, lines.append)[0].key == before[0].key


def test_a_build_evicts_older_venvs_down_to_the_agents_cap(build: Build, tmp_path: Path) -> None:
    old, _ = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))
    old.release()
    cache_dir = tmp_path / "cache"
    lines: list[str] = []

    new = lease_venv(Environment(), cache_dir, lines.append, limits=CacheLimits(max_bytes=1))

    assert [venv.path for venv in list_venvs(cache_dir)] == [new.python.parent.parent]
    assert any(line.startswith("venv cache: evicted ") for line in lines), lines
    new.release()


def test_cache_cli_lists_and_prunes_but_a_running_task_keeps_its_venv(
    build: Build, tmp_path: Path
) -> None:
    held, _ = build(Environment(requirements=["runyard-private-pkg==1.2.0"]))
    spare, _ = build(Environment())
    spare.release()
    # A task process inherits the lock: the venv stays in use after the agent lets go.
    task = subprocess.Popen(
        [str(held.python), "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=[held.lock_fd],
    )
    held.release()
    agent = [str(Path(sys.executable).parent / "runyard-agent"), "cache"]
    agent += ["--cache-dir", str(tmp_path / "cache")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    try:
        listing = subprocess.run([*agent, "list"], capture_output=True, text=True, env=env)
        pruned = subprocess.run([*agent, "prune", "--all"], capture_output=True, text=True, env=env)
    finally:
        task.communicate(b"")

    assert listing.returncode == 0, listing.stderr
    assert "2 venv(s)" in listing.stdout
    assert "runyard-private-pkg==1.2.0" in listing.stdout
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 venv(s); 1 left (1 in use)" in pruned.stdout
    assert held.python.is_file() and not spare.python.exists()
