"""The Python environment a run records: version, pinned packages, requirement files, seeds."""

import importlib.metadata
import random
import sys
from pathlib import Path

from runyard.capture.environment import (
    canonical,
    installed_packages,
    python_version,
    requirements_from_file,
)
from runyard.capture.seeding import seed_everything
from runyard.models import Environment


def test_python_version_is_major_minor_micro() -> None:
    assert python_version() == ".".join(map(str, sys.version_info[:3]))


def test_installed_packages_are_pinned_and_local_installs_are_named_not_pinned() -> None:
    packages = installed_packages()
    pins = {canonical(line.split("==")[0]): line for line in packages.requirements}
    assert pins["requests"] == f"requests=={importlib.metadata.version('requests')}"
    assert "runyard" not in pins
    # The workspace installs the agent and server editable: they cannot be pinned.
    assert "runyard-agent" not in pins
    assert any(note.startswith("runyard-agent (editable install of ") for note in packages.unpinned)
    Environment(requirements=packages.requirements)  # the server's model accepts every line


def test_requirements_file_skips_comments_and_pip_options(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# deps\nnumpy==1.26.4  # pinned\n\n-e .\n--index-url https://x\ntorch>=2\n")
    assert requirements_from_file(path) == (
        ["numpy==1.26.4", "torch>=2"],
        ["-e .", "--index-url https://x"],
    )


def test_pyproject_dependencies_are_the_requirements(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndependencies = ["requests>=2", "six"]\n')
    assert requirements_from_file(path) == (["requests>=2", "six"], [])


def test_the_same_seed_gives_the_same_random_numbers() -> None:
    seeded = seed_everything(1234)
    first = random.random()
    seed_everything(1234)
    assert random.random() == first
    assert seeded[0] == "random"
