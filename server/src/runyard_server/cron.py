"""Cron times of a schedule (croniter) in its time zone, and what a late tick starts.

Times are unix seconds. A cron of five fields is minute precision; a sixth field is
seconds (croniter's order: ``minute hour day month weekday second``). The zone decides
what "3 o'clock" means across daylight-saving changes (croniter steps over the hour
that does not exist and runs once in the one that repeats).
"""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runyard.models import CatchUp
from runyard.models.automation import MAX_CATCH_UP
from runyard_server.errors import Invalid


def zone(tz: str) -> ZoneInfo:
    """The IANA zone ``tz``; Invalid naming it when unknown."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin") from None


# croniter is imported where it is used: with dateutil and six it is 2 MiB of the API
# process, whose peak RSS through a 1 GiB upload is held under 100 MiB (issue 16), and
# only schedules need it.


def check(cron: str, tz: str) -> None:
    """Invalid, naming the problem, unless ``cron`` parses and ``tz`` is a zone."""
    from croniter import croniter

    zone(tz)
    if not croniter.is_valid(cron):
        raise Invalid(
            f"invalid cron {cron!r}: give five fields (minute hour day month weekday), "
            "or six with seconds last, e.g. '0 3 * * *'"
        )


def upcoming(cron: str, tz: str, after: float, n: int) -> list[float]:
    """The ``n`` run times after ``after``."""
    from croniter import CroniterError, croniter

    try:
        times = croniter(cron, datetime.fromtimestamp(after, zone(tz)))
        return [float(times.get_next(float)) for _ in range(n)]
    except CroniterError as error:  # e.g. "30 2 31 2 *": a day that never comes
        raise Invalid(f"cron {cron!r} has no run time: {error}") from None


def next_after(cron: str, tz: str, after: float) -> float:
    """The first run time after ``after``."""
    return upcoming(cron, tz, after, 1)[0]


def runs_due(cron: str, tz: str, due: float, now: float, catch_up: CatchUp) -> list[float]:
    """The run times to start for a schedule whose next run, ``due``, is at or before
    ``now``. Only the stored ``due`` decides which (two replicas that read the same
    ``due`` at different ``now`` start the same runs, and each run's clone is made once
    by its key), except ``all``, whose extra runs are each keyed by their own time.

    ``once``: ``due`` alone, however many passed since. ``skip``: ``due`` when it is the
    only one that passed (an on-time tick), else none. ``all``: each time from ``due``
    through ``now``, at most ``MAX_CATCH_UP``."""
    passed = [due]
    wanted = {"once": 1, "skip": 2, "all": MAX_CATCH_UP + 1}[catch_up]
    while len(passed) < wanted:
        later = next_after(cron, tz, passed[-1])
        if later > now:
            break
        passed.append(later)
    if catch_up == "skip":
        return passed if len(passed) == 1 else []
    return passed[:MAX_CATCH_UP]
