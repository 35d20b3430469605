"""The one backoff rule of every SDK and agent retry loop: full jitter."""

import random

import pytest

from runyard.retry import Backoff, ceiling, full_jitter


def highest(low: float, high: float) -> float:
    return high


def test_the_ceiling_doubles_from_base_up_to_the_cap() -> None:
    assert [ceiling(n, 0.5, 8.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]


def test_the_ceiling_of_a_loop_failing_for_days_is_the_cap_not_an_overflow() -> None:
    assert ceiling(10_000, 1.0, 30.0) == 30.0


def test_each_wait_is_drawn_between_zero_and_the_ceiling() -> None:
    draws: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 3

    backoff = Backoff(1.0, 30.0, record)
    waits = [backoff.next() for _ in range(7)]
    assert draws == [(0.0, c) for c in (1, 2, 4, 8, 16, 30, 30)]
    assert waits == pytest.approx([1 / 3, 2 / 3, 4 / 3, 8 / 3, 16 / 3, 10, 10])


def test_reset_after_a_success_starts_again_from_base() -> None:
    backoff = Backoff(1.0, 30.0, highest)
    assert [backoff.next() for _ in range(3)] == [1, 2, 4]
    backoff.reset()
    assert backoff.next() == 1


def test_a_changed_cap_bounds_the_next_wait() -> None:
    backoff = Backoff(1.0, 30.0, highest)
    for _ in range(5):
        backoff.next()
    backoff.cap_s = 3.0
    assert backoff.next() == 3.0


def test_clients_that_failed_together_spread_over_the_whole_window() -> None:
    rng = random.Random(16)
    waits = [full_jitter(4, 1.0, 30.0, rng.uniform) for _ in range(2000)]
    assert 0 <= min(waits) < 0.1 and 15.9 < max(waits) <= 16
    # Uniform over [0, 16]: each quarter of the window gets about a quarter of them.
    quarters = [sum(q * 4 <= w < (q + 1) * 4 for w in waits) for q in range(4)]
    assert all(400 < n < 600 for n in quarters), quarters


def test_a_base_of_zero_never_waits() -> None:
    assert [Backoff(0.0, 0.0).next() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_bad_base_or_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(-1.0, 1.0)
    with pytest.raises(ValueError, match="base_s"):
        Backoff(2.0, 1.0)
