"""The consistency checker passes a store in every task state and names each kind of damage."""

import json
from collections.abc import Iterator

import pytest
import redis

from runyard.models import CloneRequest, LogBatch, LogLine, TaskStatus
from runyard_server import store
from runyard_server.history_files import LocalHistory
from runyard_server.jobs.archiver import Archiver
from runyard_server.store import keys
from tests.faults.consistency import archive_problems, problems
from tests.integration.store_support import PLENTY, T0, client, make_task, make_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def sync(redis_url: str) -> Iterator["redis.Redis[str]"]:
    r: redis.Redis[str] = redis.Redis.from_url(redis_url, decode_responses=True)
    yield r
    r.close()


async def _every_state(url: str) -> dict[str, str]:
    r = client(url)
    try:
        ids = {"draft": (await make_task(r, name="d", tags=["x"])).id}
        for name in ("a", "b", "c"):
            ids[name] = (await make_task(r, name=name, queue="q", priority=1)).id
        worker = await make_worker(r)
        claimed = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
        assert claimed is not None and claimed.task is not None and claimed.lease_token
        ids["running"] = claimed.task.id
        done = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
        assert done is not None and done.task is not None and done.lease_token
        await store.report_end(r, done.task.id, done.lease_token, TaskStatus.COMPLETED, 0, None, T0)
        ids["completed"] = done.task.id
        request = CloneRequest(queue="other", create_queue=True)
        clone = await store.clone_task(r, ids["draft"], request, T0)
        ids["clone"] = clone.id
        return ids
    finally:
        await r.aclose()


async def test_checker_passes_every_state_and_names_damage(
    redis_url: str, sync: "redis.Redis[str]"
) -> None:
    ids = await _every_state(redis_url)
    assert problems(sync, now=T0) == []
    sync.hdel(keys.task(ids["draft"]), "spec")
    sync.zrem(keys.queue("q"), ids["c"])
    sync.zadd(keys.queue("q"), {"ghost": 1})
    sync.zrem(keys.LEASES, ids["running"])
    sync.zadd(keys.status_index("failed"), {ids["clone"]: 1})
    sync.zadd(keys.FINISHED_INDEX, {ids["draft"]: 1})
    sync.append(f"{keys.NAMES_PREFIX}0", f"ghost\t{'e' * 32}\n")
    twice = [{"worker": "w9", "rank": 0, "gpu_indices": [3, 3], "gpu_fraction": 0.5},
             {"worker": "w9", "rank": 1, "gpu_indices": [3], "gpu_fraction": 1.0}]  # fmt: skip
    sync.hset(keys.task(ids["running"]), "placement", json.dumps(twice))
    found = "\n".join(problems(sync, now=T0))
    assert f"task {ids['draft']}: half-written hash" in found
    assert f"task {ids['c']}: queued but not in {keys.queue('q')}" in found
    assert f"{keys.queue('q')}: 1 member(s) that do not belong, e.g. ['ghost']" in found
    assert f"task {ids['running']}: running on" in found
    assert f"{keys.status_index('failed')}: 1 member(s)" in found
    assert f"{keys.FINISHED_INDEX}: 1 member(s)" in found
    assert f"task {ids['running']}: placement" in found and "does not name its worker" in found
    assert "worker w9 GPU 3: held 2 times over by running tasks" in found
    names = keys.names(0)
    assert f"{names}: records of missing tasks or a broken end, e.g. ['{'e' * 32}']" in found


async def _tasks(url: str, history: LocalHistory) -> dict[str, str]:
    """An archived task, a final one not archived yet, and a draft with output; and an
    archived task that had no output (archived with nothing in the store)."""
    r = client(url)
    try:
        ids = {}
        for name in ("archived", "final", "live"):
            task = await make_task(r, name=name)
            lines = [LogLine(text=f"{name} {i}", ts=T0) for i in range(3)]
            await store.append_logs(r, task.id, LogBatch(seq=0, lines=lines))
            ids[name] = task.id
        ids["empty"] = (await make_task(r, name="empty")).id
        for name in ("archived", "final", "empty"):
            await store.abort(r, ids[name], T0)
        for name in ("archived", "empty"):
            assert await Archiver(r, history).archive(ids[name]) == "ok"
        return ids
    finally:
        await r.aclose()


async def test_archive_checker_passes_a_whole_store_and_names_damage(
    redis_url: str, sync: "redis.Redis[str]", history: LocalHistory
) -> None:
    ids = await _tasks(redis_url, history)
    assert problems(sync) == [] and archive_problems(sync, history) == []

    sync.xadd(keys.task_logs(ids["archived"]), {"l": '{"text": "x", "ts": 0}'})
    sync.hset(keys.task(ids["archived"]), "log_lines", "2")
    (history.root / ".tmp-leftover").mkdir()
    (history.root / ids["final"]).mkdir()
    (history.root / ("0" * 32)).mkdir()
    sync.hset(keys.task(ids["live"]), "history", "archived")
    sync.hset(keys.task_final_metrics(ids["empty"]), "loss", "0.5")  # had output after all

    found = archive_problems(sync, history)
    expected = [
        f"task {ids['archived']}: history archived but Redis still has",
        f"task {ids['archived']}: archive has 3 lines, Redis says 2",
        f"task {ids['final']}: an archive, but history is unset",
        f"task {ids['live']}: history archived but Redis still has",
        f"task {ids['live']}: history archived but no archive",
        f"task {ids['empty']}: history archived but no archive",
        "history store: leftover .tmp-leftover",
        f"history store: archive of missing task {'0' * 32}",
    ]
    assert len(found) == len(expected), found
    assert all(any(p.startswith(e) for p in found) for e in expected), found


async def test_checker_flags_a_running_task_whose_lease_expired_long_ago(
    redis_url: str, sync: "redis.Redis[str]"
) -> None:
    ids = await _every_state(redis_url)  # the running task's lease ends at T0 + 15

    assert problems(sync, now=T0 + 20) == []
    assert problems(sync, now=T0 + 500, overdue_after_s=None) == []
    found = problems(sync, now=T0 + 500)
    assert found == [
        f"task {ids['running']}: running, its lease expired 485s ago and was never reaped"
    ]
    # By Redis's own clock, T0 (2023) is long past.
    assert any(ids["running"] in line for line in problems(sync))
