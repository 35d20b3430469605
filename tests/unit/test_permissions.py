"""``permissions.can``: the rules on hand-made targets (no Redis; the integration tests
in ``test_project_roles.py`` read the same targets from a real one)."""

import pytest

from runyard_server.auth import Principal
from runyard_server.errors import Forbidden
from runyard_server.permissions import Target, can

MO = Principal("user", user="mo", level="member")


def test_a_task_without_an_owner_is_any_project_members_to_change() -> None:
    can(MO, "change", Target("p", owner=None, listed=True, role="member"))
    with pytest.raises(Forbidden, match="belongs to mel"):
        can(MO, "change", Target("p", owner="mel", listed=True, role="member"))


def test_callers_no_rule_applies_to() -> None:
    closed = Target("p", owner="mel", listed=True, role=None, queue="q", allowed_users=("x",))
    for who in (Principal("open"), Principal("user", user="ada", level="admin")):
        for action in ("create", "change", "manage", "admin"):
            can(who, action, closed)


def test_a_queue_rule_is_named_in_the_refusal() -> None:
    target = Target("p", queue="prod", allowed_users=("mia", "ada"))
    with pytest.raises(Forbidden, match="queue prod is restricted to users mia, ada: user mo"):
        can(MO, "create", target)
    can(MO, "create", Target("p", queue="prod", allowed_projects=("p",)))
    can(MO, "create", Target("p", queue="prod"))  # no rule: anyone


def test_only_an_admin_does_what_spans_projects() -> None:
    maintainer = Target("p", listed=True, role="maintainer")
    can(MO, "manage", maintainer)
    with pytest.raises(Forbidden, match="needs the admin role; user mo is a member"):
        can(MO, "admin", maintainer)
