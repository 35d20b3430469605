"""A full Redis (maxmemory, noeviction) and a full artifact disk: clear errors, nothing corrupt.

Redis: tasks are created through the API until Redis refuses a write; every refusal
is a 503 ``store_full`` that says so, reads still work, every acknowledged task is
whole and nothing else is there; once memory is back, writes and the lease reaper
work again. Disk: the artifact folder is a 1 MiB tmpfs (or, where mounting is not
allowed, the server runs under a 1 MiB RLIMIT_FSIZE); an upload that does not fit
is a 507 ``insufficient_storage``, leaves no partial file, no temp file and no
record, and the artifact it would have replaced is intact.
"""

import contextlib
import hashlib
import os
import resource
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys
from tests.faults.consistency import problems
from tests.faults.support import sync_client
from tests.servers import ServerProcess

PARAMS = {"General": {"blob": "x" * 20_000}}
MAX_FILL = 2_000


@pytest.fixture
def small_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    extra = ["--maxmemory-policy", "noeviction"]
    with EmbeddedRedis(tmp_path / "redis", extra_args=extra) as server:
        yield server


def _fill(session: requests.Session, api: str) -> tuple[list[str], requests.Response]:
    """Create tasks until Redis refuses one; the acknowledged ids and the refusal."""
    acked = []
    for i in range(MAX_FILL):
        body = {
            "name": f"fill{i}",
            "queue": "q",
            "create_queue": True,
            "params": PARAMS,
            "script": {"entry_point": "train.py"},
        }
        response = session.post(f"{api}/tasks", json=body, timeout=30)
        if response.status_code != 201:
            return acked, response
        acked.append(response.json()["id"])
    raise AssertionError(f"Redis took {MAX_FILL} tasks without running out of memory")


def _silent_claim(session: requests.Session, api: str) -> str:
    """A task claimed by a worker that then says nothing: only the reaper brings it back."""
    task = session.post(
        f"{api}/tasks",
        json={
            "name": "held",
            "queue": "held",
            "create_queue": True,
            "script": {"entry_point": "train.py"},
        },
        timeout=10,
    )
    body = {"name": "w", "queues": ["held"], "resources": {}}
    worker = session.post(f"{api}/workers", json=body, timeout=10).json()["id"]
    claim = {"queues": ["held"], "free": {}, "wait_s": 5}
    got = session.post(f"{api}/workers/{worker}/claim", json=claim, timeout=15).json()
    assert got["task"]["id"] == task.json()["id"]
    return str(got["task"]["id"])


def test_redis_out_of_memory_is_a_clear_503_and_leaves_every_record_whole(
    small_redis: EmbeddedRedis, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory("--redis-url", small_redis.url, "--lease", "2", "--first-lease", "2")
    api = server.api
    with sync_client(small_redis.url) as r, requests.Session() as session:
        used = int(r.info("memory")["used_memory"])
        r.config_set("maxmemory", used + 2 * 1024 * 1024)
        acked, refused = _fill(session, api)
        print(f"Redis full after {len(acked)} tasks; refusal: {refused.text}")
        assert refused.status_code == 503
        assert refused.json()["error"] == "store_full"
        assert "out of memory" in refused.json()["detail"]
        # Right at the limit a freed buffer lets the odd write through: hold it well over.
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) - 512 * 1024)
        again = session.post(f"{api}/tasks", json={"name": "more"}, timeout=10)
        assert again.status_code == 503 and again.json()["error"] == "store_full"
        log = {"seq": 0, "lines": [{"text": "hello", "ts": 0}]}
        full_log = session.post(f"{api}/tasks/{acked[0]}/logs", json=log, timeout=10)
        assert full_log.status_code == 503 and full_log.json()["error"] == "store_full"
        assert session.get(f"{api}/tasks/{acked[-1]}", timeout=10).status_code == 200
        queue = session.get(f"{api}/queues/q", params={"limit": MAX_FILL}, timeout=10).json()
        assert [entry["task_id"] for entry in queue["entries"]] == acked
        assert problems(r) == []
        assert r.zcard(keys.ALL_TASKS) == len(acked)
        time.sleep(3)  # the reaper ticks while Redis is full
        r.config_set("maxmemory", 0)
        assert session.post(f"{api}/tasks", json={"name": "after"}, timeout=10).status_code == 201
        held = _silent_claim(session, api)
        deadline = time.monotonic() + 30
        while r.hget(keys.task(held), "status") == "running":
            assert time.monotonic() < deadline, "the lease reaper did not survive the full Redis"
            time.sleep(0.2)
        assert problems(r) == []


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[str]:
    """Mount a 1 MiB tmpfs on ``folder``; yields "tmpfs", or "" where mounting is refused."""
    folder.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)]
    can_mount = os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0
    try:
        yield "tmpfs" if can_mount else ""
    finally:
        if can_mount:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fsize_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_artifact_disk_is_a_clear_507_with_no_partial_file(
    redis_factory: Callable[..., EmbeddedRedis],
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with _small_disk(data / "artifacts") as how:
        external = redis_factory()  # its AOF must not be under the file-size limit
        args = ["--redis-url", external.url, "--no-jobs"]
        server = ServerProcess(data, args, tmp_path / "server.log")
        if not how:
            how, server.preexec_fn = "RLIMIT_FSIZE", _fsize_limit(1024 * 1024)
        print(f"artifact disk limited by {how}")
        try:
            _check_full_upload(server.start(), data / "artifacts", external.url)
        finally:
            server.stop()


def _check_full_upload(server: ServerProcess, artifacts: Path, redis_url: str) -> None:
    api = server.api
    task_id = requests.post(f"{api}/tasks", json={"name": "a"}, timeout=10).json()["id"]
    small = os.urandom(100_000)
    url = f"{api}/tasks/{task_id}/artifacts/model"
    assert requests.post(url, data=small, timeout=30).status_code == 201
    refused = requests.post(url, data=os.urandom(3 * 1024 * 1024), timeout=60)
    print(f"oversize upload: {refused.status_code} {refused.text}")
    assert refused.status_code == 507
    assert refused.json()["error"] == "insufficient_storage"
    assert "full" in refused.json()["detail"]
    assert sorted(p.name for p in (artifacts / task_id).iterdir()) == ["model"]
    kept = requests.get(url, timeout=30)
    assert kept.content == small
    assert kept.headers["x-sha256"] == hashlib.sha256(small).hexdigest()
    listed = requests.get(f"{api}/tasks/{task_id}/artifacts", timeout=10).json()
    assert [(a["name"], a["size"]) for a in listed] == [("model", len(small))]
    other = requests.post(f"{api}/tasks/{task_id}/artifacts/notes", data=b"ok", timeout=30)
    assert other.status_code == 201
    with sync_client(redis_url) as r:
        assert problems(r) == []
