"""kill -9 the server while 16 clients enqueue 2,000 tasks: every 2xx is queued exactly once.

Two set-ups: the embedded Redis with ``--redis-fsync always`` (the server's death
SIGTERMs it through PDEATHSIG; the restarted server replays its AOF), and an
external Redis that outlives the server. Requests cut off by the crash may or may
not have landed; they may show up at most once, and nothing may be half-written.
"""

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys
from tests.faults.consistency import problems
from tests.faults.support import children_of, embedded_redis_url, sync_client, wait_gone
from tests.servers import ServerProcess

TOTAL = 2_000
THREADS = 16
KILL_AFTER = 700  # acknowledged enqueues before the kill: mid-way on a slow machine


@dataclass
class Outcome:
    """What the clients saw: names acknowledged (per thread, in order) and names in doubt."""

    acked: list[list[str]] = field(default_factory=lambda: [[] for _ in range(THREADS)])
    doubtful: set[str] = field(default_factory=set)  # cut off mid-request: may have landed
    unsent: set[str] = field(default_factory=set)  # connection refused: surely not stored
    refused: list[str] = field(default_factory=list)  # a non-2xx answer: must not be stored
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        return sum(len(names) for names in self.acked)


def _enqueue_share(api: str, thread: int, outcome: Outcome) -> None:
    with requests.Session() as session:
        for i in range(thread, TOTAL, THREADS):
            name = f"t{i:05d}"
            try:
                response = session.post(
                    f"{api}/tasks",
                    json={
                        "name": name,
                        "queue": "q",
                        "create_queue": True,
                        "script": {"entry_point": "train.py"},
                    },
                    timeout=(2, 10),
                )
            except requests.RequestException as exc:
                with outcome.lock:
                    (outcome.unsent if _surely_unsent(exc) else outcome.doubtful).add(name)
                continue
            with outcome.lock:
                if response.status_code == 201:
                    outcome.acked[thread].append(name)
                    if outcome.count() >= KILL_AFTER:
                        outcome.enough.set()
                else:
                    outcome.refused.append(name)


def _surely_unsent(exc: requests.RequestException) -> bool:
    return isinstance(exc, requests.ConnectTimeout) or "Connection refused" in str(exc)


def _crash_mid_enqueue(server: ServerProcess) -> Outcome:
    outcome = Outcome()
    threads = [
        threading.Thread(target=_enqueue_share, args=(server.api, n, outcome))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    assert outcome.enough.wait(120), "the enqueues never got going"
    children = children_of(server)
    server.kill()
    for thread in threads:
        thread.join(120)
    # The embedded Redis and the jobs worker die with the server; never run two on one AOF.
    wait_gone(children)
    return outcome


def _check_after_restart(redis_url: str, server: ServerProcess, outcome: Outcome) -> None:
    acked = {name for names in outcome.acked for name in names}
    print(
        f"acknowledged {len(acked)} of {TOTAL}, {len(outcome.doubtful)} cut off mid-request, "
        f"{len(outcome.unsent)} refused a connection"
    )
    assert KILL_AFTER <= len(acked) < TOTAL, "the kill did not land mid-way"
    assert outcome.refused == []
    with sync_client(redis_url) as r:
        assert problems(r) == []
        queued = r.zrange(keys.queue("q"), 0, -1)
        with r.pipeline(transaction=False) as pipe:
            for task_id in queued:
                pipe.hmget(keys.task(task_id), "name", "status")
            rows = pipe.execute()
        assert r.zcard(keys.ALL_TASKS) == len(queued)
    assert {status for _, status in rows} == {"queued"}
    names = [name for name, _ in rows]
    counts = Counter(names)
    assert [name for name, n in counts.items() if n > 1] == []
    assert acked <= set(names), f"lost: {sorted(acked - set(names))[:10]}"
    assert set(names) - acked <= outcome.doubtful
    assert not outcome.unsent & set(names)
    print(f"{len(set(names) - acked)} of the cut-off requests landed (each once)")
    position = {name: i for i, name in enumerate(names)}
    for per_thread in outcome.acked:  # each client's enqueues are FIFO on the queue
        assert [position[name] for name in per_thread] == sorted(position[n] for n in per_thread)
    page = requests.get(f"{server.api}/queues/q", params={"limit": 10_000}, timeout=30).json()
    assert [entry["task_id"] for entry in page["entries"]] == queued


def test_server_sigkill_during_concurrent_enqueues_embedded_redis_loses_no_ack(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--redis-fsync", "always", "--no-jobs")
    outcome = _crash_mid_enqueue(server)
    server.start()
    _check_after_restart(embedded_redis_url(server), server, outcome)


def test_server_sigkill_during_concurrent_enqueues_external_redis_loses_no_ack(
    server_factory: Callable[..., ServerProcess],
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    external = redis_factory(fsync="always")
    server = server_factory("--redis-url", external.url, "--no-jobs")
    outcome = _crash_mid_enqueue(server)
    server.start()
    _check_after_restart(external.url, server, outcome)
