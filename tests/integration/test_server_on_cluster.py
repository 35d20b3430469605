"""A real ``runyard-server --redis-cluster`` on a 3-master Redis Cluster: long-poll
claims woken by pub/sub, reports, logs archived by the event consumers (a stream
consumer group) and leases reaped by the jobs process."""

import concurrent.futures
import time
from collections.abc import Callable, Iterator

import pytest
import redis
import requests

from runyard_server.store import keys
from tests.servers import RedisClusterProcesses, ServerProcess


@pytest.fixture
def cluster(redis_cluster: RedisClusterProcesses) -> Iterator[RedisClusterProcesses]:
    redis_cluster.flush()
    yield redis_cluster
    redis_cluster.flush()


def _until(check: Callable[[], object], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)


def test_a_server_on_a_redis_cluster_claims_reports_archives_and_reaps(
    server_factory: Callable[..., ServerProcess], cluster: RedisClusterProcesses
) -> None:
    server = server_factory(
        "--redis-url", cluster.url, "--redis-cluster", "--lease", "1", "--first-lease", "1"
    )
    api = server.api
    worker = requests.post(
        f"{api}/workers", json={"name": "w", "queues": ["q"], "resources": {}}, timeout=5
    ).json()["id"]

    def claim() -> dict[str, object]:
        body = {"queues": ["q"], "free": {}, "wait_s": 10}
        got = requests.post(f"{api}/workers/{worker}/claim", json=body, timeout=15)
        return dict(got.json())

    def create(name: str) -> str:
        body = {
            "name": name,
            "queue": "q",
            "create_queue": True,
            "script": {"entry_point": "train.py"},
        }
        created = requests.post(f"{api}/tasks", json=body, timeout=5)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(claim)
        time.sleep(0.5)  # the claim waits on ry:wake before the task exists
        done = create("done")
        got = waiting.result()
    assert got["task"]["id"] == done  # type: ignore[index]
    token = got["lease_token"]
    lines = [{"text": f"line {i}", "ts": time.time()} for i in range(3)]
    logs = {"lease_token": token, "seq": 0, "lines": lines}
    assert requests.post(f"{api}/tasks/{done}/logs", json=logs, timeout=5).status_code == 200
    report = {"lease_token": token, "exit_code": 0}
    ended = requests.post(f"{api}/tasks/{done}/completed", json=report, timeout=5)
    assert ended.json()["status"] == "completed", ended.text

    with redis.RedisCluster.from_url(cluster.url, decode_responses=True) as r:
        _until(lambda: r.hget(keys.task(done), "history") == "archived", "archiving")
        assert not r.exists(keys.task_logs(done))
    page = requests.get(f"{api}/tasks/{done}/logs", timeout=5).json()
    assert [line["text"] for line in page["lines"]] == ["line 0", "line 1", "line 2"]

    silent = create("silent")
    assert claim()["task"]["id"] == silent  # type: ignore[index]

    def requeued() -> bool:
        task = requests.get(f"{api}/tasks/{silent}", timeout=5).json()
        return bool(task["status"] == "queued" and task["attempt"] == 1)

    _until(requeued, "the reaper requeueing the silent claim")
