"""Project roles by task routes by own and others' tasks, queue restrictions and the
membership API, on a real Redis (``permissions.py`` holds the rules).

Project ``p`` lists its members: mia maintains it, mo and mel are members, vic a viewer.
max maintains ``p2`` only; ada is a global admin. Each route runs on a fresh task.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runyard.models import API_PREFIX, UserRole
from runyard_server.auth import READS_BY_POST
from runyard_server.config import Settings
from runyard_server.main import create_app
from tests.integration.test_auth_matrix import AGENT_MAY, _stored_user, bearer, operations

ADMIN = "bootstrap-roles-secret-1"
SCRIPT = {"entry_point": "train.py"}
CHANGES: list[tuple[str, str, Any]] = [
    ("PATCH", "/tasks/{id}", {"name": "renamed"}),
    ("POST", "/tasks/{id}/enqueue", {"queue": "q"}),
    ("POST", "/tasks/{id}/move", {"queue": "q2", "create_queue": True}),
    ("POST", "/queues/q/move", {"task_id": "{id}", "to": "top"}),
    ("POST", "/tasks/{id}/dequeue", None),
    ("POST", "/tasks/{id}/abort", None),
    ("DELETE", "/tasks/{id}", None),
    ("POST", "/tasks/{id}/logs", {"seq": 7, "lines": [{"text": "x", "ts": 1.0}]}),
    ("POST", "/tasks/{id}/metrics", {"points": [{"series": "s", "value": 1, "ts": 1}]}),
    ("POST", "/tasks/{id}/artifacts/a.txt", {"any": "bytes"}),
]
"""The routes that change a task: its owner's or its project maintainers' to call."""
CLONE = ("POST", "/tasks/{id}/clone", {})
USERS: dict[str, UserRole] = {
    "ada": "admin",
    "mia": "member",
    "mo": "member",
    "mel": "member",
    "vic": "member",
    "max": "member",
}


@dataclass
class Team:
    api: TestClient
    tokens: dict[str, dict[str, str]]

    def new_task(self, owner: str, project: str = "p", queue: str | None = "q") -> str:
        body = {"project": project, "script": SCRIPT, "queue": queue, "create_queue": True}
        got = self.api.post("/api/v1/tasks", json=body, headers=self.tokens[owner])
        assert got.status_code == 201, got.text
        return str(got.json()["id"])

    def call(self, who: str, op: tuple[str, str, Any], task_id: str) -> tuple[int, str]:
        method, path, body = op
        if isinstance(body, dict):
            body = {k: (task_id if v == "{id}" else v) for k, v in body.items()}
        url = "/api/v1" + path.format(id=task_id)
        got = self.api.request(method, url, json=body, headers=self.tokens[who])
        assert got.status_code < 500, got.text
        return got.status_code, got.text

    def member(self, who: str, project: str, user: str, role: str) -> int:
        url = f"/api/v1/projects/{project}/members/{user}"
        return self.api.put(url, json={"role": role}, headers=self.tokens[who]).status_code


@pytest.fixture
def team(redis_url: str, tmp_path: Path) -> Iterator[Team]:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, tokens=[f"user:{ADMIN}"])
    with TestClient(create_app(settings), base_url="http://localhost") as api:
        tokens = {"root": bearer(ADMIN)}
        for name, level in USERS.items():
            tokens[name] = bearer(asyncio.run(_stored_user(redis_url, name, level)))
        t = Team(api, tokens)
        for user, role in (("mia", "maintainer"), ("mo", "member"), ("mel", "member")):
            assert t.member("ada", "p", user, role) == 200
        assert t.member("mia", "p", "vic", "viewer") == 200
        assert t.member("root", "p2", "max", "maintainer") == 200
        yield t


def allowed(status: int) -> bool:
    return status not in (401, 403)


@pytest.mark.parametrize(
    ("who", "owner", "may_change", "may_clone"),
    [
        ("mo", "mo", True, True),  # a member on their own task
        ("mo", "mel", False, True),  # a member on another's: clone yes, change no
        ("mia", "mel", True, True),  # the project's maintainer on anyone's
        ("max", "mel", False, False),  # another project's maintainer
        ("vic", "mel", False, False),  # the project's viewer
        ("ada", "mel", True, True),  # a global admin
        ("root", "mel", True, True),  # the bootstrap (configured) token
    ],
)
def test_roles_on_own_and_others_tasks(
    team: Team, who: str, owner: str, may_change: bool, may_clone: bool
) -> None:
    got = {op[:2]: team.call(who, op, team.new_task(owner)) for op in [*CHANGES, CLONE]}
    clone_status, _ = got.pop(CLONE[:2])
    assert allowed(clone_status) == may_clone
    assert {op: allowed(s) for op, (s, _) in got.items()} == {op: may_change for op in got}
    if not may_change:
        reasons = {text for _, text in got.values()}
        expected = {
            "mo": "may change only their own tasks",
            "max": "is not a member of project p, which lists its members",
            "vic": "is a viewer of project p",
        }[who]
        assert all(expected in reason for reason in reasons), reasons


def test_every_route_that_writes_to_a_task_is_in_the_role_matrix(team: Team) -> None:
    writes = {
        (method, path.removeprefix(API_PREFIX))
        for method, path in operations(team.api)
        if method != "GET" and "{task_id}" in path and (method, path) not in AGENT_MAY
    }
    covered = {(m, p.replace("{id}", "{task_id}")) for m, p, _ in [*CHANGES, CLONE]}
    covered = {(m, p.replace("a.txt", "{name}")) for m, p in covered}
    assert writes - covered == {("POST", path) for path in READS_BY_POST}


def test_creating_in_a_listed_project_needs_membership(team: Team) -> None:
    assert team.new_task("max", project="p2")
    body = {"project": "p", "script": SCRIPT}
    for who, status in (("max", 403), ("vic", 403), ("mo", 201), ("mia", 201)):
        got = team.api.post("/api/v1/tasks", json=body, headers=team.tokens[who])
        assert got.status_code == status, (who, got.text)
    batch = {"tasks": [{"project": "open-proj", "script": SCRIPT}, body]}
    got = team.api.post("/api/v1/tasks:batch", json=batch, headers=team.tokens["max"])
    assert got.status_code == 403 and "project p" in got.text
    # Moving one's task into a project one is not a member of is creating there.
    mine = team.new_task("max", project="p2", queue=None)
    url = f"/api/v1/tasks/{mine}"
    assert team.api.patch(url, json={"project": "p"}, headers=team.tokens["max"]).status_code == 403


def test_a_project_without_members_is_open_to_every_member(team: Team) -> None:
    theirs = team.new_task("mel", project="open-proj")
    # Members act on their own tasks there; others' stay theirs.
    assert team.call("mo", ("POST", "/tasks/{id}/abort", None), theirs)[0] == 403
    assert team.call("mel", ("POST", "/tasks/{id}/abort", None), theirs)[0] == 200
    assert team.call("mo", CLONE, theirs)[0] == 201


def test_membership_is_managed_by_maintainers_and_admins(team: Team) -> None:
    members = team.api.get("/api/v1/projects/p/members", headers=team.tokens["vic"]).json()
    assert {m["user"]: m["role"] for m in members} == {
        "mia": "maintainer",
        "mo": "member",
        "mel": "member",
        "vic": "viewer",
    }
    assert team.member("mo", "p", "max", "member") == 403
    assert team.member("max", "p", "max", "maintainer") == 403
    assert team.member("mia", "open-proj", "mo", "maintainer") == 403  # no maintainers yet
    assert team.member("mia", "p", "nobody", "member") == 404
    assert team.member("mia", "p", "max", "bogus") == 422
    assert team.member("mia", "p", "max", "member") == 200
    assert team.new_task("max")  # max may create in p now
    url = "/api/v1/projects/p/members/max"
    assert team.api.delete(url, headers=team.tokens["mo"]).status_code == 403
    assert team.api.delete(url, headers=team.tokens["mia"]).status_code == 204
    assert team.api.delete(url, headers=team.tokens["mia"]).status_code == 404
    body = {"project": "p", "script": SCRIPT}
    assert team.api.post("/api/v1/tasks", json=body, headers=team.tokens["max"]).status_code == 403


def test_a_restricted_queue_takes_only_allowed_projects_and_users(team: Team) -> None:
    team.api.post("/api/v1/queues", json={"name": "prod"}, headers=team.tokens["root"])
    rule = {"allowed_projects": ["p2"], "allowed_users": ["mia"]}
    url = "/api/v1/queues/prod"
    assert team.api.patch(url, json=rule, headers=team.tokens["mia"]).status_code == 403
    got = team.api.patch(url, json=rule, headers=team.tokens["ada"])
    assert got.status_code == 200 and got.json()["allowed_users"] == ["mia"]
    listed = team.api.get("/api/v1/queues", headers=team.tokens["vic"]).json()
    assert [q["allowed_projects"] for q in listed if q["name"] == "prod"] == [["p2"]]

    body = {"project": "p", "script": SCRIPT, "queue": "prod"}
    refused = team.api.post("/api/v1/tasks", json=body, headers=team.tokens["mo"])
    assert refused.status_code == 403
    assert "queue prod is restricted to projects p2 and users mia" in refused.text
    assert team.api.post("/api/v1/tasks", json=body, headers=team.tokens["mia"]).status_code == 201
    assert team.new_task("max", project="p2", queue="prod")  # an allowed project
    assert team.new_task("ada", project="p", queue="prod")  # admins may use any queue

    mine = team.new_task("mo")
    for op in (
        ("POST", "/tasks/{id}/move", {"queue": "prod"}),
        ("POST", "/tasks/{id}/clone", {"queue": "prod"}),
    ):
        status, text = team.call("mo", op, mine)
        assert status == 403 and "queue prod is restricted" in text
    draft = team.new_task("mo", queue=None)
    assert team.call("mo", ("POST", "/tasks/{id}/enqueue", {"queue": "prod"}), draft)[0] == 403
    # Cleared, anyone may use it again.
    clear = {"allowed_projects": [], "allowed_users": []}
    assert team.api.patch(url, json=clear, headers=team.tokens["ada"]).status_code == 200
    assert team.call("mo", ("POST", "/tasks/{id}/enqueue", {"queue": "prod"}), draft)[0] == 200


def test_purging_and_queue_settings_need_an_admin(team: Team) -> None:
    purge = {"older_than_days": 30, "dry_run": True}
    for who, status in (("mia", 403), ("ada", 200), ("root", 200)):
        got = team.api.post("/api/v1/tasks/purge", json=purge, headers=team.tokens[who])
        assert got.status_code == status, (who, got.text)
    got = team.api.delete("/api/v1/queues/q2", headers=team.tokens["mia"])
    assert got.status_code == 403 and "needs the admin role" in got.text
