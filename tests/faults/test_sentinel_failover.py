"""kill -9 the Redis master under load, twice: Sentinel fails over and nothing acknowledged is lost.

A Sentinel set (1 master, 2 replicas, 3 sentinels, passwords on both) behind
``runyard-server --redis-sentinel … --redis-min-replicas-ack 1``; 8 client threads
create, claim (long-poll) and complete tasks over HTTP while 2 real agents run tasks.
The master is killed, the killed server comes back as a replica, and the new master is
killed too. A client whose create was cut off or answered 503 repeats it with the same
``Idempotency-Key`` until it is answered 201, so every create is in the store exactly
once, the ones whose first answer was lost too (without the key a few of those made a
second task: the 503 came after the write). No task is handed
to two claimers, requests cut off by the switch get 503 ``unavailable`` (never a 500 or
a wrong answer), agents and long-polls carry on, and the consistency checker passes on
the last master. Without ``--redis-min-replicas-ack`` the same kill counts the creates
acknowledged but lost. A switchover with the old master still running shows where one
replica's acknowledgement is not enough. The printed numbers are in docs/reliability.md.
"""

import itertools
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from runyard.client import Client
from runyard.models import Environment, Script, TaskCreate, TaskStatus
from runyard_server.store import keys
from tests.ci import unavailable
from tests.e2e.agent_support import DONE, AgentFactory, agent_factory, wait_for, wait_status
from tests.faults.consistency import problems
from tests.faults.sentinel_set import MASTER_NAME, PASSWORD, SENTINEL_PASSWORD, SentinelSet
from tests.faults.support import git_repo
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

THREADS = 8
AFTER_KILL = 60  # acknowledged creates after a kill before the next step


@dataclass
class Load:
    """What the client threads saw."""

    acked: dict[str, float] = field(default_factory=dict)  # create name -> when (monotonic)
    repeated: set[str] = field(default_factory=set)  # a 503 or cut off at first: sent again
    claims: Counter[str] = field(default_factory=Counter)  # acknowledged claims per task
    completed: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer
    unexpected: list[str] = field(default_factory=list)  # a 5xx but 503 `unavailable`
    refused: list[str] = field(default_factory=list)  # a completion refused for good
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def acked_since(self, t: float) -> list[float]:
        with self.lock:
            return sorted(when for when in self.acked.values() if when >= t)


