"""The keys each Lua script is given, by label (``keys.py``'s docstring says why).

A script receives a ``Declared`` (label → key): the keys in ``KEYS``, the labels in
ARGV[1]. Labels are the script's vocabulary (``task:{id}``, ``queue:{name}``,
``events``); the key names behind them come from ``keys.py`` only. Declaring a key a
script ends up not touching costs nothing, so the builders below declare what any
branch of a script may need.
"""

from runyard.models import TaskStatus
from runyard_server.store import keys

Declared = dict[str, str]
"""label → key, in the order the keys go into ``KEYS``."""

SINGLETONS: Declared = {
    "events": keys.EVENTS,
    "queues": keys.QUEUES,
    "leases": keys.LEASES,
    "stats": keys.STATS,
    "task_seq": keys.TASK_SEQ,
    "queue_seq": keys.QUEUE_SEQ,
    "task_ids": keys.TASK_IDS,
    "all_idx": keys.ALL_TASKS,
    "started_idx": keys.STARTED_INDEX,
    "finished_idx": keys.FINISHED_INDEX,
    "name_idx": keys.NAME_INDEX,
    "metric_series": keys.METRIC_SERIES,
    "gangs": keys.GANGS,
    "quotas": keys.QUOTAS,
    "quota_running": keys.QUOTA_RUNNING,
}
"""The schema's one-of-a-kind keys; small enough to declare to every script."""

STATUS_INDEXES: Declared = {f"status_idx:{s}": keys.status_index(s) for s in TaskStatus}


def task(task_id: str) -> Declared:
    """The task's hash."""
    return {f"task:{task_id}": keys.task(task_id)}


def idempotency(key: str) -> Declared:
    """The record of a create sent with this ``Idempotency-Key``."""
    return {"idem": keys.idempotency(key)}


def task_output(task_id: str) -> Declared:
    """The task's hash and what it logged: console, batch seqs, metric points and finals."""
    return {
        **task(task_id),
        f"logs:{task_id}": keys.task_logs(task_id),
        f"logseq:{task_id}": keys.task_log_seqs(task_id),
        f"metrics:{task_id}": keys.task_metrics(task_id),
        f"final:{task_id}": keys.task_final_metrics(task_id),
        f"gang:{task_id}": keys.task_gang(task_id),
    }


def queue(name: str) -> Declared:
    """The queue's claim order, its enqueue times, the index of tasks last on it, its
    settings, its running tasks and its waiting owners."""
    return {
        f"queue:{name}": keys.queue(name),
        f"since:{name}": keys.queue_since(name),
        f"queue_idx:{name}": keys.queue_index(name),
        f"queue_settings:{name}": keys.queue_settings(name),
        f"queue_running:{name}": keys.queue_running(name),
        f"queue_owners:{name}": keys.queue_owners(name),
    }


def worker(worker_id: str) -> Declared:
    """The worker's hash and the set of tasks it holds."""
    return {
        f"worker:{worker_id}": keys.worker(worker_id),
        f"running:{worker_id}": keys.worker_running(worker_id),
    }


def names_for(num: int) -> Declared:
    """The name strings a task numbered ``num`` is written to: its own and, as a new
    one starts there, the one before (compacted when it fills)."""
    n = num // keys.NAMES_PER_KEY
    return {f"names:{i}": keys.names(i) for i in range(max(0, n - 1), n + 1)}


def names_upto(top: int) -> Declared:
    """Every name string of tasks numbered up to ``top`` (a name search scans them)."""
    return {f"names:{i}": keys.names(i) for i in range(top // keys.NAMES_PER_KEY + 1)}


def metric_indexes(series: list[str]) -> Declared:
    """The sort indexes of these metric series: last value, min and max."""
    declared: Declared = {}
    for s in series:
        declared[f"metric_idx:{s}"] = keys.metric_index(s)
        declared[f"metric_min:{s}"] = keys.metric_min_index(s)
        declared[f"metric_max:{s}"] = keys.metric_max_index(s)
    return declared


def transition(
    task_ids: list[str],
    queues: list[str | None],
    workers: list[str | None],
    *,
    gangs: bool = True,
) -> Declared:
    """What a status change of these tasks may touch: their hashes and (unless not
    ``gangs``) gangs, every status index, the singletons, and the keys of the queues and
    workers named (None: no such)."""
    declared = {**SINGLETONS, **STATUS_INDEXES}
    for task_id in task_ids:
        declared |= task(task_id)
        if gangs:
            declared[f"gang:{task_id}"] = keys.task_gang(task_id)
    for name in queues:
        if name is not None:
            declared |= queue(name)
    for worker_id in workers:
        if worker_id is not None:
            declared |= worker(worker_id)
    return declared
