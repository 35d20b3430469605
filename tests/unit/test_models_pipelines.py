"""Pipeline definitions: the DAG, step sources and ``${...}`` references are checked
when a pipeline is made, so a typo fails at ``pipeline run``, not hours into it."""

from typing import Any

import pytest
from pydantic import ValidationError

from runyard.models import BadReference, PipelineSpec, parse_reference, substitute

BASE = "a" * 32


def _spec(steps: list[dict[str, Any]], params: dict[str, Any] | None = None) -> PipelineSpec:
    return PipelineSpec.model_validate({"name": "p", "params": params or {}, "steps": steps})


def _diamond(evaluate_params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": "prepare", "base": BASE},
        {"name": "train_a", "base": BASE, "parents": ["prepare"]},
        {"name": "train_b", "base": BASE, "parents": ["prepare"]},
        {
            "name": "evaluate",
            "base": BASE,
            "parents": ["train_a", "train_b"],
            "params": evaluate_params,
        },
    ]


def test_diamond_with_references_to_ancestors_is_accepted() -> None:
    spec = _spec(
        _diamond(
            {
                "Args/acc": "${train_a.metrics.val/acc}",
                "Args/data": "${prepare.artifacts.data}",
                "Args/tag": "run-${params.lr}",
            }
        ),
        {"lr": 0.1},
    )
    assert spec.graph()["evaluate"] == ["train_a", "train_b"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "a", "base": BASE, "parents": ["b"]}], "parent b is not a step"),
        (
            [
                {"name": "a", "base": BASE, "parents": ["b"]},
                {"name": "b", "base": BASE, "parents": ["a"]},
            ],
            "cycle",
        ),
        ([{"name": "a", "base": BASE}, {"name": "a", "base": BASE}], "two steps are named a"),
        ([{"name": "a"}], "exactly one of base"),
        ([{"name": "a.b", "base": BASE}], "invalid step name"),
        ([{"name": "a", "base": BASE, "params": {"lr": 1}}], "Section/key"),
    ],
)
def test_bad_dags_are_refused_naming_the_problem(steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _spec(steps)


def test_reference_to_a_step_that_is_not_an_ancestor_is_refused() -> None:
    steps = _diamond({})
    steps[1]["params"] = {"Args/x": "${train_b.metrics.loss}"}
    with pytest.raises(ValidationError, match="not one of its ancestors"):
        _spec(steps)


def test_reference_to_an_undeclared_pipeline_param_is_refused() -> None:
    with pytest.raises(ValidationError, match="names no pipeline parameter"):
        _spec(_diamond({"Args/x": "${params.missing}"}))


@pytest.mark.parametrize("inner", ["", "train", "train.logs.x", "params.", "train.artifacts./x"])
def test_malformed_references_are_refused(inner: str) -> None:
    with pytest.raises(BadReference):
        parse_reference(inner)


def test_a_whole_reference_keeps_its_type_and_a_partial_one_is_formatted() -> None:
    values = {"x": 0.5, "n": 3}
    resolved = substitute(
        {"a": "${params.x}", "b": "n=${params.n}!", "c": ["${params.n}"], "d": 7},
        lambda ref: values[ref.name],
    )
    assert resolved == {"a": 0.5, "b": "n=3!", "c": [3], "d": 7}
