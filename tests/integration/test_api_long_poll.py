"""Long-polling claims over HTTP on a real server: held between attempts, woken by work."""

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.servers import ServerProcess

FREE = {"gpus": 1, "cpus": 4, "memory_gb": 8}
CODE = {"entry_point": "train.py"}


def register(server: ServerProcess, queues: list[str]) -> str:
    body = {"name": "w", "queues": queues, "resources": FREE}
    return str(requests.post(f"{server.api}/workers", json=body, timeout=10).json()["id"])


def claim(server: ServerProcess, worker: str, **body: Any) -> requests.Response:
    body = {"queues": ["q"], "free": FREE, **body}
    return requests.post(f"{server.api}/workers/{worker}/claim", json=body, timeout=40)


def test_a_waiting_claim_gets_the_task_created_while_it_waits(server: ServerProcess) -> None:
    worker = register(server, ["q"])
    answers: list[tuple[requests.Response, float]] = []
    waiting = threading.Thread(
        target=lambda: answers.append((claim(server, worker, wait_s=20), time.monotonic()))
    )
    waiting.start()
    time.sleep(0.5)
    created_at = time.monotonic()
    task = {"name": "late", "queue": "q", "create_queue": True, "script": CODE}
    created = requests.post(f"{server.api}/tasks", json=task, timeout=10).json()
    waiting.join(30)

    (response, answered_at) = answers[0]
    assert response.status_code == 200
    assert response.json()["task"]["id"] == created["id"]
    assert answered_at - created_at < 5
    assert response.headers["x-request-id"]


def test_a_waiting_claim_answers_empty_when_its_wait_ends(server: ServerProcess) -> None:
    worker = register(server, ["q"])
    began = time.monotonic()

    response = claim(server, worker, wait_s=1.0)

    assert response.status_code == 200 and response.json()["task"] is None
    assert 0.8 <= time.monotonic() - began < 10  # up to a fifth early, spreading polls


def test_a_waiting_claim_that_is_invalid_is_refused_at_once(server: ServerProcess) -> None:
    worker = register(server, ["q"])
    began = time.monotonic()

    bad = claim(server, worker, wait_s=20, free={"gpus": -1})
    unknown = claim(server, "0" * 32, wait_s=20)

    assert bad.status_code == 422 and "gpus" in bad.text
    assert unknown.status_code == 404 and "not registered" in unknown.text
    assert time.monotonic() - began < 10


def test_a_waiting_claim_whose_worker_left_is_answered_by_the_app(server: ServerProcess) -> None:
    worker = register(server, ["q"])
    answers: list[requests.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(claim(server, worker, wait_s=20)))
    waiting.start()
    time.sleep(0.5)
    assert requests.delete(f"{server.api}/workers/{worker}", timeout=10).status_code == 204
    task = {"name": "orphan", "queue": "q", "create_queue": True, "script": CODE}
    requests.post(f"{server.api}/tasks", json=task, timeout=10)
    waiting.join(30)

    assert answers[0].status_code == 404
    assert answers[0].json()["error"] == "not_found"
    assert "not registered" in answers[0].json()["detail"]


def test_a_claim_waiting_for_a_gang_leaves_it_when_its_agent_goes_away(
    server: ServerProcess,
) -> None:
    task = {"queue": "q", "create_queue": True, "script": CODE, "resources": {"nodes": 2}}
    created = requests.post(f"{server.api}/tasks", json=task, timeout=10).json()
    gone, *stay = (register(server, ["q"]) for _ in range(3))
    offer = {"wait_s": 20, "gang_host": "127.0.0.1", "gang_port": 29500}
    with contextlib.suppress(requests.Timeout):  # the agent dies while its claim waits
        requests.post(
            f"{server.api}/workers/{gone}/claim",
            json={"queues": ["q"], "free": FREE, **offer},
            timeout=1,
        )
    time.sleep(0.5)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda w: claim(server, w, **offer).json(), stay))

    assert sorted(a["gang"]["rank"] for a in answers) == [0, 1]
    placed = requests.get(f"{server.api}/tasks/{created['id']}", timeout=10).json()["placement"]
    assert sorted(p["worker"] for p in placed) == sorted(stay)
