"""A consistency checker over Runyard's Redis keys (the schema is ``store/keys.py``).

``problems(client)`` reads every task hash, queue, index, lease and worker set and
returns one line per broken invariant; an empty list means the store is whole. Any
test that crashes something can end with ``assert problems(r) == []``.

The invariants, for each task hash ``ry:task:{id}``:

* every field the server always writes is there and ``task_from_hash`` parses it;
* its ``status`` index holds it (scored by ``num``) and no other status index does;
* ``ry:idx:all``, its project, tag and parent indexes hold it, scored by ``num``;
* ``queued`` ⇔ it waits in exactly one ``ry:queue:{q}`` (and ``:since``), the queue
  named by its ``queue`` field, which ``ry:queues`` lists;
* a task with a ``queue`` field is in ``ry:idx:queue:{q}``;
* a running task holds a lease; with a worker, it is in that worker's running set and
  in its queue's ``ry:queue:{q}:running`` scored by its ``gpus``; no other task holds
  a lease or sits in a running set;
* the listing indexes: ``ry:idx:started``/``finished`` hold it scored by that field
  exactly when it has one, ``ry:idx:name`` holds its sort member, its ``ry:names:{n}``
  string holds one record of its folded name, and every ``ry:idx:metric:*`` member exists;
* a gang (``ry:task:{id}:gang``) belongs to a queued task (forming, listed in
  ``ry:gangs``) or a running one (formed, as big as its ``gang_workers``, each rank's
  worker's running set may hold it); no other task has one;

and, the other way round, no index, queue, lease or running set names a task that
does not exist. ``num`` values are unique and at most ``ry:seq:task``.

And one over time: no lease expired longer ago (by Redis's clock) than the reaper's
interval plus a margin, or the reaper is not running: the tasks of dead agents
would stay ``running`` for good. A test with no reaper on purpose passes
``overdue_after_s=None``.
"""

import json
from collections import defaultdict

import redis

from runyard_server.history_files import LocalHistory
from runyard_server.store import keys
from runyard_server.store.names import fold
from runyard_server.store.records import task_from_hash

REQUIRED = (
    "spec", "project", "name", "tags", "gpus", "cpus", "mem", "max_retries",
    "parent", "created", "num", "status", "attempt",
)  # fmt: skip
STATUSES = ("draft", "queued", "running", "completed", "failed", "aborted")
# The reaper's default interval (1 s) plus room for a loaded machine and a slow tick.
OVERDUE_AFTER_S = 10.0


class Snapshot:
    """Everything the checker reads, loaded once (pipelined) from a sync client."""

    def __init__(self, r: "redis.Redis[str]") -> None:
        self.tasks = _task_hashes(r)
        self.sorted_sets = _sorted_sets(r, keys.INDEX_PREFIX, keys.QUEUE_PREFIX)
        self.sorted_sets[keys.LEASES] = dict(r.zrange(keys.LEASES, 0, -1, withscores=True))
        self.queues = set(r.smembers(keys.QUEUES))
        self.running_sets = {
            key: set(r.smembers(key))
            for key in r.scan_iter(match=f"{keys.WORKER_PREFIX}*:running", count=1000)
        }
        self.task_seq = int(r.get(keys.TASK_SEQ) or 0)
        self.gangs = {
            key.removeprefix(keys.TASK_PREFIX).removesuffix(":gang"): r.hgetall(key)
            for key in r.scan_iter(match=f"{keys.TASK_PREFIX}*:gang", count=1000)
        }
        self.sorted_sets[keys.GANGS] = dict(r.zrange(keys.GANGS, 0, -1, withscores=True))
        self.names = {
            key: r.get(key) or "" for key in r.scan_iter(match=f"{keys.NAMES_PREFIX}*", count=1000)
        }
        self.quota_running = set(r.zrange(keys.QUOTA_RUNNING, 0, -1))
        self.queue_owners = {
            key: r.hgetall(key)
            for key in r.scan_iter(match=f"{keys.QUEUE_PREFIX}*:owners", count=1000)
        }


def _task_hashes(r: "redis.Redis[str]") -> dict[str, dict[str, str]]:
    ids = [
        key.removeprefix(keys.TASK_PREFIX)
        for key in r.scan_iter(match=f"{keys.TASK_PREFIX}*", count=1000)
        if ":" not in key.removeprefix(keys.TASK_PREFIX)
    ]
    with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hgetall(keys.task(task_id))
        return dict(zip(ids, pipe.execute(), strict=True))


