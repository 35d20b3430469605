"""What a test does when something it needs is missing: fail in CI, where every test must
run (the CI machine has Redis, Docker, Chromium, Slurm, npm, uv), skip loudly elsewhere."""

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"


def unavailable(why: str) -> NoReturn:
    """Fail under ``CI=true``; skip, saying ``why``, on a machine without the component."""
    if IN_CI:
        pytest.fail(f"{why}: this test must run in CI")
    pytest.skip(f"SKIPPED LOUDLY: {why}")
