"""The real ``runyard-server`` process: persistence across restarts, the lease reaper."""

import time
from collections.abc import Callable

import requests

from tests.servers import ServerProcess


def enqueue_many(api: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = requests.post(
            f"{api}/tasks",
            json={
                "name": f"t{i}",
                "queue": "q",
                "create_queue": True,
                "script": {"entry_point": "train.py"},
            },
            timeout=5,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def queue_order(api: str) -> list[str]:
    entries = requests.get(f"{api}/queues/q", params={"limit": 1000}, timeout=5).json()["entries"]
    return [e["task_id"] for e in entries]


def test_restart_after_sigterm_loses_no_queued_task(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    ids = enqueue_many(server.api, 50)
    server.stop()
    server.start()
    assert queue_order(server.api) == ids


def test_restart_after_sigkill_with_fsync_always_loses_no_queued_task(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--redis-fsync", "always")
    ids = enqueue_many(server.api, 50)
    server.kill()
    server.start()
    assert queue_order(server.api) == ids


def test_reaper_requeues_a_silent_claim_then_fails_it(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--lease", "1", "--first-lease", "1")
    api = server.api
    tid = enqueue_many(api, 1)[0]
    worker = requests.post(
        f"{api}/workers", json={"name": "w", "queues": ["q"], "resources": {}}, timeout=5
    ).json()["id"]

    def claim_and_go_silent() -> None:
        body = {"queues": ["q"], "free": {}, "wait_s": 10}
        got = requests.post(f"{api}/workers/{worker}/claim", json=body, timeout=15).json()
        assert got["task"]["id"] == tid

    def wait_for(status: str) -> dict[str, object]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            task = dict(requests.get(f"{api}/tasks/{tid}", timeout=5).json())
            if task["status"] == status:
                return task
            time.sleep(0.2)
        raise AssertionError(f"task never became {status}: {task}")

    claim_and_go_silent()
    assert wait_for("queued")["attempt"] == 1
    claim_and_go_silent()
    failed = wait_for("failed")
    assert failed["failure_reason"] == "worker lost"


def test_several_api_workers_share_the_queues_and_wake_each_others_claimers(
    server_factory: Callable[..., ServerProcess],
) -> None:
    import concurrent.futures

    server = server_factory("--workers", "2")
    api = server.api
    worker = requests.post(
        f"{api}/workers", json={"name": "w", "queues": ["q"], "resources": {}}, timeout=5
    ).json()["id"]
    body = {"queues": ["q"], "free": {}, "wait_s": 10}

    def claim() -> dict[str, object]:
        # A new connection each time, so the claims land on either API process.
        with requests.Session() as session:
            got = session.post(f"{api}/workers/{worker}/claim", json=body, timeout=15)
            return dict(got.json())

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(claim) for _ in range(4)]
        time.sleep(0.5)
        ids = set(enqueue_many(api, 4))
        claimed = {f.result()["task"]["id"] for f in waiting}  # type: ignore[index]
    assert claimed == ids
