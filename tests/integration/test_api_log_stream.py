"""``GET /tasks/{id}/logs/stream``: server-sent events from a real server over a real socket."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from tests.servers import ServerProcess

USER, AGENT = "user-stream-secret", "agent-stream-secret"


@dataclass
class Event:
    data: str
    id: str | None = None
    event: str = "message"


@dataclass
class Follower:
    """Reads a stream in a thread, collecting its events until ``end`` or the socket closes."""

    response: requests.Response
    events: list[Event] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        fields: dict[str, str] = {}
        for raw in self.response.iter_lines(decode_unicode=True):
            if raw:
                name, _, value = raw.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                self.events.append(
                    Event(fields["data"], fields.get("id"), fields.get("event", "message"))
                )
            fields = {}
            if self.events and self.events[-1].event == "end":
                break
        self.done.set()

    def texts(self) -> list[str]:
        return [json.loads(e.data)["text"] for e in self.events if e.event == "message"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server with tokens for the module; every test makes its own task and queue."""
    root = tmp_path_factory.mktemp("stream")
    args = ["--token", f"user:{USER}", "--token", f"agent:{AGENT}"]
    server = ServerProcess(root / "data", args, root / "server.log").start()
    try:
        yield server.api
    finally:
        server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def running_task(api: str) -> tuple[str, str, str]:
    """A task claimed by a registered worker: (task id, lease token, task token)."""
    queue = f"q{uuid.uuid4().hex[:8]}"
    task = requests.post(
        f"{api}/tasks",
        json={"queue": queue, "create_queue": True, "script": {"entry_point": "train.py"}},
        headers=auth(USER),
        timeout=10,
    ).json()
    worker = requests.post(
        f"{api}/workers",
        json={"name": queue, "queues": [queue], "resources": {}},
        headers=auth(AGENT),
        timeout=10,
    ).json()["id"]
    claim = requests.post(
        f"{api}/workers/{worker}/claim",
        json={"queues": [queue], "free": {}},
        headers=auth(AGENT),
        timeout=10,
    ).json()
    assert claim["task"]["id"] == task["id"]
    return task["id"], claim["lease_token"], claim["task_token"]


def log(api: str, task_id: str, seq: int, *texts: str) -> None:
    batch = {"seq": seq, "lines": [{"text": t, "ts": time.time()} for t in texts]}
    response = requests.post(
        f"{api}/tasks/{task_id}/logs", json=batch, headers=auth(USER), timeout=10
    )
    assert response.status_code == 200, response.text


def complete(api: str, task_id: str, lease: str) -> None:
    for report in ("started", "completed"):
        response = requests.post(
            f"{api}/tasks/{task_id}/{report}",
            json={"lease_token": lease},
            headers=auth(AGENT),
            timeout=10,
        )
        assert response.status_code == 200, response.text


def ticket(api: str, task_id: str, token: str = USER) -> requests.Response:
    url = f"{api}/tasks/{task_id}/logs/stream-ticket"
    return requests.post(url, headers=auth(token), timeout=10)


def follow(api: str, task_id: str, **headers: str) -> Follower:
    response = requests.get(
        f"{api}/tasks/{task_id}/logs/stream",
        params={"ticket": ticket(api, task_id).json()["ticket"]},
        headers=headers,
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    follower = Follower(response)
    threading.Thread(target=follower.run, daemon=True).start()
    return follower


def test_stream_sends_lines_as_they_arrive_then_end_once_the_task_is_final(api: str) -> None:
    task_id, lease, _ = running_task(api)
    log(api, task_id, 0, "before the follower")
    follower = follow(api, task_id)
    deadline = time.monotonic() + 10
    while follower.texts() != ["before the follower"] and time.monotonic() < deadline:
        time.sleep(0.05)
    log(api, task_id, 1, "after the follower", "second")
    complete(api, task_id, lease)
    assert follower.done.wait(10), f"no end event: {follower.events}"
    assert follower.texts() == ["before the follower", "after the follower", "second"]
    assert follower.events[-1] == Event("completed", None, "end")
    cursor = requests.get(f"{api}/tasks/{task_id}/logs", headers=auth(USER), timeout=10).json()[
        "cursor"
    ]
    assert [e.id for e in follower.events if e.id][-1] == cursor


def test_last_event_id_resumes_after_that_cursor(api: str) -> None:
    task_id, lease, _ = running_task(api)
    log(api, task_id, 0, "one", "two")
    cursor = requests.get(f"{api}/tasks/{task_id}/logs", headers=auth(USER), timeout=10).json()[
        "cursor"
    ]
    log(api, task_id, 1, "three")
    complete(api, task_id, lease)
    follower = follow(api, task_id, **{"Last-Event-ID": cursor})
    assert follower.done.wait(10)
    assert follower.texts() == ["three"]


def test_a_stream_ticket_opens_its_own_tasks_stream_and_a_token_in_the_query_nothing(
    api: str,
) -> None:
    task_id, lease, task_token = running_task(api)
    other_id, other_lease, _ = running_task(api)
    for done, held in ((task_id, lease), (other_id, other_lease)):
        complete(api, done, held)
    stream = f"{api}/tasks/{task_id}/logs/stream"
    assert requests.get(stream, timeout=10).status_code == 401
    # A token in a URL ends up in access logs: the stream no longer takes one.
    assert requests.get(stream, params={"token": USER}, timeout=10).status_code == 401
    assert ticket(api, task_id, AGENT).status_code == 403
    for token in (USER, task_token):
        grant = ticket(api, task_id, token).json()
        assert grant["expires_in"] == 60
        response = requests.get(stream, params={"ticket": grant["ticket"]}, timeout=10)
        assert response.status_code == 200
        assert response.text.rstrip().endswith("event: end\ndata: completed")
    other_ticket = ticket(api, other_id).json()["ticket"]
    refused = requests.get(stream, params={"ticket": other_ticket}, timeout=10)
    assert refused.status_code == 401 and "not valid for this task" in refused.json()["detail"]
    forged = other_ticket.replace(other_id, task_id)
    assert requests.get(stream, params={"ticket": forged}, timeout=10).status_code == 401
    logs = f"{api}/tasks/{task_id}/logs"
    assert requests.get(logs, params={"ticket": other_ticket}, timeout=10).status_code == 401


def test_unknown_task_or_cursor_is_an_error_before_the_stream_starts(api: str) -> None:
    missing = requests.get(f"{api}/tasks/{'0' * 32}/logs/stream", headers=auth(USER), timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    task_id, _, _ = running_task(api)
    bad = requests.get(
        f"{api}/tasks/{task_id}/logs/stream",
        headers={**auth(USER), "Last-Event-ID": "x"},
        timeout=10,
    )
    assert bad.status_code == 422
