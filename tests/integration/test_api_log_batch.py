"""``POST /tasks/{id}/logs`` answers as ``LogBatch`` (pydantic) reads the body, whichever
reader took it: a body only pydantic reads is stored as its plain twin is, and each
refusal keeps its status and names the field or the problem."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runyard_server.config import Settings
from runyard_server.main import create_app

JSON = {"content-type": "application/json"}


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path)
    with TestClient(create_app(settings), base_url="http://localhost/api/v1") as client:
        yield client


def post(api: TestClient, raw: bytes) -> tuple[str, int, dict[str, object]]:
    task_id = api.post("/tasks", json={}).json()["id"]
    response = api.post(f"/tasks/{task_id}/logs", content=raw, headers=JSON)
    return task_id, response.status_code, response.json()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"seq":0,"lines":[{"text":"x","ts":2.5}]}',  # the fast reader's
        b'{"seq":0.0,"lines":[{"text":"x","ts":2.5}]}',
        b'{"seq":"0","lines":[{"text":"x","ts":"2.5"}]}',
        b'{"seq":false,"lines":[{"text":"x","ts":2.5,"stream":"stdout"}],"dropped":0.0}',
    ],
)
def test_a_body_either_reader_takes_is_stored_the_same(api: TestClient, raw: bytes) -> None:
    task_id, status, ack = post(api, raw)
    assert (status, ack) == (200, {"accepted": True})
    lines = api.get(f"/tasks/{task_id}/logs").json()["lines"]
    assert lines == [{"stream": "stdout", "text": "x", "ts": 2.5}]


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        (b'{"seq":0,"lines":[{"text":"x","ts":"soon"}]}', 422, "lines.0.ts: "),
        (b'{"seq":0,"lines":[{"text":7,"ts":1}]}', 422, "lines.0.text: "),
        (b'{"seq":0,"lines":[{"text":"x","ts":1,"stream":"out"}]}', 422, "lines.0.stream: "),
        (b'{"seq":0,"lines":[{"text":"x","ts":1,"level":1}]}', 422, "lines.0.level: "),
        (b'{"seq":-1,"lines":[]}', 422, "seq: "),
        (b'{"seq":0,"lines":[],"dropped":1000000000001}', 422, "dropped: "),
        (b'{"seq":0,"lines":[],"lease_token":"' + b"t" * 129 + b'"}', 422, "lease_token: "),
        (b'{"seq":0,"lines":[{"text":"x","ts":NaN}]}', 400, "out of range"),
        (b'{"seq":0,"lines":[{"text":"x","ts":1e999}]}', 400, "out of range"),
        (b'{"seq":0,"lines":[{"text":"x","ts":1e35}]}', 422, "unix time"),
        (b'{"seq":0,"lines":[{"text":"x","ts":1}],}', 400, "malformed JSON"),
    ],
)
def test_a_refused_body_keeps_its_answer(
    api: TestClient, raw: bytes, status: int, fragment: str
) -> None:
    task_id, got, error = post(api, raw)
    assert got == status, error
    assert fragment in str(error["detail"]), error
    assert api.get(f"/tasks/{task_id}/logs").json()["lines"] == []
