"""Users, their API tokens and who a request is (issue 15)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from runyard.models.names import Name
from runyard.models.strict import Strict

UserRole = Literal["admin", "member", "viewer"]
"""A user's global role: viewers read, members and admins change things, admins also
manage agent-pool tokens and every user's tokens."""


ProjectRole = Literal["viewer", "member", "maintainer"]
"""A user's role in one project: viewers read, members create and change their own
tasks, maintainers change anyone's tasks there and manage the project's members."""


class MemberSet(Strict):
    """``PUT /projects/{name}/members/{user}``: the user's role in the project."""

    role: ProjectRole = "member"


class ProjectMember(BaseModel):
    """One member of a project (``GET /projects/{name}/members``)."""

    user: str
    role: ProjectRole


class TokenCreate(Strict):
    """``POST /tokens``: a token for the caller, or (admins) for an agent pool."""

    name: Name = "default"
    expires_in_s: int | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="seconds until it stops working"
    )
    pool: Name | None = Field(
        default=None, description="an agent-pool token (admins only) instead of a user token"
    )


class TokenInfo(BaseModel):
    """A stored token as listed: never its secret."""

    id: str
    name: str
    user: str | None = None
    pool: str | None = None
    created: datetime
    expires: datetime | None = None


class TokenCreated(TokenInfo):
    """The reply to ``POST /tokens``: the only time the secret is shown."""

    token: str


class Me(BaseModel):
    """``GET /me``: who the server takes the caller to be."""

    kind: Literal["open", "user", "agent", "metrics", "task"]
    user: str | None = None
    role: UserRole | None = None


class User(BaseModel):
    """``GET /users``: a named user (admins only)."""

    name: str
    role: UserRole
    created: datetime


class UserPatch(Strict):
    """``PATCH /users/{name}``: a new global role."""

    role: UserRole
