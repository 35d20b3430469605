"""kill -9 Redis with 10,000 queued tasks: after restart every queue is intact, in order.

Both fsync policies are tried. With ``always`` a killed redis-server loses nothing:
Redis write(2)s the AOF before it answers. With ``everysec`` it usually loses nothing
either, but while a background fsync is slow (a busy disk) Redis postpones the AOF
write for up to 2 s and still answers, so a kill -9 then loses those acknowledged
writes (seen in a loaded CI run); what survives is the oldest tasks, every queue in
order. A crash of the whole machine can lose the last second or two as well; see
docs/reliability.md.
"""

import time
import uuid
from collections.abc import Callable

import pytest
import requests

from runyard.models import TaskCreate
from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys, scripts
from runyard_server.store.tasks import queue_create
from tests.faults.consistency import problems
from tests.faults.support import sync_client
from tests.servers import ServerProcess

TASKS = 10_000
QUEUES = ("q0", "q1", "q2")
BATCH = 500


def _load(url: str) -> list[str]:
    """Create and enqueue TASKS tasks with the server's own script; the ids, acknowledged."""
    ids = []
    with sync_client(url) as r:
        sha = r.script_load(scripts.source("create"))
        now = time.time()
        for start in range(0, TASKS, BATCH):
            with r.pipeline(transaction=False) as pipe:
                for i in range(start, start + BATCH):
                    task_id = uuid.uuid4().hex
                    body = TaskCreate(
                        name=f"t{i}", queue=QUEUES[i % len(QUEUES)], priority=i % 4, tags=["bulk"]
                    )
                    queue_create(pipe, sha, task_id, body, now + i, i + 1)
                    ids.append(task_id)
                replies = pipe.execute()
            assert all(reply[0] == "ok" for reply in replies)
    return ids


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_redis_sigkill_with_10000_queued_tasks_keeps_every_queue_in_order(
    fsync: str,
    redis_factory: Callable[..., EmbeddedRedis],
    server_factory: Callable[..., ServerProcess],
) -> None:
    crashed = redis_factory(fsync=fsync)
    ids = _load(crashed.url)
    with sync_client(crashed.url) as r:
        before = {q: r.zrange(keys.queue(q), 0, -1) for q in QUEUES}
    assert sum(map(len, before.values())) == TASKS
    crashed.kill()  # right after the last acknowledged write: no time for an fsync

    restarted = redis_factory(data_dir=crashed.data_dir, fsync=fsync)
    with sync_client(restarted.url) as r:
        kept = set(r.zrange(keys.ALL_TASKS, 0, -1))
        after = {q: r.zrange(keys.queue(q), 0, -1) for q in QUEUES}
        assert problems(r) == []
    if fsync == "always":
        assert kept == set(ids)
    # Only the newest writes may be lost (everysec), and every queue keeps its order.
    assert ids[: len(kept)] == [task_id for task_id in ids if task_id in kept]
    before = {q: [task_id for task_id in before[q] if task_id in kept] for q in QUEUES}
    assert after == before
    server = server_factory("--redis-url", restarted.url, "--no-jobs")
    for q in QUEUES:
        page = requests.get(f"{server.api}/queues/{q}", params={"limit": TASKS}, timeout=60)
        assert [entry["task_id"] for entry in page.json()["entries"]] == before[q]
