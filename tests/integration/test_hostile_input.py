"""Hostile and bad input: each named case gets its 4xx and a message that names the problem.

Cases already in ``test_api_tasks.py`` (project '../etc', '--index-url', '--upload-pack'
repositories, unknown top-level fields, an oversize body or diff, illegal enqueue /
dequeue / abort) are not repeated here. App in-process, real Redis, tokens on.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runyard.models.limits import (
    MAX_ARTIFACT_BYTES,
    MAX_LOG_BATCH_BYTES,
    MAX_LOG_LINES_PER_BATCH,
    MAX_PAGE,
)
from runyard_server.config import Settings
from runyard_server.main import create_app

USER, AGENT = "user-hostile-123", "agent-hostile-456"
AS_AGENT = {"Authorization": f"Bearer {AGENT}"}


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, tokens=[f"user:{USER}", f"agent:{AGENT}"]
    )
    headers = {"Authorization": f"Bearer {USER}"}
    with TestClient(
        create_app(settings), base_url="http://localhost/api/v1", headers=headers
    ) as client:
        yield client


def refused(response: Any, status: int, error: str, fragment: str) -> None:
    """The response is ``status`` with error code ``error`` and ``fragment`` in its detail."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert fragment in response.json()["detail"], response.text


def new_task(api: TestClient, **fields: object) -> str:
    response = api.post("/tasks", json=fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def running_task(api: TestClient, worker_name: str = "w1") -> tuple[str, str, str]:
    """A task claimed by a new worker: (task id, worker id, lease token)."""
    task_id = new_task(
        api, queue=f"q-{worker_name}", create_queue=True, script={"entry_point": "train.py"}
    )
    worker = api.post(
        "/workers",
        json={"name": worker_name, "queues": [f"q-{worker_name}"], "resources": {}},
        headers=AS_AGENT,
    ).json()["id"]
    got = api.post(
        f"/workers/{worker}/claim",
        json={"queues": [f"q-{worker_name}"], "free": {}},
        headers=AS_AGENT,
    ).json()
    assert got["task"]["id"] == task_id
    return task_id, worker, got["lease_token"]


# --- malformed JSON, numbers JSON cannot carry, wrong types, unknown fields


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"name": "x",}', "malformed JSON"),
        (b'{"name": "x"', "malformed JSON"),
        (b"\xff\xfe{}", "malformed JSON"),
        (b'{"params": {"G": {"lr": NaN}}}', "NaN is not a JSON number"),
        (b'{"params": {"G": {"lr": Infinity}}}', "Infinity is not a JSON number"),
        (b'{"params": {"G": {"lr": 1e999}}}', "out of range"),
        (b'{"max_retries": ' + b"9" * 5000 + b"}", "digits"),
    ],
)
def test_unparseable_body_is_400(api: TestClient, raw: bytes, fragment: str) -> None:
    response = api.post("/tasks", content=raw, headers={"content-type": "application/json"})
    refused(response, 400, "bad_request", fragment)


