"""Every Redis key Runyard uses; this docstring is the key schema.

All keys start with ``{ry}:`` (written ``ry:`` below). Times are unix seconds as
decimal strings.

One hash tag for the whole schema. ``{ry}`` is a Redis Cluster hash tag: every key
hashes to the same slot, so every Lua script and ``MULTI`` may touch any of them on a
Redis Cluster or a managed Redis that checks slots. The scripts touch global indexes
(``ry:idx:*``, ``ry:queues``, ``ry:leases``, ``ry:events``) together with task keys, so
no finer tag would keep each script in one slot. This buys Cluster and managed-Redis
compatibility and failover, not sharding: one master holds all of Runyard's data
(spreading queues over shards would need a tag per queue, with its own events stream
and indexes, and scripts that never touch two queues' keys). The ``ry:wake`` channel
is classic pub/sub, which a cluster broadcasts to every node. A store written before
the tag (keys ``ry:...``) is renamed at server start (``migrate.py``).

``ry:task:{id}`` — hash, one task:
    spec            JSON of the editable spec without the fields below
                    (comment, script, environment; tasks stored by 0.1 have params too)
    params          JSON of the params (a sort by a parameter reads only these)
    project, name   plain strings (indexed / filtered on)
    tags            JSON list of tags
    gpus, cpus, mem, max_retries
                    plain numbers, so Lua compares them without parsing JSON (gpus
                    may be a share: 0.5, 0.25, 0.125)
    gpu_mem, gpu_model, gpu_pat, gpu_link
                    the typed GPU request: memory per GPU (at least), the model glob
                    as given ("" for any) and as an anchored lowered Lua pattern (what
                    the claim matches, ``gpu_placement.py``), "nvlink"; each absent
                    when it asks for nothing (and on tasks stored before them)
    parent, created, num
                    immutable: parent id ("" for none), creation time, the
                    creation sequence number (the score in every ``ry:idx:*``)
    status          draft | queued | running | completed | failed | aborted
    queue, priority, enqueued
                    the queue the task is or was last on, its priority, and when
                    it was last put on it
    worker, attempt, token
                    the worker holding it, claims so far, current lease token
    placement       JSON list of ``Placement`` (worker, rank, GPU indices, share) the
                    claim chose for the current (or last) attempt
    started, finished, exit_code, failure_reason, abort_requested ("1" or absent)
    state_detail    what the holding agent says of the running attempt (``pending in
                    Slurm: Resources (job 42)``), set or cleared by each heartbeat
                    (``lua/heartbeat.lua``, lease token checked); gone when it stops running
    logs_dropped    console lines the senders dropped past their spool quota (absent: 0)
    preempt_by, preempt_token, preempt_at
                    a pending preemption (``lua/preempt.lua``): the preemptor's id, the
                    lease token of the attempt told to stop (a later attempt, with
                    another token, ignores a mark left over) and when it was marked
    preempted, preempted_by, preempted_at, preempted_before
                    preemptions so far, the last preemptor, when the last one and the
                    one before it happened (the loop guard reads both)
    owner           the user (or agent pool) that created it (absent on an open server)
    origin          KIND:ID:SLOT of the sweep, pipeline, schedule or trigger that made it
                    (absent for a task a person made), set by ``lua/create.lua``
    installed       JSON list of what the agent of the last attempt installed (read
                    back as ``environment.installed``; absent until it reports)
    history         "archived" once its console and metric points are in the history
                    store (and gone from Redis), "dropped" once retention removed them
    log_lines, log_chunks
                    how many lines and chunks the archive holds (set with history)
``ry:task:{id}:logs`` — stream, one entry (a chunk) per stored log batch: fields
    ``n`` (its line count) and ``c`` (its lines, encoded as ``log_chunks.py``
    says). An entry of 0.1 has one field ``l``, one LogLine JSON; reads take both.
``ry:task:{id}:logseq`` — set of ``"{lease token}:{seq}"`` (``"user:{seq}"`` without
    a token) log batches already stored.
``ry:task:{id}:metrics`` — list of metric points in logging order, each the JSON
    ``[series, step, value, ts]``.
``ry:task:{id}:final`` — hash series → last value logged (``repr`` of the float).
``ry:task:{id}:artifacts`` — hash artifact name → JSON ``{size, sha256, created}``;
    the files themselves are under the server's artifact directory.

``ry:task:{id}:gang`` — hash, the gang of a multi-node task (``resources.nodes`` > 1,
    ``lua/gang.lua``), from the first claim that joins it until it is released:
    size            the ranks it needs
    deadline        when a gang still forming is released (absent once formed)
    joined          members so far; member i is rank i once formed
    w:{i}, k:{i}, a:{i}
                    member i's worker, lease token and ``host:port`` offer
    p:{i}           member i's GPUs on its worker: "indices share" (``0,1 1``)
    m:{worker}, r:{token}
                    the member index of a worker, the rank of a lease token
    formed          "1" once all joined (the task runs)
    x:{i}           rank i's lease expiry while it runs (the task's ``ry:leases``
                    score is the earliest of them)
    e:{i}           how rank i ended
    stop            "1" once a rank failed or was aborted: the others are told to stop
    status, exit_code, failure_reason
                    the first rank end that was not a completion (the task's end)
    The task hash also holds ``nodes``, ``placement`` (JSON list of each rank's worker and GPUs)
    and ``gang_workers`` (the ranks' workers, space-separated, for planners).
``ry:gangs`` — sorted set of the ids of gangs still forming, scored by their task's
    place in its queue (lower first): a claim joins the oldest forming gang it fits.

``ry:lock:archive:{id}`` — string, held (with a TTL the holder keeps extending) while
    one archiver writes that task's archive, so two jobs processes never write one task.

``ry:lock:{kind}:{id}`` — string, held while one controller acts for that sweep or
    pipeline (``jobs/controllers.py``), so two jobs processes never act for one object.

``ry:pipeline:{id}`` — string, JSON of a ``Pipeline`` (a definition; never changed).
``ry:pipelines`` — sorted set of pipeline ids scored by creation time.
``ry:prun:{id}`` — hash, one pipeline run (``store/pipelines.py``): ``run`` (JSON of
    the run without its steps), ``status`` (running | completed | failed | aborted),
    ``reason``, ``finished`` and ``s:{step}`` (JSON of each ``StepState``). Changed
    only under ``WATCH``/``MULTI``.
``ry:prun:{id}:spec`` — string, JSON of the ``PipelineSpec`` the run runs (never changed).
``ry:pruns`` — sorted set of run ids by creation time; ``ry:pruns:of:{pipeline}`` the
    same for one pipeline's runs.
``ry:pruns:active`` — set of the runs with a step not final yet: the controller's tick
    reconciles each (``jobs/pipelines.py``), so a lost event delays a step, never loses it.
``ry:pcache`` — hash, step cache key (``store/pipeline_cache.py``) → the id of the
    completed task whose results a step with that key reuses.

``ry:idem:{key}`` — hash, one ``Idempotency-Key`` a create or clone was sent with:
    ``task`` (the id that request made) and ``request`` (the sha256 of its method, route
    and body, ``api/idempotency.py``). Written by ``lua/create.lua`` with the task it
    records, expires 24 h later (``store/idempotency.py``).

``ry:sweep:{id}`` — hash, one sweep (``store/sweeps.py``): ``spec`` (JSON of its
    ``SweepCreate``), ``name``, ``project``, ``owner`` ("" for none), ``status``
    (running | stopped | done | failed), ``reason``, ``created``, ``finished``,
    ``clock`` (when its ``max_time_s`` started counting: creation or the last resume),
    ``next`` (trials asked so far: the next trial's number), ``rev`` (bumped by every
    change of its trials: a controller's cached Optuna study is current while it has
    seen this ``rev``), the counts ``n:{trial status}`` and ``best`` (the best
    completed trial's number).
``ry:sweep:{id}:trials`` — hash, trial number → JSON of its record (``SweepTrial``
    plus ``curve``, its objective by step once it ended; ``attrs``, the sampler's
    system attributes, so a rebuilt study samples as the first one did; ``prune``, the
    reason once the pruner stopped it, before its task has ended).
``ry:sweep:{id}:live`` — set of the numbers of its trials that are queued or running.
``ry:sweep:{id}:log`` — list of JSON ``SweepEvent``s, oldest first, the last 10,000.
``ry:sweeps`` — sorted set of sweep ids scored by creation time.
``ry:sweeps:running`` — set of the ids of running sweeps (the controller's tick
    walks them).

``ry:seq:task`` — counter for ``num``. ``ry:seq:queue`` — counter for queue FIFO order.

``ry:idx:all``, ``ry:idx:status:{status}``, ``ry:idx:project:{project}``,
``ry:idx:tag:{tag}``, ``ry:idx:parent:{id}``, ``ry:idx:queue:{queue}`` — sorted sets
of task ids scored by ``num`` (newest = highest); ``list_tasks`` walks them.
``ry:ids`` — sorted set of every task id at score 0, so a short id prefix is found by
    its lex range (``ZRANGEBYLEX``). A task recorded before it existed (0.1) joins it,
    and the sort and search indexes below, at the next server start (``backfill.py``).

Sort and search indexes (``lua/list.lua`` reads them; each is changed by the
same script or MULTI that changes what it indexes, and they hold only what a final
task keeps in Redis, so archiving a task's series leaves them whole):
``ry:idx:started``, ``ry:idx:finished`` — task ids scored by that time; a task
    without the time is absent (a re-claimed task leaves ``started``).
``ry:idx:metric:{series}`` — task ids scored by the series' last value (``final``).
``ry:idx:metric_min:{series}``, ``ry:idx:metric_max:{series}`` — task ids scored by
    the smallest / largest value the series took (``ZADD LT`` / ``GT`` as points come,
    so no other copy of them is kept). Kept since these sorts exist: points logged
    before are not read back (they may be archived), so a task that logged all its
    points before has no min/max and sorts with the tasks without the series.
``ry:metric-series`` — set of every series name that has a ``ry:idx:metric:*`` key
    (a deleted task is removed from each, and from the min/max indexes of each).
``ry:idx:name`` — sorted set, every score 0, members ``{sort name}\0{id}`` in byte
    order: the sort name is the name with A-Z lowered and NUL bytes as \1.
``ry:names:{n}`` — string, the search copy of the names of tasks whose ``num // 2048``
    is ``n``: one ``{folded name}\t{id}\n`` record per task, where the folded name is
    ``str.casefold`` with control characters as spaces (``names.fold``); a name search
    scans these few strings instead of 100,000 hashes.

``ry:queues`` — set of queue names.
``ry:queue:{name}`` — sorted set of waiting task ids in claim order. Score
    ``-priority * 1e12 + seq`` (higher priority first, then FIFO); a task put back
    at the head of its priority gets ``-priority * 1e12 - seq``. Integers stay
    below 2**53, so the scores are exact doubles.
``ry:queue:{name}:since`` — the same ids scored by ``enqueued`` (oldest wait).
``ry:queue:{name}:settings`` — hash, what an operator set (``PATCH /queues/{name}``;
    ``queue_settings.py``): ``max_running`` (integer), ``max_gpus`` (number),
    ``preemptible`` ("1" or absent), ``allowed_projects`` and ``allowed_users``
    (comma-joined names; absent: anyone). An absent field is no limit. Deleted with
    the queue.
``ry:queue:{name}:running`` — sorted set of the ids of the queue's running tasks scored
    by the GPUs each holds (``gpus``, a share as its share): its size and score sum are
    what the claim checks ``max_running`` and ``max_gpus`` against. The claim adds a
    task, ``release`` (``lua/common.lua``: end, requeue, reap, abort of a local run)
    removes it; a set, not counters, so a repeated add or remove cannot drift.
``ry:queue:{name}:owners`` — hash, owner → how many of the queue's waiting tasks are
    theirs ("" for tasks without an owner); ``push`` and ``pull`` (``lua/common.lua``)
    change it as they change the queue, and the claim shares among owners when it holds
    more than one (fair share, ``quotas.py``). Counted afresh at server start when its
    counts do not add up to the queue's depth (a store written before it).

``ry:leases`` — sorted set of running task ids scored by lease expiry.

``ry:workers`` — set of worker ids.
``ry:worker:{id}`` — hash: name, hostname, queues, resources, gpus (JSON), executor,
    version, slots (absent: unknown), registered, last_heartbeat, gpu_state (JSON, each
    GPU's busy flag, foreign memory and tasks, as of the last heartbeat that changed it);
    while a preemption frees it for a task: reserved_for (that task's id), reserved_queue
    (its queue), reserved_until (when the hold lapses; a claim reads it,
    ``store/preemption_hold.py``).
``ry:worker:{id}:running`` — set of task ids the worker holds.

``ry:wake`` — pub/sub channel; a message is a queue name that has new work.
``ry:stop`` — pub/sub channel; a message is a worker id one of whose tasks was just told
    to stop (abort requested or preempted), for the agent's stop watch (``store/stops.py``).
``ry:ack`` — pub/sub channel nobody reads: a publish marks how far replicas must have
got before a write is acknowledged (``--redis-min-replicas-ack``).

``ry:events`` — stream, one entry per status change, appended by the script that made
    it: ``task``, ``from``, ``to``, ``by`` (that script's name); the entry id is the
    time. Trimmed to about 100,000 entries (``lua/common.lua``). Each reacting
    job reads it through its own consumer group (``jobs/events.py``), the archiver's
    named ``archiver``.

``ry:notify`` — stream, one entry per event for webhooks that is not a task's status
    change (``store/notify.py``): ``kind`` (``sweep.done``, ``pipeline.failed``, …) and
    ``payload`` (JSON, with the object's ``id`` and ``project``); the entry id is the
    event id receivers dedupe on. Trimmed to about 100,000 entries; the webhooks
    consumer group (``jobs/webhooks.py``) reads it.

Schedules, triggers and webhooks (``store/automation.py``):
``ry:schedule:{id}``, ``ry:trigger:{id}``, ``ry:webhook:{id}`` — hash, one record:
    ``spec`` (its create body as JSON), ``owner`` (absent: none), ``created``, and
    ``project`` (a schedule's or trigger's: the project of the task it clones).
    A schedule also has ``due`` (its next run time; absent while ``paused`` is "1"),
    ``last_run``, ``last_task``, ``last_error``, ``runs``; a trigger ``paused``,
    ``fired``, ``last_event``, ``last_fired``, ``last_task``, ``last_error``; a
    webhook ``secret`` (what it signs with).
``ry:schedules``, ``ry:triggers``, ``ry:webhooks`` — sorted sets of the ids by creation.
``ry:schedules:due`` — sorted set, the ids of running (not paused) schedules scored by
    ``due``; the jobs process starts those whose score has passed (``jobs/schedules.py``).
``ry:started:{origin}`` — string, the pipeline run a schedule's or trigger's run
    (``origin``: ``schedule:{id}:{time}``, ``trigger:{id}:{event}``) started ("" while it
    starts): the claim that starts it once (``jobs/starts.py``). Expires after a week.
``ry:delivery:{id}`` — hash, one event sent to one webhook (id: ``{webhook}-{event}``):
    ``webhook``, ``event_id``, ``event`` (its kind), ``body`` (the JSON sent), ``status``
    (pending | delivered | failed), ``attempts``, ``created``, ``last_attempt``,
    ``next_attempt``, ``response_code``, ``error``. Expires a week after it ends.
``ry:webhook:{id}:deliveries`` — sorted set, the webhook's deliveries by creation
    (the newest 1,000 are kept).
``ry:deliveries:due`` — sorted set, the pending deliveries scored by their next attempt;
    a sender claims one by moving its score a lease ahead (``store/deliveries.py``).

``ry:audit`` — stream, one entry per state-changing API request (``store/audit.py``):
    ``who``, ``method``, ``route`` (the template), ``object`` (path parameters),
    ``status``, ``rid`` (request id), ``client``; the entry id is the time. Appended
    without trimming; the jobs process copies entries older than
    ``--audit-live-days`` to the audit archive and only then trims them
    (``jobs/audit_archiver.py``), so no entry is trimmed before it is archived.

``ry:stats`` — hash of counters that only grow, shared by every server replica and
    the jobs process (``GET /metrics`` reads them):
    lease_expired_requeued, lease_expired_failed, lease_expired_aborted
                    leases the reaper found expired, by what became of the task
    log_bytes       bytes of log chunks stored (as encoded), retried batches not counted
    archived_tasks  tasks whose output the archiver moved to the history store
    preempted       tasks given back to their queue because a higher-priority task
                    preempted them (``lua/requeue.lua``)

``ry:user:{name}`` — hash, a named user (``identity.py``): ``role`` (admin | member |
    viewer), ``created``.
``ry:users`` — set of user names.
``ry:token:{sha256}`` — hash, a stored API token under the SHA-256 hex of its secret
    (the secret itself is never stored): ``id`` (short public id), ``name``, ``user``
    (its user, "" for an agent-pool token), ``pool`` (the agent pool, "" for a user
    token), ``created``, ``expires`` (absent: never). A request looks it up by hash.
``ry:token-id:{id}`` — string, the SHA-256 hex of token ``id`` (revoke and list by id).
``ry:tokens`` — set of token ids.
``ry:project:{name}:members`` — hash, user name → project role (viewer | member |
    maintainer) (``members.py``). A project without the key lists no members: every
    member-level user may act on it (``permissions.py``).
``ry:idx:owner:{name}`` — sorted set of the tasks ``name`` created, scored by ``num``.
``ry:quotas`` — hash, the quotas and fair-share weights an admin set (``quotas.py``):
    ``u:max_running:{user}``, ``u:max_gpus:{user}``, ``u:weight:{user}``,
    ``p:max_running:{project}``, ``p:max_gpus:{project}``; an absent field is no limit
    (weight 1). The user "" is every task without an owner.
``ry:quota-running`` — sorted set, every score 0, one member per running task and kind:
    ``u:{len}:{owner}:{id}:{gpus}`` and ``p:{len}:{project}:{id}:{gpus}`` (len: the
    name's length in bytes, so a lex range holds exactly one name's tasks; gpus: what
    the task holds, times its nodes). The claim adds them, ``release`` removes them.

Lua scripts are given every key they touch in ``KEYS``, each with a label (ARGV[1],
a JSON list parallel to ``KEYS``) that the script looks keys up by: ``task:{id}``,
``queue:{name}``, ``status_idx:{status}``, ``events`` (``script_keys.py`` builds them
from the functions below). A script never builds a key name; it asks for a label,
and a label the caller did not declare is an error (``scripts.Undeclared``) raised
before the script writes. Where the keys depend on what is stored (the queue and
worker a task is on, the name string of the next ``num``, the tasks waiting in a
queue), the caller reads that first and passes those keys; the script checks that
what it finds is what was declared and, if something changed in between, the caller
reads again and retries (``scripts.run_planned``). The reaper, a loop, skips instead;
a claim first declares the front 16 tasks of each queue and, when its script walks
past them, all it may scan; a page sorted by name that gathers candidates replies
``{'tasks', ids}`` and is asked again with their hashes declared.
"""

