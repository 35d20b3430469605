"""Triggers and schedules driven by a real jobs process (the server's) on real Redis:
a failed task fires its trigger once, and a schedule on an every-second cron starts
its runs on time, then catches up once after the server was down."""

import time
from datetime import datetime
from pathlib import Path

import requests

from tests.integration.automation_support import end_task, make_task, server_on


def _wait_for_tasks(api: str, project: str, count: int, timeout_s: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        items = requests.get(f"{api}/tasks", params={"project": project}, timeout=10).json()
        found = items["items"]
        if len(found) >= count:
            return list(reversed(found))
        assert time.monotonic() < deadline, f"{len(found)} tasks of {count}"
        time.sleep(0.05)


def test_a_failed_task_fires_its_trigger_once_and_the_rerun_does_not_loop(
    redis_url: str, tmp_path: Path
) -> None:
    server = server_on(redis_url, tmp_path)
    try:
        api = server.api
        base = make_task(api, "train")
        body = {"task": base, "queue": "q", "watch_project": "train", "statuses": ["failed"]}
        trigger = requests.post(f"{api}/triggers", json=body, timeout=10).json()
        end_task(api, base, "failed")
        rerun = _wait_for_tasks(api, "train", 2)[-1]
        assert rerun["parent"] == base and rerun["status"] == "queued"
        assert rerun["origin"].startswith(f"trigger:{trigger['id']}:")
        # The rerun fails too: a task the trigger made never fires it again.
        end_task(api, rerun["id"], "failed")
        time.sleep(1.5)
        assert len(_wait_for_tasks(api, "train", 2)) == 2
        shown = requests.get(f"{api}/triggers/{trigger['id']}", timeout=10).json()
        assert (shown["fired"], shown["last_task"]) == (1, rerun["id"])
    finally:
        server.stop()


def test_a_metric_threshold_trigger_fires_only_above_it(redis_url: str, tmp_path: Path) -> None:
    server = server_on(redis_url, tmp_path)
    try:
        api = server.api
        target = make_task(api, "promote", queue="deploy")
        rule = {"watch_tag": "candidate", "statuses": ["completed"], "metric": "val/acc"}
        body = {"task": target, "queue": "deploy", **rule, "op": ">=", "threshold": 0.9}
        requests.post(f"{api}/triggers", json=body, timeout=10).raise_for_status()
        for acc in (0.5, 0.95):
            task = {"project": "exp", "tags": ["candidate"], "queue": "q", "create_queue": True,
                    "script": {"entry_point": "train.py"}}  # fmt: skip
            task_id = requests.post(f"{api}/tasks", json=task, timeout=10).json()["id"]
            point = {"points": [{"series": "val/acc", "value": acc, "ts": time.time()}]}
            requests.post(f"{api}/tasks/{task_id}/metrics", json=point, timeout=10)
            end_task(api, task_id, "completed")
        promoted = _wait_for_tasks(api, "promote", 2)
        time.sleep(1.0)
        assert len(_wait_for_tasks(api, "promote", 2)) == 2
        assert promoted[-1]["parent"] == target
    finally:
        server.stop()


def test_an_every_second_schedule_runs_on_time_and_catches_up_once_after_downtime(
    redis_url: str, tmp_path: Path
) -> None:
    server = server_on(redis_url, tmp_path)
    api = server.api
    base = make_task(api, "nightly")
    body = {"task": base, "cron": "* * * * * *", "queue": "q", "catch_up": "once"}
    schedule = requests.post(f"{api}/schedules", json=body, timeout=10).json()
    first = [t for t in _wait_for_tasks(api, "nightly", 4) if t["parent"]]
    server.stop()
    slots = [int(t["origin"].rsplit(":", 1)[1]) for t in first]
    assert slots == list(range(slots[0], slots[0] + len(slots)))
    for task, slot in zip(first, slots, strict=True):
        made = datetime.fromisoformat(task["created"]).timestamp()
        assert 0 <= made - slot <= 1, (task["created"], slot)  # a 0.1 s tick, a loaded CI
    stopped = time.time()
    time.sleep(3.5)  # down: three or four runs are missed
    server.start()
    try:
        after = [t for t in _wait_for_tasks(api, "nightly", len(first) + 3) if t["parent"]]
        late = [int(t["origin"].rsplit(":", 1)[1]) for t in after[len(first) :]]
        # One run for all the missed ones (the first missed time), then on time again:
        # the three or more seconds between were not run.
        assert slots[-1] < late[0] <= stopped + 1
        assert late[1] - late[0] >= 3
        assert late[1:] == list(range(late[1], late[1] + len(late) - 1))
        shown = requests.get(f"{api}/schedules/{schedule['id']}", timeout=10).json()
        assert shown["runs"] >= len(after) and len(shown["next_runs"]) == 3
    finally:
        server.stop()
