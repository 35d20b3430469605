"""Schemathesis against the server's own OpenAPI: no 5xx, every response as documented.

A real ``runyard-server`` (embedded Redis, tokens on) answers every generated
request twice: once as generated (random ids, so mostly 404s and 422s), once with
the path's ids swapped for a fresh draft task and a registered worker, so the
bodies reach the store. Bounded: few examples per operation, no deadline. A second
pass sends valid requests as a named member of a project that lists its members,
on tasks of the bootstrap admin, so the role checks (``permissions.py``) answer too.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.schemas import APIOperation

from tests.integration.test_identity import add_user
from tests.servers import ServerProcess

USER = "user-fuzz-secret-1"
AUTH = {"Authorization": f"Bearer {USER}"}
MEMBER: dict[str, str] = {}
"""A named member's header, set by the fixture."""
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
EXAMPLES = 6
"""Per operation and mode (valid, invalid): about 400 cases in about 30 s."""
MAX_WAIT_S = 0.2
"""A generated claim may ask to wait 30 s; the fuzz run caps it."""


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    server = ServerProcess(
        home / "data", ["--token", f"user:{USER}", "--no-jobs"], home / "server.log"
    )
    server.start()
    secret = add_user(["--data-dir", str(home / "data")], "fuzzy", "member")
    MEMBER["Authorization"] = f"Bearer {secret}"
    url = f"{server.api}/projects/default/members/fuzzy"
    requests.put(url, json={"role": "member"}, headers=AUTH, timeout=10).raise_for_status()
    yield server
    server.stop()


def _operations(server: ServerProcess) -> list[APIOperation]:
    loaded = schemathesis.openapi.from_url(f"{server.api}/openapi.json", headers=AUTH)
    # The log stream holds a live task's response open for 15 s; its own tests cover it.
    return [
        result.ok()
        for result in loaded.get_all_operations()
        if not result.ok().path.endswith("/logs/stream")
    ]


def _real_ids(api: str) -> dict[str, str]:
    task = requests.post(f"{api}/tasks", json={"name": "fuzz"}, headers=AUTH, timeout=10)
    worker = requests.post(
        f"{api}/workers",
        json={"name": "fuzzer", "queues": ["fuzz"], "resources": {}},
        headers=AUTH,
        timeout=10,
    )
    return {"task_id": task.json()["id"], "worker_id": worker.json()["id"], "name": "fuzz"}


def _cap_wait(body: Any) -> None:
    if isinstance(body, dict) and isinstance(body.get("wait_s"), int | float):
        body["wait_s"] = min(body["wait_s"], MAX_WAIT_S)


def _fuzz(operation: APIOperation, mode: GenerationMode, api: str, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        _cap_wait(case.body)
        case.call_and_validate(headers=auth, checks=CHECKS, timeout=10)
        if case.path_parameters:
            ids = _real_ids(api)
            case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
            case.call_and_validate(headers=auth, checks=CHECKS, timeout=10)

    try:
        run()
    except Unsatisfiable:
        # An operation with no parameter and no body has no invalid request to make.
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_every_operation_answers_as_documented(fuzz_server: ServerProcess) -> None:
    operations = _operations(fuzz_server)
    assert len(operations) > 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, fuzz_server.api, AUTH)


def test_a_project_member_gets_answers_as_documented(fuzz_server: ServerProcess) -> None:
    for operation in _operations(fuzz_server):
        _fuzz(operation, GenerationMode.POSITIVE, fuzz_server.api, MEMBER)