PREFIX = "{ry}:"
"""The hash tag and prefix every key starts with."""
OLD_PREFIX = "ry:"
"""The prefix of a 0.1 store's keys, before the hash tag (``migrate.py`` renames them)."""
TASK_PREFIX = f"{PREFIX}task:"
QUEUE_PREFIX = f"{PREFIX}queue:"
WORKER_PREFIX = f"{PREFIX}worker:"
INDEX_PREFIX = f"{PREFIX}idx:"

TASK_SEQ = f"{PREFIX}seq:task"
QUEUE_SEQ = f"{PREFIX}seq:queue"
QUEUES = f"{PREFIX}queues"
LEASES = f"{PREFIX}leases"
WORKERS = f"{PREFIX}workers"
WAKE_CHANNEL = f"{PREFIX}wake"
STOP_CHANNEL = f"{PREFIX}stop"
# Published to (by nobody listening) before WAIT, see api/replica_ack.py.
ACK_CHANNEL = f"{PREFIX}ack"
STATS = f"{PREFIX}stats"
ALL_TASKS = f"{INDEX_PREFIX}all"
STARTED_INDEX = f"{INDEX_PREFIX}started"
FINISHED_INDEX = f"{INDEX_PREFIX}finished"
NAME_INDEX = f"{INDEX_PREFIX}name"
METRIC_SERIES = f"{PREFIX}metric-series"
NAMES_PREFIX = f"{PREFIX}names:"
NAMES_PER_KEY = 2048
EVENTS = f"{PREFIX}events"
NOTIFY = f"{PREFIX}notify"
AUDIT = f"{PREFIX}audit"
TASK_IDS = f"{PREFIX}ids"
GANGS = f"{PREFIX}gangs"
USERS = f"{PREFIX}users"
TOKENS = f"{PREFIX}tokens"
QUOTAS = f"{PREFIX}quotas"
QUOTA_RUNNING = f"{PREFIX}quota-running"
SWEEPS = f"{PREFIX}sweeps"
RUNNING_SWEEPS = f"{PREFIX}sweeps:running"


