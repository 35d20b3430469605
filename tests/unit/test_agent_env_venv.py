"""Venv cache keys, requirement normalization and interpreter matching."""

import sys
from pathlib import Path

import pytest

from runyard_agent.environments.interpreters import Interpreter, find_interpreter
from runyard_agent.environments.sdk_overlay import sdk_distributions
from runyard_agent.environments.venv import normalize_requirements, venv_key
from runyard_agent.errors import EnvironmentBuildError

PY311 = Interpreter(Path("/usr/bin/python3.11"), (3, 11, 7))


def test_requirements_normalize_to_sorted_canonical_lines() -> None:
    lines = ["Six == 1.16.0", "", "# a comment", "tomli>=2,<3  # why", "six==1.16.0"]

    assert normalize_requirements(lines, print) == ["six==1.16.0", "tomli<3,>=2"]


def test_runyard_requirement_is_dropped_for_the_agents_own_sdk() -> None:
    logged: list[str] = []

    assert normalize_requirements(["runyard==0.0.1", "six"], logged.append) == ["six"]
    assert "agent provides its own runyard" in logged[0]


def test_pip_option_in_requirements_is_refused() -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        normalize_requirements(["--index-url=https://evil.example/simple"], print)

    assert caught.value.stage == "install"


def test_venv_key_ignores_requirement_order_but_not_python_version() -> None:
    one = normalize_requirements(["tomli==2.0.1", "six==1.16.0"], print)
    other = normalize_requirements(["six==1.16.0", "tomli==2.0.1"], print)
    newer = Interpreter(PY311.executable, (3, 11, 8))

    assert venv_key(PY311, one) == venv_key(PY311, other)
    assert venv_key(PY311, one) != venv_key(newer, one)


@pytest.mark.parametrize(
    ("request_text", "matches"), [("3", True), ("3.11", True), ("3.11.7", True), ("3.11.6", False)]
)
def test_interpreter_matches_a_major_minor_or_exact_request(
    request_text: str, matches: bool
) -> None:
    assert PY311.matches(request_text) is matches


def test_agents_own_interpreter_is_used_when_the_version_matches() -> None:
    request = f"{sys.version_info.major}.{sys.version_info.minor}"

    assert find_interpreter(request, None, print).executable == Path(sys.executable)
    assert find_interpreter(None, None, print).executable == Path(sys.executable)


def test_sdk_overlay_covers_runyard_and_its_compiled_dependencies() -> None:
    names = {dist.metadata["Name"].lower().replace("_", "-") for dist in sdk_distributions()}

    assert {"runyard", "pydantic", "pydantic-core", "requests", "urllib3"} <= names
