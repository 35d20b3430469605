"""Wire-model rules that keep task records safe to hand to git, pip and a process."""

import pytest
from pydantic import ValidationError

from runyard.models import Environment, Script


@pytest.mark.parametrize(
    "requirement",
    ["--index-url http://evil", "-e .", "six --index-url http://evil", "six\n--pre", "six\x00"],
)
def test_requirement_lines_with_pip_options_or_control_characters_are_refused(
    requirement: str,
) -> None:
    with pytest.raises(ValidationError, match="requirement"):
        Environment(requirements=[requirement])


def test_requirements_with_markers_and_urls_are_kept() -> None:
    lines = ['numpy>=1.26 ; python_version >= "3.11"', "pkg @ https://example.com/pkg-1.0.whl"]
    assert Environment(requirements=lines).requirements == lines


@pytest.mark.parametrize("branch", ["--upload-pack=touch x", "main\n--upload-pack=x", "a\tb"])
def test_branches_that_could_become_options_are_refused(branch: str) -> None:
    with pytest.raises(ValidationError):
        Script(branch=branch)


def test_environment_values_with_nul_are_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Environment(env={"A": "x\x00y"})