def task(task_id: str) -> str:
    """The task's hash."""
    return f"{TASK_PREFIX}{task_id}"


def task_gang(task_id: str) -> str:
    """The gang of a multi-node task."""
    return f"{TASK_PREFIX}{task_id}:gang"


def task_logs(task_id: str) -> str:
    """The task's console-output stream."""
    return f"{TASK_PREFIX}{task_id}:logs"


def task_log_seqs(task_id: str) -> str:
    """The set of log batches already stored for the task."""
    return f"{TASK_PREFIX}{task_id}:logseq"


def task_metrics(task_id: str) -> str:
    """The task's metric points, in logging order."""
    return f"{TASK_PREFIX}{task_id}:metrics"


def task_final_metrics(task_id: str) -> str:
    """The last value of each of the task's series."""
    return f"{TASK_PREFIX}{task_id}:final"


def task_artifacts(task_id: str) -> str:
    """The task's artifact records."""
    return f"{TASK_PREFIX}{task_id}:artifacts"


def archive_lock(task_id: str) -> str:
    """The lock an archiver holds while it archives the task."""
    return f"{PREFIX}lock:archive:{task_id}"


def controller_lock(kind: str, object_id: str) -> str:
    """The lock a jobs process holds while its controller acts for one sweep or pipeline."""
    return f"{PREFIX}lock:{kind}:{object_id}"