def _post(
    load: Load,
    session: requests.Session,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    try:
        response = session.post(url, json=body, headers=headers, timeout=(2, 15))
    except requests.RequestException:
        status, payload = 0, None
    else:
        status, payload = response.status_code, response.json()
    with load.lock:
        load.statuses[status] += 1
        if (status >= 500 and status != 503) or (
            status == 503 and payload["error"] != "unavailable"
        ):
            load.unexpected.append(f"{url}: {status} {payload}")
    return status, payload


def _register(load: Load, session: requests.Session, api: str, n: int) -> str:
    body = {"name": f"client{n}", "queues": ["load"], "resources": {}}
    while True:
        status, payload = _post(load, session, f"{api}/workers", body)
        if status == 201:
            return str(payload["id"])
        time.sleep(0.2)


def _complete(load: Load, session: requests.Session, api: str, task_id: str, lease: str) -> None:
    retried = False
    for _ in range(100):
        status, payload = _post(
            load, session, f"{api}/tasks/{task_id}/completed", {"lease_token": lease}
        )
        if status == 200 or (status == 409 and retried):  # 409 after a retry: the first landed
            with load.lock:
                load.completed.add(task_id)
            return
        if status not in (0, 503):
            with load.lock:
                load.refused.append(f"completed {task_id}: {status} {payload}")
            return
        retried = True
        time.sleep(0.1)


def _task_body(name: str, queue: str) -> dict[str, object]:
    """A task the server will queue: it has code to run (never run by these clients)."""
    return {
        "name": name,
        "queue": queue,
        "script": {"entry_point": "train.py"},
        "create_queue": True,
    }


def _create(load: Load, session: requests.Session, api: str, name: str) -> None:
    """Create the task ``name``, sending it again with the same key until it is answered."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(200):
        status, payload = _post(load, session, f"{api}/tasks", _task_body(name, "load"), key)
        with load.lock:
            if status == 201:
                load.acked[name] = time.monotonic()
                return
            if status not in (0, 503):
                load.refused.append(f"create {name}: {status} {payload}")
                return
            load.repeated.add(name)
        time.sleep(0.1)
    with load.lock:
        load.refused.append(f"create {name}: never answered")


def _client(api: str, n: int, load: Load) -> None:
    with requests.Session() as session:
        worker = _register(load, session, api, n)
        i = 0
        while not load.stop.is_set():
            name, i = f"c{n}-{i}", i + 1
            _create(load, session, api, name)
            claim = {"queues": ["load"], "free": {}, "wait_s": 1}
            status, payload = _post(load, session, f"{api}/workers/{worker}/claim", claim)
            if status != 200 or not payload.get("task"):
                time.sleep(0.05 if status == 200 else 0.2)
                continue
            task_id = payload["task"]["id"]
            with load.lock:
                load.claims[task_id] += 1
            _complete(load, session, api, task_id, payload["lease_token"])


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    """1 master, 2 replicas, 3 sentinels on loopback; every process killed after."""
    missing = [name for name in ("redis-server", "redis-sentinel") if not shutil.which(name)]
    if missing:
        why = (
            f"needs Debian's {' and '.join(missing)} (apt-get install redis-server redis-sentinel)"
        )
        unavailable(why)
    sentinel_set = SentinelSet(tmp_path / "sentinel")
    try:
        yield sentinel_set.start()
    finally:
        sentinel_set.stop()


def _server(
    sentinels: SentinelSet,
    server_factory: Callable[..., ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
) -> ServerProcess:
    # Passwords come through the environment, as a Kubernetes Secret would give them.
    monkeypatch.setenv("RUNYARD_REDIS_PASSWORD", PASSWORD)
    monkeypatch.setenv("RUNYARD_REDIS_SENTINEL_PASSWORD", SENTINEL_PASSWORD)
    return server_factory(
        "--redis-sentinel", sentinels.sentinel_spec, "--redis-master", MASTER_NAME, *extra
    )


def _start_load(api: str) -> tuple[Load, list[threading.Thread]]:
    load = Load()
    threads = [
        threading.Thread(target=_client, args=(api, n, load), daemon=True) for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(load.acked_since(0)) >= 100, 60, "100 creates before the kill")
    return load, threads


def _kill_master(sentinels: SentinelSet, load: Load) -> dict[str, float]:
    """Kill the master; how long until the sentinels named another, and the longest
    time clients went without a create acknowledged."""
    old = sentinels.wait_master()
    killed = time.monotonic()
    sentinels.kill(old)
    sentinels.wait_master(other_than=old)
    promoted = time.monotonic() - killed
    wait_for(lambda: len(load.acked_since(killed)) >= AFTER_KILL, 60, "creates after the kill")
    acks = load.acked_since(killed - 1)
    outage = max(later - earlier for earlier, later in itertools.pairwise(acks))
    return {"promoted_s": round(promoted, 2), "no_ack_s": round(outage, 2)}


def _names(r: "redis.Redis[str]") -> Counter[str]:
    """How many tasks carry each name in the store behind ``r``."""
    ids = r.zrange(keys.ALL_TASKS, 0, -1)
    with r.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hget(keys.task(task_id), "name")
        return Counter(pipe.execute())


def _agent_task(client: Client, repo: Path, commit: str, name: str) -> str:
    script = Script(repository=str(repo), commit=commit, entry_point="hello.py")
    body = TaskCreate(
        name=name, queue="agents", create_queue=True, script=script,
        environment=Environment(),
    )  # fmt: skip
    return client.tasks.create(body).id


def _woken_claim_s(api: str) -> float:
    """How long a long-poll on an empty queue waits for a task created 1 s into it: short
    only if the dispatcher's subscription to ``ry:wake`` followed the failovers."""
    worker = requests.post(
        f"{api}/workers", json={"name": "waker", "queues": ["wake"], "resources": {}}, timeout=10
    ).json()["id"]
    requests.post(f"{api}/queues", json={"name": "wake"}, timeout=10)
    claim = {"queues": ["wake"], "free": {}, "wait_s": 20}
    timer = threading.Timer(
        1,
        requests.post,
        args=(f"{api}/tasks",),
        kwargs={"json": _task_body("woken", "wake"), "timeout": 10},
    )
    started = time.monotonic()
    timer.start()
    reply = requests.post(f"{api}/workers/{worker}/claim", json=claim, timeout=30).json()
    timer.join()
    assert reply["task"] is not None
    return time.monotonic() - started


def _woken_stop_watch_s(api: str) -> float:
    """How long an agent's stop watch waits for an abort made 1 s into it: short only if
    the dispatcher's subscription to ``ry:stop`` followed the failovers."""
    worker = requests.post(
        f"{api}/workers", json={"name": "stopped", "queues": ["stop"], "resources": {}}, timeout=10
    ).json()["id"]
    task = requests.post(f"{api}/tasks", json=_task_body("stopped", "stop"), timeout=10).json()
    claim = {"queues": ["stop"], "free": {}}
    token = requests.post(f"{api}/workers/{worker}/claim", json=claim, timeout=10).json()[
        "lease_token"
    ]
    watch = {"running": [{"task_id": task["id"], "lease_token": token}], "wait_s": 20}
    timer = threading.Timer(1, requests.post, args=(f"{api}/tasks/{task['id']}/abort",))
    started = time.monotonic()
    timer.start()
    reply = requests.post(f"{api}/workers/{worker}/stops", json=watch, timeout=30).json()
    timer.join()
    assert reply["abort"] == [task["id"]]
    return time.monotonic() - started


def test_master_sigkill_twice_loses_no_acknowledged_create_and_claims_stay_single(
    sentinels: SentinelSet,
    server_factory: Callable[..., ServerProcess],
    agent_factory: AgentFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = _server(sentinels, server_factory, monkeypatch, "--redis-min-replicas-ack", "1")
    repo = tmp_path / "repo"
    commit = git_repo(repo, {"hello.py": "print('hello from the agent')\n"})
    for n in range(2):
        agent_factory(server.url, "--queue", "agents", name=f"agent{n}")
    load, threads = _start_load(server.api)
    rounds = []
    agent_tasks = []
    with Client(server.url) as client:
        agent_tasks.append(_agent_task(client, repo, commit, "agent-first"))
        for round_ in range(2):
            agent_tasks.append(_agent_task(client, repo, commit, f"agent-before-{round_}"))
            killed = sentinels.wait_master()
            rounds.append(_kill_master(sentinels, load))
            # An agent long-polling through the switch gets new work.
            after = _agent_task(client, repo, commit, f"agent-after-{round_}")
            agent_tasks.append(after)
            wait_status(client, after, *DONE, timeout=90)
            if round_ == 0:  # the lost server comes back, as a replica of the new master
                master = sentinels.wait_master()
                sentinels.start_server(killed, replica_of=master)
                sentinels.wait_replicas(master, 2)
        load.stop.set()
        for thread in threads:
            thread.join(60)
        finals = [wait_status(client, t, *DONE, timeout=90) for t in agent_tasks]

    woken_s = _woken_claim_s(server.api)
    stop_s = _woken_stop_watch_s(server.api)
    r = sentinels.client(sentinels.wait_master())
    names = _names(r)
    lost = sorted(name for name in load.acked if names[name] != 1)
    print(
        f"acknowledged creates {len(load.acked)}, sent again after a 503 or a cut "
        f"{len(load.repeated)}, lost or made twice {len(lost)}; "
        f"claims {sum(load.claims.values())}, completed {len(load.completed)}; "
        f"answers {dict(load.statuses)}; failovers {rounds}; woken claim {woken_s:.2f}s"
    )
    assert lost == []
    assert woken_s < 5, "the long-poll was not woken: the dispatcher lost its subscription"
    assert stop_s < 5, "the stop watch was not woken: the dispatcher lost its subscription"
    # Every create a client made was answered in the end, none made twice.
    assert {name for name in names if name.startswith("c")} == set(load.acked)
    assert max(names.values()) == 1
    assert [task for task, n in load.claims.items() if n > 1] == []
    assert load.unexpected == [] and load.refused == []
    assert load.statuses[503] + load.statuses[0] > 0, "the kills cut off no request"
    assert all(task.status is TaskStatus.COMPLETED for task in finals), finals
    statuses = {r.hget(keys.task(task_id), "status") for task_id in load.completed}
    assert statuses == {"completed"}
    assert problems(r) == []


def test_master_sigkill_without_replica_acks_keeps_the_store_whole_and_counts_the_loss(
    sentinels: SentinelSet,
    server_factory: Callable[..., ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _server(sentinels, server_factory, monkeypatch)
    load, threads = _start_load(server.api)
    failover = _kill_master(sentinels, load)
    load.stop.set()
    for thread in threads:
        thread.join(60)
    r = sentinels.client(sentinels.wait_master())
    names = _names(r)
    lost = sorted(name for name in load.acked if names[name] == 0)
    print(
        f"without acks: acknowledged creates {len(load.acked)}, lost {len(lost)} {lost[:5]}; "
        f"answers {dict(load.statuses)}; failover {failover}"
    )
    # Each lost write is a suffix of the master's stream: the store stays whole.
    assert max(names.values()) == 1
    assert load.unexpected == []
    assert problems(r) == []


@pytest.mark.parametrize("acks", [2, 0], ids=["acks-from-every-replica", "no-acks"])
def test_switchover_with_the_old_master_running_loses_nothing_acknowledged_by_every_replica(
    acks: int,
    sentinels: SentinelSet,
    server_factory: Callable[..., ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SENTINEL FAILOVER`` while the master runs (an operator's switchover; a partition
    that hides a live master from the sentinels looks the same). The old master takes
    writes until the API hears of the new one, and the replica not promoted keeps
    copying it until it is moved: a write acknowledged by that replica alone is thrown
    away with the old master's data. Only acknowledgements from every replica cover
    this; without any, the window is measured."""
    ack_flags = ["--redis-min-replicas-ack", str(acks)] if acks else []
    server = _server(sentinels, server_factory, monkeypatch, *ack_flags)
    load, threads = _start_load(server.api)
    old = sentinels.wait_master()
    started = time.monotonic()
    sentinels.force_failover()
    new = sentinels.wait_master(other_than=old)
    replaced_s = time.monotonic() - started
    wait_for(lambda: len(load.acked_since(started + replaced_s)) >= AFTER_KILL, 60, "creates")
    load.stop.set()
    for thread in threads:
        thread.join(60)
    # The new master: the old one answers as a master until the sentinels demote it.
    r = sentinels.client(new)
    names = _names(r)
    lost = sorted(name for name in load.acked if names[name] == 0)
    twice = [task for task, n in load.claims.items() if n > 1]
    print(
        f"switchover, acks={acks}: acknowledged creates {len(load.acked)}, lost {len(lost)}; "
        f"claims handed out twice {len(twice)}; answers {dict(load.statuses)}; "
        f"new master named after {replaced_s:.2f}s"
    )
    assert max(names.values()) == 1
    assert load.unexpected == []
    assert problems(r) == []
    if acks:
        assert lost == [] and twice == [] and load.refused == []
