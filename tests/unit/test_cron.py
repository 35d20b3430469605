"""Schedule times: cron in a time zone, across daylight saving, and which runs a late
tick starts under each catch-up policy."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from runyard_server import cron
from runyard_server.errors import Invalid

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def test_three_oclock_stays_three_oclock_across_the_autumn_change() -> None:
    runs = cron.upcoming("0 3 * * *", "Europe/Berlin", at("2026-10-23T12:00:00"), 3)
    local = [datetime.fromtimestamp(t, BERLIN) for t in runs]
    assert [(t.day, t.hour) for t in local] == [(24, 3), (25, 3), (26, 3)]
    # 25 hours between the first two: the clocks went back that night.
    assert [runs[1] - runs[0], runs[2] - runs[1]] == [25 * 3600, 24 * 3600]


def test_a_sixth_field_is_seconds() -> None:
    assert cron.upcoming("* * * * * */10", "UTC", 1_700_000_001.0, 2) == [
        1_700_000_010.0,
        1_700_000_020.0,
    ]


@pytest.mark.parametrize(
    ("expr", "tz", "why"),
    [("0 3 * *", "UTC", "invalid cron"), ("0 3 * * *", "Nowhere/City", "unknown time zone")],
)
def test_a_bad_cron_or_zone_is_named(expr: str, tz: str, why: str) -> None:
    with pytest.raises(Invalid, match=why):
        cron.check(expr, tz)


@pytest.mark.parametrize(
    ("policy", "now", "runs"),
    [
        ("once", 100.5, [100.0]),
        ("once", 105.5, [100.0]),
        ("all", 103.5, [100.0, 101.0, 102.0, 103.0]),
        ("skip", 100.5, [100.0]),
        ("skip", 103.5, []),
    ],
)
def test_a_late_tick_starts_what_the_policy_says(
    policy: str, now: float, runs: list[float]
) -> None:
    assert cron.runs_due("* * * * * *", "UTC", 100.0, now, policy) == runs  # type: ignore[arg-type]


def test_all_catches_up_at_most_the_cap() -> None:
    assert len(cron.runs_due("* * * * * *", "UTC", 0.0, 10_000.0, "all")) == 100