def idempotency(key: str) -> str:
    """The record of a create sent with this ``Idempotency-Key``."""
    return f"{PREFIX}idem:{key}"


def queue(name: str) -> str:
    """The queue's claim-order sorted set."""
    return f"{QUEUE_PREFIX}{name}"


def queue_since(name: str) -> str:
    """The queue's tasks scored by enqueue time."""
    return f"{QUEUE_PREFIX}{name}:since"


def queue_settings(name: str) -> str:
    """The queue's settings (limits, preemptible)."""
    return f"{QUEUE_PREFIX}{name}:settings"


def queue_running(name: str) -> str:
    """The queue's running tasks scored by the GPUs each holds."""
    return f"{QUEUE_PREFIX}{name}:running"


def queue_owners(name: str) -> str:
    """How many of the queue's waiting tasks each owner has."""
    return f"{QUEUE_PREFIX}{name}:owners"


def worker(worker_id: str) -> str:
    """The worker's hash."""
    return f"{WORKER_PREFIX}{worker_id}"


def worker_running(worker_id: str) -> str:
    """The set of tasks the worker holds."""
    return f"{WORKER_PREFIX}{worker_id}:running"


def status_index(status: str) -> str:
    """Tasks with this status."""
    return f"{INDEX_PREFIX}status:{status}"


