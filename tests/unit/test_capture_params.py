"""A clone's stored params come back with the types the script's defaults have."""

import argparse
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from runyard.capture.params import Uncoercible, apply_stored, coerce, jsonable


class Mode(Enum):
    FAST = "fast"
    SLOW = "slow"


@pytest.mark.parametrize(
    ("stored", "default", "expected"),
    [
        (5.0, 3, 5),
        ("7", 3, 7),
        (1, 0.1, 1.0),
        ("0.01", 0.1, 0.01),
        ("true", False, True),
        ("no", True, False),
        (1, False, True),
        (2, "x", "2"),
        (True, "x", "true"),
        ([1, 2], (0,), (1, 2)),
        ("[3, 4]", [0], [3, 4]),
        ("slow", Mode.FAST, Mode.SLOW),
        ("/data/b", Path("/data/a"), Path("/data/b")),
        ({"k": 1}, None, {"k": 1}),
        (None, 3, None),
    ],
)
def test_stored_value_takes_the_defaults_type(stored: Any, default: Any, expected: Any) -> None:
    result = coerce(stored, default)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("stored", "default"), [(0.5, 3), ("many", 3), (2, False)])
def test_lossy_conversions_are_refused(stored: Any, default: Any) -> None:
    with pytest.raises(Uncoercible):
        coerce(stored, default)


def test_nested_dicts_merge_in_place_and_keep_types() -> None:
    cfg: dict[str, Any] = {"lr": 0.1, "epochs": 3, "opt": {"name": "sgd", "beta": 0.9}}
    original_opt = cfg["opt"]
    notes = apply_stored(cfg, {"epochs": 5.0, "opt": {"beta": 1}, "extra": "x"})
    assert notes == []
    assert cfg == {"lr": 0.1, "epochs": 5, "opt": {"name": "sgd", "beta": 1.0}, "extra": "x"}
    assert type(cfg["epochs"]) is int
    assert cfg["opt"] is original_opt


def test_a_value_that_cannot_convert_is_kept_as_stored_with_a_note() -> None:
    cfg: dict[str, Any] = {"epochs": 3}
    notes = apply_stored(cfg, {"epochs": 2.5})
    assert cfg == {"epochs": 2.5}
    assert len(notes) == 1 and notes[0].startswith("epochs: kept 2.5")


def test_namespace_attributes_are_overridden_through_vars() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bs", type=int, default=8)
    parser.add_argument("--amp", action="store_true")
    args = parser.parse_args([])
    apply_stored(vars(args), {"bs": 32.0, "amp": "true"})
    assert args.bs == 32 and type(args.bs) is int
    assert args.amp is True


def test_jsonable_turns_python_values_into_json_data() -> None:
    value = {"t": (1, 2), "p": Path("/a"), "m": Mode.FAST, "n": float("nan"), 3: {1, 2}}
    assert jsonable(value) == {"t": [1, 2], "p": "/a", "m": "fast", "n": "nan", "3": [1, 2]}