def _sorted_sets(r: "redis.Redis[str]", *prefixes: str) -> dict[str, dict[str, float]]:
    names = [
        key
        for prefix in prefixes
        for key in r.scan_iter(match=f"{prefix}*", count=1000)
        if not key.endswith((":settings", ":owners"))  # a queue's settings and owners: hashes
    ]
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zrange(name, 0, -1, withscores=True)
        return {name: dict(rows) for name, rows in zip(names, pipe.execute(), strict=True)}


def problems(
    r: "redis.Redis[str]",
    *,
    now: float | None = None,
    overdue_after_s: float | None = OVERDUE_AFTER_S,
) -> list[str]:
    """Every broken invariant of the store behind ``r`` (a ``decode_responses`` client).

    ``now`` replaces Redis's clock for the overdue-lease check (tests that own the
    clock); ``overdue_after_s=None`` skips it.
    """
    snap = Snapshot(r)
    found: list[str] = []
    expected: dict[str, set[str]] = defaultdict(set)  # sorted set or running set -> ids
    nums: dict[int, str] = {}
    for task_id, h in snap.tasks.items():
        found += _check_task(task_id, h, snap, expected, nums)
        if "num" in h and "name" in h:
            found += _check_listing(task_id, h, snap, expected)
    found += _check_names(snap)
    found += _check_gpu_shares(snap)
    found += _check_reverse(snap, expected)
    found += _check_quota_usage(snap)
    found += [f"gang of task {i} that does not exist" for i in snap.gangs if i not in snap.tasks]
    if overdue_after_s is not None:
        found += overdue_leases(r, now=now, overdue_after_s=overdue_after_s)
    return found


def overdue_leases(
    r: "redis.Redis[str]", *, now: float | None = None, overdue_after_s: float = OVERDUE_AFTER_S
) -> list[str]:
    """Running tasks whose lease expired more than ``overdue_after_s`` before ``now``
    (default: Redis's clock): the reaper is not doing its job. Safe to call while the
    store is busy (each task's status is read after its lease)."""
    if now is None:
        seconds, micros = r.time()
        now = seconds + micros / 1e6
    leases = r.zrangebyscore(keys.LEASES, "-inf", now - overdue_after_s, withscores=True)
    found = []
    for task_id, expiry in leases:
        if r.hget(keys.task(task_id), "status") == "running":
            late = now - expiry
            found.append(
                f"task {task_id}: running, its lease expired {late:.0f}s ago and was never reaped"
            )
    return found


def _check_listing(
    task_id: str, h: dict[str, str], snap: Snapshot, expected: dict[str, set[str]]
) -> list[str]:
    found = []
    for field, index in (("started", keys.STARTED_INDEX), ("finished", keys.FINISHED_INDEX)):
        if field in h:
            expected[index].add(task_id)
            if snap.sorted_sets.get(index, {}).get(task_id) != float(h[field]):
                found.append(f"task {task_id}: not in {index} with score {h[field]}")
    member = h["name"].encode().lower().replace(b"\0", b"\1") + b"\0" + task_id.encode()
    expected[keys.NAME_INDEX].add(member.decode())
    if member.decode() not in snap.sorted_sets.get(keys.NAME_INDEX, {}):
        found.append(f"task {task_id}: its name is not in {keys.NAME_INDEX}")
    text = snap.names.get(f"{keys.NAMES_PREFIX}{int(h['num']) // keys.NAMES_PER_KEY}", "")
    if text.count(f"\t{task_id}\n") != 1 or f"{fold(h['name'])}\t{task_id}\n" not in text:
        found.append(f"task {task_id}: not once in its {keys.NAMES_PREFIX}* string")
    if h.get("owner"):
        owned = keys.owner_index(h["owner"])
        expected[owned].add(task_id)
        if task_id not in snap.sorted_sets.get(owned, {}):
            found.append(f"task {task_id}: not in {owned}")
    metric_prefixes = keys.metric_indexes("")
    for name in snap.sorted_sets:
        if name.startswith(metric_prefixes):
            expected[name].add(task_id)
    return found


def _check_names(snap: Snapshot) -> list[str]:
    """Records of the name search strings whose task is gone."""
    found = []
    for key, text in sorted(snap.names.items()):
        ids = [record.rpartition("\t")[2] for record in text.split("\n")[:-1]]
        strays = [task_id for task_id in ids if task_id not in snap.tasks]
        if strays or not text.endswith("\n"):
            found.append(f"{key}: records of missing tasks or a broken end, e.g. {strays[:3]}")
    return found