def project_index(project: str) -> str:
    """Tasks of this project."""
    return f"{INDEX_PREFIX}project:{project}"


def tag_index(tag: str) -> str:
    """Tasks with this tag."""
    return f"{INDEX_PREFIX}tag:{tag}"


def parent_index(parent: str) -> str:
    """Tasks cloned from this task."""
    return f"{INDEX_PREFIX}parent:{parent}"


def queue_index(name: str) -> str:
    """Tasks that are or were last on this queue."""
    return f"{INDEX_PREFIX}queue:{name}"


def metric_index(series: str) -> str:
    """Tasks scored by the last value of this metric series."""
    return f"{INDEX_PREFIX}metric:{series}"


def metric_min_index(series: str) -> str:
    """Tasks scored by the smallest value of this metric series."""
    return f"{INDEX_PREFIX}metric_min:{series}"


def metric_max_index(series: str) -> str:
    """Tasks scored by the largest value of this metric series."""
    return f"{INDEX_PREFIX}metric_max:{series}"


def metric_indexes(series: str) -> tuple[str, str, str]:
    """The series' last, min and max indexes (a deleted task leaves all three)."""
    return metric_index(series), metric_min_index(series), metric_max_index(series)


def names(n: int) -> str:
    """The search copy of the names of tasks whose ``num // NAMES_PER_KEY`` is ``n``."""
    return f"{NAMES_PREFIX}{n}"