def test_a_log_line_stamped_infinity_is_refused_and_the_log_stays_readable(
    api: TestClient,
) -> None:
    task_id = new_task(api)
    raw = b'{"seq": 0, "lines": [{"text": "x", "ts": 1e999}]}'
    response = api.post(
        f"/tasks/{task_id}/logs", content=raw, headers={"content-type": "application/json"}
    )
    refused(response, 400, "bad_request", "out of range")
    assert api.get(f"/tasks/{task_id}/logs").json()["lines"] == []


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/tasks", [1, 2], "valid dictionary"),
        ("/tasks", {"tags": "a"}, "tags"),
        ("/tasks", {"max_retries": "many"}, "max_retries"),
        ("/tasks", {"script": {"args": "--lr 1"}}, "script.args"),
        ("/tasks", {"script": {"evil": 1}}, "script.evil"),
        ("/tasks", {"environment": {"env": {"A=B": "x"}}}, "environment variable name"),
        ("/queues", {"name": "q", "owner": "me"}, "owner"),
        ("/local-runs", {"queue": "q"}, "not queued"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422(
    api: TestClient, path: str, body: object, fragment: str
) -> None:
    refused(api.post(path, json=body), 422, "invalid", fragment)


def test_a_body_that_is_not_json_is_refused(api: TestClient) -> None:
    # text/plain is a body a web page may send anywhere without a CORS preflight.
    response = api.post("/tasks", content=b'{"name": "x"}', headers={"content-type": "text/plain"})
    refused(response, 415, "unsupported_media_type", "application/json")
    response = api.post("/tasks", content=b'{"name": "x"}', headers={"content-type": "image/png"})
    refused(response, 422, "invalid", "body")


# --- sizes


def test_oversize_log_batch_is_413_and_too_many_lines_422(api: TestClient) -> None:
    task_id = new_task(api)
    big = {"seq": 0, "lines": [{"text": "x" * MAX_LOG_BATCH_BYTES, "ts": 1.0}]}
    refused(api.post(f"/tasks/{task_id}/logs", json=big), 413, "too_large", "log batch")
    many = {"seq": 1, "lines": [{"text": "", "ts": 1.0}] * (MAX_LOG_LINES_PER_BATCH + 1)}
    refused(api.post(f"/tasks/{task_id}/logs", json=many), 422, "invalid", "lines")
    assert api.get(f"/tasks/{task_id}/logs").json()["lines"] == []


def test_artifact_declared_over_its_limit_is_413_before_a_byte_is_stored(
    api: TestClient, tmp_path: Path
) -> None:
    task_id = new_task(api)
    response = api.post(
        f"/tasks/{task_id}/artifacts/model.pt",
        content=b"x",
        headers={"content-length": str(MAX_ARTIFACT_BYTES + 1)},
    )
    refused(response, 413, "too_large", str(MAX_ARTIFACT_BYTES))
    assert not (tmp_path / "artifacts" / task_id).exists()


# --- names with path separators or control characters


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/queues", {"name": "a/b"}, "invalid name"),
        ("/queues", {"name": "a\\b"}, "invalid name"),
        ("/queues", {"name": "a\x00b"}, "invalid name"),
        ("/queues", {"name": ".."}, "invalid name"),
        ("/tasks", {"project": "p/q"}, "invalid name"),
        ("/tasks", {"project": "p\x1b[31m"}, "invalid name"),
        ("/tasks", {"tags": ["a/b"]}, "invalid tag"),
        ("/tasks", {"tags": ["a\nb"]}, "invalid tag"),
        ("/tasks", {"name": "a\rb"}, "control characters"),
        ("/tasks", {"queue": "../q"}, "invalid name"),
        ("/workers", {"name": "../w", "queues": ["q"], "resources": {}}, "invalid name"),
        ("/workers", {"name": "w\n", "queues": ["q"], "resources": {}}, "invalid name"),
        ("/workers", {"name": "w", "queues": ["q/../r"], "resources": {}}, "invalid name"),
    ],
)
def test_names_with_separators_or_control_characters_are_422(
    api: TestClient, path: str, body: dict[str, object], fragment: str
) -> None:
    refused(api.post(path, json=body), 422, "invalid", fragment)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("%2e%2e", 422),
        ("%2e%2e%2fescape", 404),
        ("..%2f..%2fescape", 404),
        ("%2e%2e%5cescape", 422),
        ("a%00b", 422),
        ("%0aname", 422),
    ],
)
def test_artifact_names_that_try_traversal_write_nothing(
    api: TestClient, tmp_path: Path, name: str, status: int
) -> None:
    task_id = new_task(api)
    response = api.post(f"/tasks/{task_id}/artifacts/{name}", content=b"payload")
    assert response.status_code == status, response.text
    assert api.get(f"/tasks/{task_id}/artifacts/{name}").status_code == status
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"payload"]
    assert written == []


# --- pip options and git option injection


@pytest.mark.parametrize(
    "line",
    [
        "-e .",
        "-e git+https://example.com/x.git#egg=x",
        "--index-url http://evil.example/simple",
        "--extra-index-url=http://evil.example/simple",
        "-r other.txt",
        "  --trusted-host evil.example",
        "-c constraints.txt",
    ],
)
def test_requirement_lines_that_are_pip_options_are_422(api: TestClient, line: str) -> None:
    body = {"environment": {"requirements": ["numpy==2.0", line]}}
    refused(api.post("/tasks", json=body), 422, "invalid", "pip option")
    task_id = new_task(api)
    refused(api.patch(f"/tasks/{task_id}", json=body), 422, "invalid", "pip option")


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ({"repository": "-oProxyCommand=touch /tmp/pwned"}, "cannot be an option"),
        ({"repository": "--config=core.sshCommand=touch"}, "cannot be an option"),
        ({"branch": "--upload-pack=touch /tmp/pwned"}, "cannot be an option"),
        ({"branch": "-b"}, "cannot be an option"),
        ({"commit": "--output=/tmp/x"}, "hexadecimal"),
        ({"entry_point": "../../etc/passwd"}, "relative"),
        ({"working_dir": "/etc"}, "relative"),
    ],
)
def test_git_refs_and_repositories_that_are_options_are_422(
    api: TestClient, script: dict[str, str], fragment: str
) -> None:
    refused(api.post("/tasks", json={"script": script}), 422, "invalid", fragment)


def test_docker_image_that_is_an_option_is_422(api: TestClient) -> None:
    body = {"environment": {"docker_image": "--privileged"}}
    refused(api.post("/tasks", json=body), 422, "invalid", "image")


def test_package_index_that_is_a_url_is_422(api: TestClient) -> None:
    body = {"environment": {"package_index": "https://evil.example/simple"}}
    refused(api.post("/tasks", json=body), 422, "invalid", "package_index")


# --- status transitions and reports for tasks the agent does not hold


