"""The Python environment a run records: version, pinned packages, requirement files, seeds."""

import importlib.metadata
import random
import sys
from pathlib import Path

import pytest

from runyard.capture.environment import canonical, installed_packages, python_version
from runyard.capture.requirements import read_requirements, split_source
from runyard.capture.seeding import seed_everything
from runyard.models import Environment


def test_python_version_is_major_minor_micro() -> None:
    assert python_version() == ".".join(map(str, sys.version_info[:3]))


def test_installed_packages_are_pinned_and_local_installs_are_named_not_pinned() -> None:
    packages = installed_packages()
    pins = {canonical(line.split("==")[0]): line for line in packages.requirements}
    assert pins["requests"] == f"requests=={importlib.metadata.version('requests')}"
    assert "runyard" not in pins
    assert not {"pip", "setuptools", "wheel"} & set(pins)  # the venv's own, never pinned
    # The workspace installs the agent and server editable: they cannot be pinned.
    assert "runyard-agent" not in pins
    assert any(note.startswith("runyard-agent (editable install of ") for note in packages.unpinned)
    Environment(requirements=packages.requirements)  # the server's model accepts every line


def test_requirements_file_skips_comments_and_pip_options(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# deps\nnumpy==1.26.4  # pinned\n\n-e .\n--index-url https://x\ntorch>=2\n")
    found = read_requirements(path, [])
    assert found.requirements == ["numpy==1.26.4", "torch>=2"]
    assert found.skipped == ["-e .", "--index-url https://x"]
    assert found.project_dir is None and found.lock_file is None


def test_pyproject_dependencies_are_the_requirements(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndependencies = ["requests>=2", "six"]\n')
    found = read_requirements(path, [])
    assert found.requirements == ["requests>=2", "six"]
    assert found.project_dir is None  # no build system: nothing to install from the checkout


PYPROJECT = """\
[project]
name = "Acme_Tabular"
version = "0.3.0"
dependencies = ["numpy>=1"]
[project.optional-dependencies]
train = ["scikit-learn>=1.3", "acme-tabular[plots]"]
plots = ["matplotlib"]
[dependency-groups]
lint = ["ruff"]
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"
"""


def test_pyproject_groups_add_their_packages_and_a_self_reference_is_inlined(
    tmp_path: Path,
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "uv.lock").write_text("version = 1\n")
    project = tmp_path / "libs" / "acme"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    path, groups = split_source("libs/acme/pyproject.toml[train, lint]")
    assert groups == ["train", "lint"]
    found = read_requirements(tmp_path / path, groups, stop_at=tmp_path)
    assert found.requirements == ["numpy>=1", "scikit-learn>=1.3", "ruff", "matplotlib"]
    assert found.project_dir == project  # a package of the repository: never a registry pin
    assert found.lock_file == tmp_path / "uv.lock"  # the workspace's lock, found upwards


def test_an_unknown_pyproject_group_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    with pytest.raises(ValueError, match=r"no group 'tain' \(groups: lint, plots, train\)"):
        read_requirements(path, ["tain"])


def test_the_same_seed_gives_the_same_random_numbers() -> None:
    seeded = seed_everything(1234)
    first = random.random()
    seed_everything(1234)
    assert random.random() == first
    assert seeded[0] == "random"