def automation(kind: str, record_id: str) -> str:
    """A schedule's, trigger's or webhook's record (``kind`` is one of those)."""
    return f"{PREFIX}{kind}:{record_id}"


def automation_index(kind: str) -> str:
    """The ids of every record of ``kind``, by creation."""
    return f"{PREFIX}{kind}s"


SCHEDULES_DUE = f"{PREFIX}schedules:due"
DELIVERIES_DUE = f"{PREFIX}deliveries:due"


def started(origin: str) -> str:
    """The pipeline run a schedule's or trigger's run started."""
    return f"{PREFIX}started:{origin}"


def delivery(delivery_id: str) -> str:
    """One event's delivery to one webhook."""
    return f"{PREFIX}delivery:{delivery_id}"


def webhook_deliveries(webhook_id: str) -> str:
    """A webhook's deliveries by creation."""
    return f"{PREFIX}webhook:{webhook_id}:deliveries"


def user(name: str) -> str:
    return f"{PREFIX}user:{name}"


def token(digest: str) -> str:
    """A stored token's record, under the SHA-256 hex of its secret."""
    return f"{PREFIX}token:{digest}"


def token_id(token_id: str) -> str:
    return f"{PREFIX}token-id:{token_id}"


def project_members(project: str) -> str:
    """The project's members and their roles."""
    return f"{PREFIX}project:{project}:members"


