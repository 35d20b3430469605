"""The Redis store and queue engine of the Runyard server.

Every function takes a ``redis.asyncio.Redis`` created with
``decode_responses=True`` (the store reads strings, not bytes), e.g.
``redis.asyncio.Redis.from_url(url, decode_responses=True)``, and, where time
matters, ``now`` as unix seconds so callers and tests control the clock.

Every change is atomic: a Lua script in ``lua/`` or ``WATCH``/``MULTI``. The
key schema is the docstring of ``store.keys``. Domain errors are those of
``runyard_server.errors`` (NotFound, Conflict, StaleLease, Invalid, TooLarge).
"""

from runyard_server.store.artifacts import get_artifact, list_artifacts, record_artifact
from runyard_server.store.claim import SCAN_PER_QUEUE, claim
from runyard_server.store.dispatch import Dispatcher, claim_wait, publish_work
from runyard_server.store.idempotency import Idempotency
from runyard_server.store.installed import record_installed
from runyard_server.store.leases import current_lease_token, reap_expired
from runyard_server.store.listing import list_tasks
from runyard_server.store.logs import (
    Batch,
    append_logs,
    check_task,
    log_text,
    read_logs,
    read_logs_before,
)
from runyard_server.store.metrics import append_metrics, read_metrics
from runyard_server.store.queue_settings import get_settings, read_settings
from runyard_server.store.queues import (
    create_queue,
    delete_queue,
    get_queue,
    list_queues,
    move,
    set_queue,
)
from runyard_server.store.short_ids import resolve_task_id
from runyard_server.store.tasks import (
    clone_task,
    create_task,
    create_tasks,
    delete_task,
    get_task,
    update_task,
)
from runyard_server.store.transitions import (
    abort,
    dequeue,
    enqueue,
    failure_reason,
    move_to_queue,
    ping,
    report_end,
    report_ends,
    report_started,
    requeue,
    start_local_run,
)
from runyard_server.store.workers import (
    ServedQueues,
    delete_worker,
    heartbeat,
    list_workers,
    register_worker,
    served_queues,
)

__all__ = [
    "SCAN_PER_QUEUE",
    "Batch",
    "Dispatcher",
    "Idempotency",
    "ServedQueues",
    "abort",
    "append_logs",
    "append_metrics",
    "check_task",
    "claim",
    "claim_wait",
    "clone_task",
    "create_queue",
    "create_task",
    "create_tasks",
    "current_lease_token",
    "delete_queue",
    "delete_task",
    "delete_worker",
    "dequeue",
    "enqueue",
    "failure_reason",
    "get_artifact",
    "get_queue",
    "get_settings",
    "get_task",
    "heartbeat",
    "list_artifacts",
    "list_queues",
    "list_tasks",
    "list_workers",
    "log_text",
    "move",
    "move_to_queue",
    "ping",
    "publish_work",
    "read_logs",
    "read_logs_before",
    "read_metrics",
    "read_settings",
    "reap_expired",
    "record_artifact",
    "record_installed",
    "register_worker",
    "report_end",
    "report_ends",
    "report_started",
    "requeue",
    "resolve_task_id",
    "served_queues",
    "set_queue",
    "start_local_run",
    "update_task",
]
