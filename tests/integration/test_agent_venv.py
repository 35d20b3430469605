"""ensure_venv building real virtualenvs; requirements come from PyPI."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.models.tasks import Environment
from runyard_agent.environments import ensure_venv
from runyard_agent.environments.venv import Installer, uv_binary
from runyard_agent.environments.venv_cache import MARKER
from runyard_agent.errors import EnvironmentBuildError
from tests.ci import unavailable

OFFLINE = {"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"}


def run_in(python: Path, code: str) -> str:
    """Run ``code`` in the venv with package indexes switched off."""
    env = {**os.environ, **OFFLINE}
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def build(cache_dir: Path) -> Callable[..., tuple[Path, list[str]]]:
    def make(environment: Environment, installer: Installer = "auto") -> tuple[Path, list[str]]:
        lines: list[str] = []
        return ensure_venv(environment, cache_dir, lines.append, installer=installer), lines

    return make


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_venv_with_a_requirement_builds_once_then_is_a_cache_hit(
    build: Callable[..., tuple[Path, list[str]]], installer: Installer
) -> None:
    environment = Environment(requirements=["six==1.16.0"])

    started = time.monotonic()
    python, cold_log = build(environment, installer)
    cold = time.monotonic() - started
    started = time.monotonic()
    again, warm_log = build(Environment(requirements=["Six == 1.16.0 # pinned"]), installer)
    warm = time.monotonic() - started
    print(f"\n{installer}: cold venv build {cold:.2f} s, cache hit {warm:.3f} s")

    assert again == python
    assert run_in(python, "import six; print(six.__version__)") == "1.16.0"
    assert any(" built in " in line for line in cold_log)
    assert any(line.startswith("venv cache hit") for line in warm_log)
    assert not any(" built in " in line for line in warm_log)
    assert warm < cold


def test_two_tasks_building_the_same_venv_at_once_build_it_once(
    build: Callable[..., tuple[Path, list[str]]], cache_dir: Path
) -> None:
    environment = Environment(requirements=["tomli==2.0.1"])
    results: list[tuple[Path, list[str]]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(build(environment))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    builds = [log for _, log in results if any(" built in " in line for line in log)]
    assert len(builds) == 1
    assert len({python for python, _ in results}) == 1
    assert [path.name for path in (cache_dir / "venvs").iterdir() if path.is_dir()] == [
        results[0][0].parent.parent.name
    ]


@pytest.mark.parametrize(
    ("installer", "message"),
    [("uv", "requirements are unsatisfiable"), ("pip", "No matching distribution")],
)
def test_nonexistent_requirement_fails_at_install_stage_with_the_installers_message(
    build: Callable[..., tuple[Path, list[str]]],
    cache_dir: Path,
    installer: Installer,
    message: str,
) -> None:
    environment = Environment(requirements=["runyard-no-such-package-7f3a==1.0"])

    with pytest.raises(EnvironmentBuildError) as caught:
        build(environment, installer)

    assert caught.value.stage == "install"
    assert message in caught.value.message
    assert "runyard-no-such-package-7f3a" in caught.value.message
    assert [path for path in (cache_dir / "venvs").iterdir() if path.is_dir()] == []


def test_runyard_sdk_is_importable_offline_and_task_pins_win(
    build: Callable[..., tuple[Path, list[str]]],
) -> None:
    python, _ = build(Environment(requirements=["idna==3.7", "runyard==0.0.1"]))

    code = "import idna, pydantic, requests, runyard; print(runyard.__version__, idna.__version__)"
    import runyard

    assert run_in(python, code) == f"{runyard.__version__} 3.7"
    assert run_in(python, "from runyard.models.tasks import Script; print(Script().working_dir)")


def test_venv_without_requirements_builds_with_the_network_off(
    build: Callable[..., tuple[Path, list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)

    python, _ = build(Environment())

    assert run_in(python, "import runyard, pydantic; print(runyard.__version__)")


def test_incomplete_venv_left_by_a_dead_agent_is_rebuilt(
    build: Callable[..., tuple[Path, list[str]]],
) -> None:
    python, _ = build(Environment())
    root = python.parent.parent
    (root / MARKER).unlink()
    (root / "bin" / "python").unlink()

    again, log = build(Environment())

    assert again == python
    assert any(line.startswith("removing an incomplete venv") for line in log)
    assert run_in(again, "print('ok')") == "ok"


def test_unknown_python_version_fails_naming_what_was_looked_for(
    build: Callable[..., tuple[Path, list[str]]],
) -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        build(Environment(python="3.4"))

    assert caught.value.stage == "install"
    assert "no Python 3.4" in caught.value.message
    assert "python3.4" in caught.value.message


def _other_python() -> Path | None:
    """A CPython 3.11+ whose minor version differs from the agent's, if this machine has one."""
    minor = 13 if sys.version_info[:2] != (3, 13) else 12
    uv = uv_binary()
    if uv is None:
        return None
    found = subprocess.run(
        [str(uv), "python", "find", "--no-project", "--no-python-downloads", f"3.{minor}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [Path(found)] if found else sorted(pyenv.glob(f"3.{minor}*/bin/python3.{minor}"))
    return candidates[0] if candidates else None


def test_other_python_version_gets_the_sdk_dependencies_from_uvs_cache(
    build: Callable[..., tuple[Path, list[str]]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    other = _other_python()
    uv = uv_binary()
    if other is None or uv is None:
        unavailable("needs uv and a second CPython 3.11+ on this machine")
    # Fill the agent's uv cache once, online, the way its earlier builds would have.
    warm = [str(uv), "pip", "install", "--quiet", "--target", str(tmp_path / "warm")]
    warm += ["--python", str(other), "requests>=2.31,<3", "pydantic>=2.7,<3", "packaging>=23"]
    agent_cache = {**os.environ, "UV_CACHE_DIR": str(cache_dir / "uv")}
    warmed = subprocess.run(warm, check=False, env=agent_cache)
    if warmed.returncode != 0:
        unavailable("could not fill uv's cache from the package index (PyPI unreachable?)")
    monkeypatch.setenv("PATH", f"{other.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("UV_OFFLINE", "1")
    version = other.name.removeprefix("python")

    python, log = build(Environment(python=version))

    assert not any(line.startswith("WARNING") for line in log), log
    assert run_in(python, "import sys; print(sys.version_info[1])") == version.split(".")[1]
    assert run_in(python, "import runyard.models.tasks, pydantic; print(pydantic.VERSION)")