def test_illegal_transitions_are_409_naming_the_status(api: TestClient) -> None:
    task_id, _, token = running_task(api)
    refused(
        api.post(f"/tasks/{task_id}/enqueue", json={"queue": "q", "create_queue": True}),
        409,
        "conflict",
        "running",
    )
    refused(api.post(f"/tasks/{task_id}/dequeue"), 409, "conflict", "running")
    refused(api.delete(f"/tasks/{task_id}"), 409, "conflict", "running")
    refused(api.patch(f"/tasks/{task_id}", json={"name": "x"}), 409, "conflict", "running")
    done = {"lease_token": token, "exit_code": 0}
    assert api.post(f"/tasks/{task_id}/completed", json=done, headers=AS_AGENT).status_code == 200
    late = api.post(f"/tasks/{task_id}/started", json={"lease_token": token}, headers=AS_AGENT)
    refused(late, 409, "stale_lease", "completed")
    refused(api.post(f"/tasks/{task_id}/abort"), 409, "conflict", "completed")


def test_reports_for_a_task_the_agent_does_not_hold_are_refused(api: TestClient) -> None:
    task_id, holder, token = running_task(api, "holder")
    _, intruder, intruder_token = running_task(api, "intruder")
    for wrong in ("0" * 32, intruder_token):
        for report in ("started", "completed", "aborted", "requeue"):
            response = api.post(
                f"/tasks/{task_id}/{report}", json={"lease_token": wrong}, headers=AS_AGENT
            )
            refused(response, 409, "stale_lease", "no longer its own")
        failed = {"lease_token": wrong, "reason": "x"}
        response = api.post(f"/tasks/{task_id}/failed", json=failed, headers=AS_AGENT)
        refused(response, 409, "stale_lease", "running")
    # Another worker naming the task, even with its real token, does not hold it.
    beat = {"running": [{"task_id": task_id, "lease_token": token}]}
    reply = api.post(f"/workers/{intruder}/heartbeat", json=beat, headers=AS_AGENT).json()
    assert reply["lost"] == [task_id]
    logs: dict[str, object] = {"seq": 0, "lines": [{"text": "x", "ts": 1.0}]}
    response = api.post(f"/tasks/{task_id}/logs", json=logs, headers=AS_AGENT)
    refused(response, 403, "forbidden", "lease_token")
    logs["lease_token"] = intruder_token
    response = api.post(f"/tasks/{task_id}/logs", json=logs, headers=AS_AGENT)
    refused(response, 409, "stale_lease", "no longer its own")
    task = api.get(f"/tasks/{task_id}").json()
    assert (task["status"], task["worker"]) == ("running", holder)
    assert api.get(f"/tasks/{task_id}/logs").json()["lines"] == []


# --- ranges, pages and cursors


@pytest.mark.parametrize("wait_s", [-1, 30.5, 1e6, "soon"])
def test_claim_wait_out_of_range_is_422(api: TestClient, wait_s: object) -> None:
    worker = api.post(
        "/workers", json={"name": "w", "queues": ["q"], "resources": {}}, headers=AS_AGENT
    ).json()["id"]
    body = {"queues": ["q"], "free": {}, "wait_s": wait_s}
    response = api.post(f"/workers/{worker}/claim", json=body, headers=AS_AGENT)
    refused(response, 422, "invalid", "wait_s")


@pytest.mark.parametrize("priority", [-1001, 1001, -(10**18)])
def test_priority_out_of_range_is_422(api: TestClient, priority: int) -> None:
    task_id = new_task(api)
    refused(
        api.post("/tasks", json={"queue": "q", "create_queue": True, "priority": priority}),
        422,
        "invalid",
        "",
    )
    body = {"queue": "q", "create_queue": True, "priority": priority}
    refused(api.post(f"/tasks/{task_id}/enqueue", json=body), 422, "invalid", "priority")
    clone = {"queue": "q", "create_queue": True, "priority": priority}
    refused(api.post(f"/tasks/{task_id}/clone", json=clone), 422, "invalid", "priority")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/tasks", {"limit": MAX_PAGE + 1}),
        ("/tasks", {"limit": 10**30}),
        ("/tasks", {"limit": 0}),
        ("/tasks", {"limit": -5}),
        ("/queues/q", {"limit": 10**6}),
    ],
)
def test_huge_or_negative_limits_are_422(
    api: TestClient, path: str, params: dict[str, object]
) -> None:
    refused(api.get(path, params=params), 422, "invalid", "limit")


@pytest.mark.parametrize("cursor", ["abc", "-1", "1e5", "²", "١٢", "1 OR 1", "x" * 300])
def test_bad_task_cursors_are_422(api: TestClient, cursor: str) -> None:
    refused(api.get("/tasks", params={"cursor": cursor}), 422, "invalid", "cursor")


@pytest.mark.parametrize("after", ["garbage", "99999999999999999999-0", "1-2-3", "-", "x" * 65])
def test_bad_log_cursors_are_422(api: TestClient, after: str) -> None:
    task_id = new_task(api)
    response = api.get(f"/tasks/{task_id}/logs", params={"after": after})
    refused(response, 422, "invalid", "")


def test_unknown_route_is_404_and_wrong_method_405_with_allow(api: TestClient) -> None:
    refused(api.get("/nope"), 404, "not_found", "no route")
    response = api.put("/tasks")
    refused(response, 405, "method_not_allowed", "PUT")
    assert response.headers["allow"] == "GET, POST"
