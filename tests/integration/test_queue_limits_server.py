"""Queue limits through a real server: 8 threads claim over HTTP as agents do, and
neither a queue's max_running nor its max_gpus is passed at any moment."""

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from runyard.client import Client
from runyard.models import ClaimRequest, QueueUpdate, Resources, Script, TaskCreate, WorkerRegister
from runyard_server.store import keys
from tests.integration.store_support import most_running_at_once
from tests.servers import ServerProcess

AGENT = Resources(gpus=8, cpus=8, memory_gb=32)


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(
        tmp_path / "data", ["--redis-url", redis_url], tmp_path / "server.log"
    ).start()
    yield started
    started.stop()


def _agent(url: str, name: str, stop: threading.Event, ran: list[str]) -> None:
    """Claim from both queues, hold each task a moment, report it completed."""
    with Client(url, token="") as client:
        worker = client.workers.register(
            WorkerRegister(name=name, queues=["cap", "gpu"], resources=AGENT)
        )
        request = ClaimRequest(queues=["cap", "gpu"], free=AGENT, wait_s=0.2)
        while not stop.is_set():
            claim = client.workers.claim(worker.id, request)
            if claim.task is None or claim.lease_token is None:
                continue
            time.sleep(random.uniform(0.001, 0.02))
            client.tasks.report_completed(claim.task.id, claim.lease_token)
            ran.append(claim.task.id)


def test_limits_hold_for_8_agents_claiming_over_http(server: ServerProcess, redis_url: str) -> None:
    client = Client(server.url, token="")
    code = Script(entry_point="train.py")
    ids = [
        client.tasks.create(
            TaskCreate(name=f"c{i}", queue="cap", create_queue=True, script=code)
        ).id
        for i in range(30)
    ]
    gpu = Resources(gpus=1)
    ids += [
        client.tasks.create(
            TaskCreate(name=f"g{i}", queue="gpu", create_queue=True, script=code, resources=gpu)
        ).id
        for i in range(20)
    ]
    client.queues.update("cap", QueueUpdate(max_running=3))
    client.queues.update("gpu", QueueUpdate(max_gpus=2))
    stop, ran = threading.Event(), list[str]()
    agents = [
        threading.Thread(target=_agent, args=(server.url, f"w{i}", stop, ran)) for i in range(8)
    ]
    for agent in agents:
        agent.start()
    deadline = time.monotonic() + 120
    try:
        while len(ran) < len(ids) and time.monotonic() < deadline:
            shown = {q.name: q for q in client.queues.list()}
            assert shown["cap"].running <= 3, shown["cap"]
            assert shown["gpu"].gpus_in_use <= 2, shown["gpu"]
            time.sleep(0.01)
    finally:
        stop.set()
        for agent in agents:
            agent.join()

    assert sorted(ran) == sorted(ids)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    queue_of = {i: str(r.hget(keys.task(i), "queue")) for i in ids}
    gpus_of = {i: float(r.hget(keys.task(i), "gpus") or 0) for i in ids}
    most = most_running_at_once(r.xrange(keys.EVENTS), queue_of, gpus_of)
    assert most["cap"][0] == 3
    assert most["gpu"][1] == 2
    assert {q.name: (q.running, q.gpus_in_use) for q in client.queues.list()} == {
        "cap": (0, 0.0),
        "gpu": (0, 0.0),
    }