def _check_task(
    task_id: str,
    h: dict[str, str],
    snap: Snapshot,
    expected: dict[str, set[str]],
    nums: dict[int, str],
) -> list[str]:
    missing = [field for field in REQUIRED if field not in h]
    if missing:
        return [f"task {task_id}: half-written hash, missing {missing}"]
    try:
        task_from_hash(task_id, h)
    except (ValueError, KeyError, TypeError) as exc:
        return [f"task {task_id}: hash does not parse: {exc}"]
    found: list[str] = []
    num = int(h["num"])
    if num in nums or not 0 < num <= snap.task_seq:
        found.append(f"task {task_id}: num {num} repeated or beyond ry:seq:task {snap.task_seq}")
    nums[num] = task_id
    status, queue = h["status"], h.get("queue")
    if status not in STATUSES:
        return [*found, f"task {task_id}: unknown status {status!r}"]
    indexes = [keys.ALL_TASKS, keys.status_index(status), keys.project_index(h["project"])]
    indexes += [keys.tag_index(tag) for tag in json.loads(h["tags"])]
    if h["parent"]:
        indexes.append(keys.parent_index(h["parent"]))
    if queue:
        indexes.append(keys.queue_index(queue))
    for index in indexes:
        expected[index].add(task_id)
        if snap.sorted_sets.get(index, {}).get(task_id) != num:
            found.append(f"task {task_id}: not in {index} with score {num}")
    if status == "queued":
        found += _check_queued(task_id, h, snap, expected)
    if status == "running":
        # A local run (no worker) holds a lease too: its pings extend it.
        expected[keys.LEASES].add(task_id)
        if task_id not in snap.sorted_sets[keys.LEASES]:
            found.append(f"task {task_id}: running on {h.get('worker')} without a lease")
    if status == "running" and h.get("worker"):
        running = keys.worker_running(h["worker"])
        expected[running].add(task_id)
        if task_id not in snap.running_sets.get(running, set()):
            found.append(f"task {task_id}: not in {running}")
        if h.get("queue"):
            held = keys.queue_running(h["queue"])
            expected[held].add(task_id)
            if snap.sorted_sets.get(held, {}).get(task_id) != float(h["gpus"]) * int(
                h.get("nodes", "1")
            ):
                found.append(f"task {task_id}: not in {held} with its gpus {h['gpus']}")
    return found + _check_gang(task_id, h, snap, expected)


def _check_gpu_shares(snap: Snapshot) -> list[str]:
    """No GPU of a worker is held beyond whole by its running tasks' placements (a whole
    task and a share, or shares over 1), and a placement names the task's worker."""
    held: dict[tuple[str, int], float] = defaultdict(float)
    found: list[str] = []
    for task_id, h in snap.tasks.items():
        if h.get("status") != "running" or "placement" not in h:
            continue
        ranks = json.loads(h["placement"])
        if h.get("worker") not in {rank["worker"] for rank in ranks}:
            found.append(f"task {task_id}: placement {ranks} does not name its worker")
        for rank in ranks:
            for index in rank["gpu_indices"]:
                held[rank["worker"], index] += rank["gpu_fraction"]
    found += [
        f"worker {worker} GPU {index}: held {share:g} times over by running tasks"
        for (worker, index), share in held.items()
        if share > 1
    ]
    return found


def _check_gang(
    task_id: str, h: dict[str, str], snap: Snapshot, expected: dict[str, set[str]]
) -> list[str]:
    gang, status = snap.gangs.get(task_id), h["status"]
    if gang is None:
        return (
            [f"task {task_id}: running with gang_workers but no gang"]
            if (status == "running" and h.get("gang_workers"))
            else []
        )
    if status == "queued" and "formed" not in gang:
        expected[keys.GANGS].add(task_id)
        return (
            [] if task_id in snap.sorted_sets[keys.GANGS] else [f"task {task_id}: not in ry:gangs"]
        )
    workers = h.get("gang_workers", "").split()
    if status != "running" or "formed" not in gang or len(workers) != int(gang["size"]):
        return [f"task {task_id}: {status} with a gang {gang}"]
    for worker in workers:  # a rank is in its worker's set once its claim saw the gang
        expected[keys.worker_running(worker)].add(task_id)
    return []


def _check_queued(
    task_id: str, h: dict[str, str], snap: Snapshot, expected: dict[str, set[str]]
) -> list[str]:
    queue = h.get("queue")
    if not queue or "enqueued" not in h or "priority" not in h:
        return [f"task {task_id}: queued without queue/enqueued/priority"]
    found = []
    for key in (keys.queue(queue), keys.queue_since(queue)):
        expected[key].add(task_id)
        if task_id not in snap.sorted_sets.get(key, {}):
            found.append(f"task {task_id}: queued but not in {key}")
    if queue not in snap.queues:
        found.append(f"task {task_id}: its queue {queue} is not in {keys.QUEUES}")
    return found


