"""Validated name types for projects, queues, tags and artifacts."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from runyard.models.limits import MAX_TASK_NAME_CHARS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+@-]{0,63}")
_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SERIES = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./:@-]{0,127}")


def _check(pattern: re.Pattern[str], what: str, rule: str) -> "AfterValidator":
    def validate(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"invalid {what} {value!r}: {rule}")
        return value

    return AfterValidator(validate)


_NAME_RULE = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"

Name = Annotated[str, _check(_NAME, "name", _NAME_RULE)]
"""A project, queue or worker name: safe in URLs, Redis keys and file paths."""

Tag = Annotated[
    str, _check(_TAG, "tag", "use 1-64 letters, digits or . _ : = + @ -, starting alphanumeric")
]

SeriesName = Annotated[
    str,
    _check(_SERIES, "metric series", "use 1-128 letters, digits or _ . / : @ -, e.g. 'val/acc'"),
]

TaskId = Annotated[str, _check(_ID, "task id", "expected 32 lowercase hex characters")]


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError(f"task name {value!r} contains control characters")
    return value


TaskName = Annotated[
    str, Field(min_length=1, max_length=MAX_TASK_NAME_CHARS), AfterValidator(_printable)
]
"""A task's human name: free text on one line (ids, not names, identify tasks)."""


def is_valid_name(value: str) -> bool:
    """True when ``value`` is acceptable as a project or queue name."""
    return bool(_NAME.fullmatch(value))


def is_valid_series(value: str) -> bool:
    """True when ``value`` is acceptable as a metric series name (``val/acc``)."""
    return bool(_SERIES.fullmatch(value))


def is_valid_sha256(value: str) -> bool:
    """True when ``value`` is a sha256 in lowercase hex (64 characters)."""
    return bool(_SHA256.fullmatch(value))


def is_valid_task_id(value: str) -> bool:
    """True when ``value`` looks like a task id (32 lowercase hex characters)."""
    return bool(_ID.fullmatch(value))
