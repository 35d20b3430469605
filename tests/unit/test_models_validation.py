"""Wire-model rules that keep task records safe to hand to git, pip and a process."""

import pytest
from pydantic import ValidationError

from runyard.models import CloneRequest, Environment, Script, TaskSpec, TaskUpdate


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


def test_task_update_has_each_spec_field_with_the_same_constraints_or_none() -> None:
    spec = TaskSpec.model_json_schema(mode="validation")
    update = TaskUpdate.model_json_schema(mode="validation")
    assert update["properties"].keys() == spec["properties"].keys()
    for field, definition in spec["properties"].items():
        definition = {k: v for k, v in definition.items() if k not in ("default", "title")}
        branches = update["properties"][field]["anyOf"]
        assert {"type": "null"} in branches
        assert [b for b in branches if b != {"type": "null"}] == [definition], field


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "a\nb"},
        {"tags": ["t"] * 65},
        {"max_retries": 101},
        {"comment": "x" * 10_001},
    ],
)
def test_task_update_refuses_what_a_spec_refuses(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TaskSpec.model_validate(changes)
    with pytest.raises(ValidationError):
        TaskUpdate.model_validate(changes)


def test_a_clone_name_is_checked_like_a_task_name() -> None:
    with pytest.raises(ValidationError, match="control characters"):
        CloneRequest(name="a\x1bb")
