"""``runyard schedule|trigger|webhook ...`` against a real server process, and who may
change what (``permissions.can``): the owner, not another member; admins only for
what spans every project."""

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.integration.test_cli_project_members import refused
from tests.integration.test_identity import BOOT, add_user, bearer, cli
from tests.servers import ServerProcess


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["--redis-url", redis_url, "--no-jobs", "--token", f"user:{BOOT}"]
    started = ServerProcess(tmp_path / "data", args, tmp_path / "server.log").start()
    try:
        yield started
    finally:
        started.stop()


def _task(server: ServerProcess, token: str, project: str) -> str:
    body = {"project": project, "name": "train", "script": {"entry_point": "train.py"}}
    got = requests.post(f"{server.api}/tasks", json=body, headers=bearer(token), timeout=10)
    got.raise_for_status()
    return str(got.json()["id"])


def test_schedules_from_the_cli_show_next_runs_pause_resume_and_delete(
    server: ServerProcess, redis_url: str
) -> None:
    mia = add_user(["--redis-url", redis_url], "mia", "member")
    mo = add_user(["--redis-url", redis_url], "mo", "member")
    cli(server, BOOT, "queue", "create", "gpu")
    task = _task(server, mia, "vision")
    made = json.loads(
        cli(server, mia, "schedule", "create", task[:8], "--cron", "0 3 * * *",
            "--tz", "Europe/Berlin", "--queue", "gpu", "--param", "General/lr=0.01", "--json")
    )  # fmt: skip
    assert made["task"] == task and made["overrides"] == {"General/lr": 0.01}
    # The next three 03:00s in Berlin, a day apart (sent in UTC: 01:00 or 02:00).
    berlin = [
        datetime.fromisoformat(t).astimezone(ZoneInfo("Europe/Berlin")) for t in made["next_runs"]
    ]
    assert [(t.hour, t.minute) for t in berlin] == [(3, 0)] * 3
    assert len({t.date() for t in berlin}) == 3
    listed = cli(server, mia, "schedule", "list")
    assert made["id"] in listed and "Europe/Berlin" in listed
    assert "may change only their own" in refused(server, mo, "schedule", "pause", made["id"])
    paused = json.loads(cli(server, mia, "schedule", "pause", made["id"], "--json"))
    assert paused["paused"] and paused["next_runs"] == []
    resumed = cli(server, mia, "schedule", "resume", made["id"])
    assert "next runs" in resumed
    cli(server, BOOT, "schedule", "delete", made["id"])
    assert "does not exist" in refused(server, mia, "schedule", "show", made["id"])


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--cron", "0 3 * *"], "invalid cron"),
        (["--cron", "0 3 * * *", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["--cron", "0 3 * * *", "--queue", "nope"], "queue nope does not exist"),
    ],
)
def test_a_schedule_that_could_never_run_is_refused(
    server: ServerProcess, args: list[str], why: str
) -> None:
    cli(server, BOOT, "queue", "create", "default")
    task = _task(server, BOOT, "vision")
    assert why in refused(server, BOOT, "schedule", "create", task, *args)


def test_triggers_and_webhooks_from_the_cli(server: ServerProcess, redis_url: str) -> None:
    mia = add_user(["--redis-url", redis_url], "mia", "member")
    cli(server, BOOT, "queue", "create", "default")
    task = _task(server, mia, "vision")
    made = json.loads(
        cli(server, mia, "trigger", "create", task, "--project", "vision", "--on",
            "failed,aborted", "--metric", "loss", "--op", ">", "--threshold", "3", "--json")
    )  # fmt: skip
    assert made["statuses"] == ["failed", "aborted"] and made["threshold"] == 3
    assert "project vision ends failed|aborted, loss > 3" in cli(server, mia, "trigger", "list")
    # Watching every project is an admin's; so is a webhook of every project.
    assert "admin role" in refused(server, mia, "trigger", "create", task)
    events = ["--events", "task.failed"]
    assert "admin role" in refused(server, mia, "webhook", "create", "http://x.test/", *events)
    loopback = refused(server, mia, "webhook", "create", "http://127.0.0.1:9/", *events,
                       "--project", "vision")  # fmt: skip
    assert "--webhook-allow-private" in loopback
    unknown = refused(server, mia, "webhook", "create", "http://x.test/", "--events", "sweep.doner")
    assert "'sweep.done'" in unknown
