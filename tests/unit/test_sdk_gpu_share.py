"""The share of a GPU the agent gives a task reaches the SDK's config; a missing or
odd value is ignored (the task runs without a cap rather than failing)."""

import pytest

from runyard import config
from runyard._gpu_share import apply_memory_fraction


@pytest.mark.parametrize(
    ("value", "fraction"),
    [("0.5", 0.5), ("0.125", 0.125), ("1", None), ("0", None), ("half", None), ("", None)],
)
def test_the_memory_fraction_is_read_from_the_environment(
    value: str, fraction: float | None
) -> None:
    env = {"RUNYARD_GPU_MEMORY_FRACTION": value}
    assert config.load(env=env).gpu_memory_fraction == fraction


def test_no_fraction_imports_nothing_and_applies_nothing() -> None:
    assert config.load(env={}).gpu_memory_fraction is None
    assert apply_memory_fraction(None) is False
