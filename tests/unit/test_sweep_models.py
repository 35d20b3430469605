"""The sweep wire models: distribution text, option checks, grid spaces."""

import pytest
from pydantic import ValidationError

from runyard.models import SweepCreate, parse_distribution

BASE = "0" * 32


def test_distributions_parse_bounds_steps_and_choices() -> None:
    lr = parse_distribution("loguniform(1e-4, 1e-1)")
    assert (lr.kind, lr.low, lr.high, lr.step) == ("loguniform", 1e-4, 1e-1, None)
    layers = parse_distribution("int(1,4)")
    assert layers.grid() == [1, 2, 3, 4]
    assert parse_distribution("uniform(0,1,0.25)").grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    choice = parse_distribution("choice(32, 64.5, true, 'a,b', adam)")
    assert choice.choices == [32, 64.5, True, "a,b", "adam"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("normal(0,1)", "unknown distribution 'normal'"),
        ("uniform(1,0)", "low must be below high"),
        ("loguniform(0,1)", "low > 0"),
        ("int(1.5,4)", "whole numbers"),
        ("uniform(0,nan)", "not a finite number"),
        ("choice(1,1)", "twice"),
        ("lr=0.1", "is not a distribution"),
    ],
)
def test_bad_distribution_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_distribution(text)


def test_sweep_create_names_the_bad_param() -> None:
    with pytest.raises(ValidationError, match="param 'Args/lr'"):
        SweepCreate(base=BASE, params={"Args/lr": "uniform(2,1)"}, objective="loss", queue="q")


def test_option_of_another_sampler_or_pruner_is_refused() -> None:
    with pytest.raises(ValidationError, match="random takes no option n_startup_trials"):
        SweepCreate.model_validate(
            {
                "base": BASE,
                "params": {"A/x": "uniform(0,1)"},
                "objective": "loss",
                "queue": "q",
                "sampler": "random",
                "sampler_options": {"n_startup_trials": 3},
            }
        )
    with pytest.raises(ValidationError, match="median takes no option min_resource"):
        SweepCreate.model_validate(
            {
                "base": BASE,
                "params": {"A/x": "uniform(0,1)"},
                "objective": "loss",
                "queue": "q",
                "pruner": "median",
                "pruner_options": {"min_resource": 3},
            }
        )


def test_grid_needs_finite_params() -> None:
    with pytest.raises(ValidationError, match="grid sampler: param 'A/x'"):
        SweepCreate(
            base=BASE, params={"A/x": "uniform(0,1)"}, objective="l", queue="q", sampler="grid"
        )
    ok = SweepCreate(
        base=BASE,
        params={"A/x": "int(0,2)", "A/y": "choice(a,b)"},
        objective="l",
        queue="q",
        sampler="grid",
    )
    assert ok.space()["A/x"].grid() == [0, 1, 2]