def _quota_member(kind: str, name: str, task_id: str, h: dict[str, str]) -> str:
    gpus = float(h.get("gpus") or 0) * int(h.get("nodes") or 1)
    return f"{kind}:{len(name.encode())}:{name}:{task_id}:{gpus:g}"


def _check_quota_usage(snap: Snapshot) -> list[str]:
    """``ry:quota-running`` holds exactly the running (claimed) tasks' owner and project
    members, and each queue's owners hash counts exactly its waiting tasks' owners."""
    found = []
    want: set[str] = set()
    waiting: dict[str, dict[str, str]] = defaultdict(dict)
    for task_id, h in snap.tasks.items():
        if h.get("status") == "running" and h.get("worker"):
            want.add(_quota_member("u", h.get("owner", ""), task_id, h))
            want.add(_quota_member("p", h.get("project", ""), task_id, h))
        if h.get("status") == "queued" and h.get("queue"):
            counts = waiting[keys.queue_owners(h["queue"])]
            owner = h.get("owner", "")
            counts[owner] = str(int(counts.get(owner, "0")) + 1)
    if snap.quota_running != want:
        extra, missing = sorted(snap.quota_running - want), sorted(want - snap.quota_running)
        found.append(f"{keys.QUOTA_RUNNING}: extra {extra[:3]}, missing {missing[:3]}")
    for name in set(waiting) | set(snap.queue_owners):
        if snap.queue_owners.get(name, {}) != waiting.get(name, {}):
            found.append(f"{name}: {snap.queue_owners.get(name)} but waiting {waiting.get(name)}")
    return found


def _check_reverse(snap: Snapshot, expected: dict[str, set[str]]) -> list[str]:
    """Members of indexes, queues, leases and running sets that should not be there."""
    found = []
    sets: dict[str, set[str]] = {name: set(rows) for name, rows in snap.sorted_sets.items()}
    sets.update(snap.running_sets)
    for name, members in sorted(sets.items()):
        strays = members - expected.get(name, set())
        if strays:
            sample = sorted(strays)[:3]
            found.append(f"{name}: {len(strays)} member(s) that do not belong, e.g. {sample}")
    return found


def archive_problems(r: "redis.Redis[str]", history: LocalHistory) -> list[str]:
    """Every broken invariant between Redis and the history store (issue 10).

    A task marked ``history=archived`` has a whole archive (its index parses, its
    frames fill ``logs.zst`` exactly, its line count is the one Redis recorded), or none
    when it had no output at all (no chunk, no metric: no final value either), and no
    console or metric keys left in Redis; one marked ``dropped`` has neither; one not
    marked has no archive (a finished archiver marks what it wrote). No archive
    belongs to a task that does not exist, and no temporary folder is left behind:
    nothing is half-archived or half-deleted.
    """
    found: list[str] = []
    tasks = _task_hashes(r)
    archives = set(history.task_ids())
    for task_id, h in tasks.items():
        mark = h.get("history")
        leftovers = [
            key
            for key in (keys.task_logs(task_id), keys.task_metrics(task_id))
            if mark and r.exists(key)
        ]
        if leftovers:
            found.append(f"task {task_id}: history {mark} but Redis still has {leftovers}")
        if mark == "archived":
            found += _check_archive(r, task_id, h, history)
        elif task_id in archives:
            found.append(f"task {task_id}: an archive, but history is {mark or 'unset'}")
    found += [f"history store: archive of missing task {t}" for t in sorted(archives - set(tasks))]
    if history.root.exists():
        leftovers = sorted(e.name for e in history.root.iterdir() if e.name.startswith("."))
        found += [f"history store: leftover {name}" for name in leftovers]
    return found


def _check_archive(
    r: "redis.Redis[str]", task_id: str, h: dict[str, str], history: LocalHistory
) -> list[str]:
    try:
        index = history.index(task_id)
    except ValueError as exc:
        return [f"task {task_id}: archive index does not parse: {exc}"]
    if index is None:
        if h.get("log_chunks") == "0" and not r.exists(keys.task_final_metrics(task_id)):
            return []  # nothing to archive: marked without an archive (jobs/archiver.py)
        return [f"task {task_id}: history archived but no archive"]
    found = []
    size = (history.root / task_id / "logs.zst").stat().st_size
    if size != sum(frame.size for frame in index.frames):
        found.append(f"task {task_id}: logs.zst is {size} bytes, its index says otherwise")
    if sum(frame.lines for frame in index.frames) != index.lines or str(index.lines) != h.get(
        "log_lines"
    ):
        found.append(
            f"task {task_id}: archive has {index.lines} lines, Redis says {h.get('log_lines')}"
        )
    return found
