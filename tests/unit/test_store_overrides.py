"""Pure logic: clone overrides (runyard.models)."""

import pytest

from runyard.models import OverrideError, apply_overrides, checked_overrides


def test_override_sets_a_value_keeping_its_json_type() -> None:
    params = {"General": {"lr": 0.1, "epochs": 10}}

    result = apply_overrides(params, {"General/lr": 1, "General/epochs": "20"})

    assert result == {"General": {"lr": 1, "epochs": "20"}}
    assert params == {"General": {"lr": 0.1, "epochs": 10}}


def test_override_of_a_missing_section_or_nested_key_creates_it() -> None:
    result = apply_overrides({}, {"Model/head/dropout": 0.5, "New/flag": None})

    assert result == {"Model": {"head": {"dropout": 0.5}}, "New": {"flag": None}}


def test_a_key_containing_a_slash_is_matched_whole() -> None:
    result = apply_overrides({"Args": {"data/dir": "a"}}, {"Args/data/dir": "b"})

    assert result == {"Args": {"data/dir": "b"}}


def test_override_through_a_plain_value_is_invalid() -> None:
    with pytest.raises(ValueError, match="not a nested section"):
        apply_overrides({"General": {"lr": 0.1}}, {"General/lr/x": 1})


def test_checked_override_of_an_unknown_key_names_the_closest_ones() -> None:
    params = {"Args": {"lr": 0.1, "lr_decay": 0.9, "epochs": 10}}

    with pytest.raises(OverrideError, match=r"'Args/lrr'.*did you mean Args/lr.*--new-param"):
        checked_overrides(params, {"Args/lrr": 0.2}, {})


def test_checked_override_that_cannot_take_the_recorded_type_names_the_path() -> None:
    params = {"Args": {"lr": 0.1, "amp": True}}

    with pytest.raises(OverrideError, match="'Args/lr': 'fast' is not a float"):
        checked_overrides(params, {"Args/lr": "fast"}, {})
    with pytest.raises(OverrideError, match=r"'Args/amp'.*not a boolean"):
        checked_overrides(params, {"Args/amp": 7}, {})


def test_checked_overrides_convert_to_the_recorded_type_and_add_new_params() -> None:
    params = {"Args": {"lr": 0.1, "epochs": 10, "name": "a", "data/dir": "x"}}

    result = checked_overrides(
        params,
        {"Args/lr": 1, "Args/epochs": "20", "Args/name": 7, "Args/data/dir": "y"},
        {"Args/seed": 3, "Model/head/dropout": 0.5},
    )

    assert result == {
        "Args": {"lr": 1.0, "epochs": 20, "name": "7", "data/dir": "y", "seed": 3},
        "Model": {"head": {"dropout": 0.5}},
    }
    assert isinstance(result["Args"]["lr"], float)


def test_a_new_param_that_already_exists_is_refused() -> None:
    with pytest.raises(OverrideError, match="'Args/lr' already exists"):
        checked_overrides({"Args": {"lr": 0.1}}, {}, {"Args/lr": 0.2})