def owner_index(name: str) -> str:
    return f"{INDEX_PREFIX}owner:{name}"


PIPELINES = f"{PREFIX}pipelines"
PIPELINE_RUNS = f"{PREFIX}pruns"
ACTIVE_PIPELINE_RUNS = f"{PREFIX}pruns:active"
PIPELINE_CACHE = f"{PREFIX}pcache"


def pipeline(pipeline_id: str) -> str:
    """A pipeline definition (JSON)."""
    return f"{PREFIX}pipeline:{pipeline_id}"


def pipeline_run(run_id: str) -> str:
    """A pipeline run's hash: the run, its spec and one field per step."""
    return f"{PREFIX}prun:{run_id}"


def pipeline_run_spec(run_id: str) -> str:
    """The spec a pipeline run runs (JSON)."""
    return f"{PREFIX}prun:{run_id}:spec"


def pipeline_runs_of(pipeline_id: str) -> str:
    """The runs of one pipeline, by creation time."""
    return f"{PIPELINE_RUNS}:of:{pipeline_id}"


def sweep(sweep_id: str) -> str:
    """The sweep's hash."""
    return f"{PREFIX}sweep:{sweep_id}"


def sweep_trials(sweep_id: str) -> str:
    """The sweep's trial records by number."""
    return f"{PREFIX}sweep:{sweep_id}:trials"


def sweep_live(sweep_id: str) -> str:
    """The numbers of the sweep's trials in flight."""
    return f"{PREFIX}sweep:{sweep_id}:live"


def sweep_log(sweep_id: str) -> str:
    """The sweep's event log."""
    return f"{PREFIX}sweep:{sweep_id}:log"
