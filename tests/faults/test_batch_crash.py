"""kill -9 the server while clients send 1,000-task batches: each batch is all there or absent.

A batch is one ``MULTI``/``EXEC`` on an external Redis that outlives the server: a
server killed while it writes the transaction leaves Redis a ``MULTI`` with some of
the creates queued and no ``EXEC``, which Redis drops with the connection.
"""

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from runyard.models.limits import MAX_BATCH_TASKS
from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys
from tests.faults.consistency import problems
from tests.faults.support import sync_client
from tests.servers import ServerProcess

THREADS = 4
BATCHES_PER_THREAD = 12
KILL_AFTER = 4  # acknowledged batches before the kill
CODE = {"entry_point": "train.py"}


@dataclass
class Outcome:
    acked: set[str] = field(default_factory=set)
    other: set[str] = field(default_factory=set)  # cut off, refused a connection or non-2xx
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)


def _send_batches(api: str, thread: int, outcome: Outcome) -> None:
    with requests.Session() as session:
        for n in range(BATCHES_PER_THREAD):
            batch = f"b{thread}x{n}"
            tasks = [
                {
                    "name": f"{batch}-{i}",
                    "queue": "q",
                    "create_queue": True,
                    "tags": [batch],
                    "script": CODE,
                }
                for i in range(MAX_BATCH_TASKS)
            ]
            try:
                response = session.post(f"{api}/tasks:batch", json={"tasks": tasks}, timeout=30)
                ok = response.status_code == 201
            except requests.RequestException:
                ok = False
            with outcome.lock:
                (outcome.acked if ok else outcome.other).add(batch)
                if len(outcome.acked) >= KILL_AFTER:
                    outcome.enough.set()


def test_server_sigkill_during_batch_creates_leaves_each_batch_whole_or_absent(
    server_factory: Callable[..., ServerProcess],
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    external = redis_factory(fsync="always")
    server = server_factory("--redis-url", external.url, "--no-jobs")
    outcome = Outcome()
    threads = [
        threading.Thread(target=_send_batches, args=(server.api, n, outcome))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    assert outcome.enough.wait(180), "the batches never got going"
    server.kill()
    for thread in threads:
        thread.join(180)

    with sync_client(external.url) as r:
        assert problems(r) == []
        tagged = Counter(
            {
                tag.removeprefix(keys.tag_index("")): r.zcard(tag)
                for tag in r.scan_iter(keys.tag_index("*"))
            }
        )
        queued = r.zcard(keys.queue("q"))
    print(f"acknowledged {len(outcome.acked)} batches; stored {sorted(tagged)}")
    assert len(outcome.acked) >= KILL_AFTER
    assert set(tagged.values()) <= {MAX_BATCH_TASKS}, f"a partial batch: {tagged}"
    assert outcome.acked <= set(tagged)
    assert set(tagged) - outcome.acked <= outcome.other
    assert queued == MAX_BATCH_TASKS * len(tagged)
