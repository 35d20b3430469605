"""The lease reaper runs again within seconds of a server ``kill -9`` and restart.

The whole server dies as in a machine crash: API, jobs process and (embedded case)
its Redis, each with SIGKILL, so nothing cleans up. Whatever the dead jobs process
left in Redis must not stop the new one (0.1's rq scheduler lock did, for up to ten
minutes), and nothing stored may point at the dead embedded Redis, which comes back
on a new port. A worker claimed a task and went silent before the crash; its lease
runs out around the restart, and the task must be back on its queue a few seconds
after the server is.
"""

import time
from collections.abc import Callable

import requests

from runyard_server.embedded import EmbeddedRedis
from tests.faults.consistency import problems
from tests.faults.support import children_of, embedded_redis_url, sync_client, wait_gone
from tests.servers import ServerProcess

LEASE = ("--lease", "3", "--first-lease", "3")
FREE = {"gpus": 0, "cpus": 4, "memory_gb": 8}
# Lease (3 s) + reaper interval (1 s) + room for a loaded test machine.
REAPED_WITHIN_S = 10.0


def _claim_then_go_silent(api: str) -> str:
    """A task claimed by a worker that never heartbeats: its first lease will expire."""
    with requests.Session() as http:
        created = http.post(
            f"{api}/tasks",
            json={
                "name": "abandoned",
                "queue": "q",
                "create_queue": True,
                "script": {"entry_point": "train.py"},
            },
            timeout=10,
        )
        task_id = str(created.json()["id"])
        body = {"name": "silent", "queues": ["q"], "resources": FREE}
        worker = http.post(f"{api}/workers", json=body, timeout=10).json()["id"]
        body = {"queues": ["q"], "free": FREE, "wait_s": 0}
        claim = http.post(f"{api}/workers/{worker}/claim", json=body, timeout=10).json()
    assert claim["task"]["id"] == task_id
    return task_id


def _crash(server: ServerProcess) -> None:
    """SIGKILL the server and its children (jobs process, embedded Redis) all at once."""
    children = children_of(server)
    for child in children:
        child.kill()
    server.kill()
    wait_gone(children)


def _seconds_until_requeued(api: str, task_id: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < REAPED_WITHIN_S:
        status = requests.get(f"{api}/tasks/{task_id}", timeout=5).json()["status"]
        if status == "queued":
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} still {status} {REAPED_WITHIN_S}s after the restart")


def _crash_and_restart_with_an_abandoned_lease(server: ServerProcess) -> str:
    time.sleep(2)  # the jobs process is up and has reaped (0.1: took its scheduler lock)
    task_id = _claim_then_go_silent(server.api)
    _crash(server)
    server.start()
    print(f"requeued {_seconds_until_requeued(server.api, task_id):.1f}s after the restart")
    return task_id


def _check_store(redis_url: str) -> None:
    with sync_client(redis_url) as r:
        # No rq job or scheduler lock: nothing stored names a Redis or holds a dead lock.
        assert list(r.scan_iter("rq:*")) == []
        assert problems(r) == []


def test_reaper_runs_within_seconds_of_a_crash_with_the_embedded_redis_on_a_new_port(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--redis-fsync", "always", *LEASE)
    before = embedded_redis_url(server)

    _crash_and_restart_with_an_abandoned_lease(server)

    after = embedded_redis_url(server)
    assert after != before
    _check_store(after)


def test_reaper_runs_within_seconds_of_a_crash_with_an_external_redis(
    server_factory: Callable[..., ServerProcess],
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    external = redis_factory()
    server = server_factory("--redis-url", external.url, *LEASE)

    _crash_and_restart_with_an_abandoned_lease(server)

    _check_store(external.url)
