"""Bearer tokens: user, agent and metrics tokens from the settings, task tokens per attempt.

A metrics token is for a Prometheus scraper: it reads ``/metrics`` and nothing else, so
the credential kept in a monitoring stack cannot read tasks or run code on agents.

A task token (``rytask.<task id>.<hmac>``) is handed to a running script so it can
write to its own task and nothing else. It is an HMAC over the task id and the lease
token of the attempt, keyed by a hash of the configured tokens: every replica can
check it, and it stops working the moment the task is claimed again, so an orphaned
earlier attempt can never write into the rerun.

A stream ticket (``rystream.<task id>.<expiry>.<hmac>``) opens one task's log stream
until its expiry, about a minute: a browser's ``EventSource`` cannot send a header,
and the ticket rides in the URL instead of the user's token, so what a proxy's access
log keeps is worth little. It is signed with another key drawn from the same tokens,
so every replica checks it without shared state, and changing the tokens voids it.

Named users (``store/identity.py``) present stored tokens (``ry_...``), looked up by
hash on every request. A configured user token is the bootstrap admin, named
``admin``. A viewer may read but not change anything: every method but GET and HEAD
is refused in the one dependency every route takes (``api/deps.py``), save the reads
sent as POST (:data:`READS_BY_POST`). A server with no configured tokens stays open,
as before: a stored token presented there still names its user (and is checked).
"""

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, cast

from runyard.models import UserRole, is_valid_task_id
from runyard_server.config import ApiToken
from runyard_server.errors import Forbidden, Unauthorized
from runyard_server.store.identity import TOKEN_PREFIX

PrincipalRole = Literal["open", "user", "agent", "metrics", "task"]
_TASK_PREFIX = "rytask."
_TICKET_PREFIX = "rystream."
TICKET_S = 60
"""How long a stream ticket opens its task's stream."""
BOOTSTRAP_USER = "admin"
"""The user a configured (``--token``) user token acts as."""
READS_BY_POST = frozenset({"/tasks/{task_id}/logs/stream-ticket"})
"""POST routes that change nothing, which a viewer may call (paths below the API prefix)."""
StoredLookup = Callable[[str], Awaitable[dict[str, str] | None]]
"""The record of a live stored token, by its secret (None: unknown, revoked, expired)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``open`` when no tokens are configured."""

    role: PrincipalRole
    task_id: str | None = None
    user: str | None = None
    level: UserRole | None = None
    """The user's global role (a ``user`` principal only)."""
    pool: str | None = None
    """The agent pool of a stored agent token."""

    @property
    def owner(self) -> str | None:
        """What a task it creates records as its owner (agents create none)."""
        return self.user

    @property
    def is_admin(self) -> bool:
        """An admin user, or anyone on an open server."""
        return self.role == "open" or self.level == "admin"

    def require_admin(self) -> None:
        """Raise Forbidden unless the caller is an admin."""
        if not self.is_admin:
            who = f"user {self.user}" if self.user else self.role
            raise Forbidden(f"this needs the admin role; {who} is a {self.level}")

    def check_write(self, method: str, route: str) -> None:
        """Raise Forbidden when a viewer calls a route that changes something."""
        writes = method not in ("GET", "HEAD") and route not in READS_BY_POST
        if self.level == "viewer" and writes:
            raise Forbidden(f"user {self.user} has the role viewer, which cannot change anything")

    def require(self, *roles: PrincipalRole) -> None:
        """Raise Forbidden unless the caller has one of ``roles`` (``open`` may do anything)."""
        if self.role != "open" and self.role not in roles:
            allowed = " or ".join(roles)
            raise Forbidden(f"a {self.role} token cannot do this; it needs a {allowed} token")

    def require_task(self, task_id: str, *roles: PrincipalRole) -> None:
        """Allow ``roles``, or a task token for exactly this task."""
        if self.role == "task" and self.task_id == task_id:
            return
        self.require(*roles)


class TokenBook:
    """Checks bearer tokens in constant time and mints task tokens."""

    def __init__(self, tokens: list[ApiToken]) -> None:
        self._tokens = [(t.token.encode(), t.role) for t in tokens]
        joined = "\n".join(sorted(t.token for t in tokens)).encode()
        self._key = hashlib.sha256(b"runyard-task-token\n" + joined).digest()
        self._ticket_key = hashlib.sha256(b"runyard-stream-ticket\n" + joined).digest()

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    async def authenticate(
        self,
        authorization: str | None,
        current_lease: Callable[[str], Awaitable[str | None]],
        stored: StoredLookup,
    ) -> Principal:
        """Who sends ``authorization``; ``current_lease(task_id)`` checks task tokens,
        ``stored`` finds stored tokens."""
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if presented.startswith(TOKEN_PREFIX) and scheme.lower() == "bearer":
            return await _stored_principal(presented, stored)
        if not self.enabled:
            return Principal("open")
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("this server needs a token: send 'Authorization: Bearer TOKEN'")
        candidate = presented.encode()
        role: PrincipalRole | None = None
        for secret, secret_role in self._tokens:
            # Compare against every token so timing does not reveal which one matched.
            if hmac.compare_digest(candidate, secret):
                role = secret_role
        if role == "user":
            return Principal("user", user=BOOTSTRAP_USER, level="admin")
        if role is not None:
            return Principal(role)
        task_id = await self._task_of(presented, current_lease)
        if task_id is not None:
            return Principal("task", task_id)
        raise Unauthorized(
            "the token is not valid for this server (a task token is valid only while "
            "the attempt it was given to holds the task)"
        )

    def task_token(self, task_id: str, lease_token: str) -> str | None:
        """A token for the script of this attempt of ``task_id``; None when open."""
        if not self.enabled:
            return None
        return f"{_TASK_PREFIX}{task_id}.{self._sign(task_id, lease_token)}"

    def stream_ticket(self, task_id: str, now: float) -> str:
        """A ticket for ``task_id``'s log stream, good for :data:`TICKET_S` from ``now``."""
        expiry = int(now) + TICKET_S
        return f"{_TICKET_PREFIX}{task_id}.{expiry}.{self._sign_ticket(task_id, expiry)}"

    def check_stream_ticket(self, ticket: str, task_id: str, now: float) -> None:
        """Raise Unauthorized unless ``ticket`` is an unexpired ticket for ``task_id``."""
        if not self.enabled:
            return
        ticket_task, _, rest = ticket.removeprefix(_TICKET_PREFIX).partition(".")
        expiry, _, signature = rest.partition(".")
        signed = (
            ticket.startswith(_TICKET_PREFIX)
            and expiry.isdigit()
            and hmac.compare_digest(
                signature.encode(), self._sign_ticket(ticket_task, int(expiry)).encode()
            )
        )
        if not signed or ticket_task != task_id:
            raise Unauthorized("the stream ticket is not valid for this task's log stream")
        if int(expiry) < now:
            raise Unauthorized("the stream ticket has expired: ask for a new one")

    def _sign_ticket(self, task_id: str, expiry: int) -> str:
        message = f"{task_id}:{expiry}".encode()
        return hmac.new(self._ticket_key, message, hashlib.sha256).hexdigest()

    def _sign(self, task_id: str, lease_token: str) -> str:
        message = f"{task_id}:{lease_token}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def _task_of(
        self, presented: str, current_lease: Callable[[str], Awaitable[str | None]]
    ) -> str | None:
        if not presented.startswith(_TASK_PREFIX):
            return None
        task_id, _, signature = presented[len(_TASK_PREFIX) :].partition(".")
        if not is_valid_task_id(task_id):
            return None
        lease = await current_lease(task_id)
        if lease and hmac.compare_digest(signature.encode(), self._sign(task_id, lease).encode()):
            return task_id
        return None


async def _stored_principal(secret: str, stored: StoredLookup) -> Principal:
    record = await stored(secret)
    if record is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    if record["pool"]:
        return Principal("agent", pool=record["pool"])
    # The role is read per request too, so a changed role counts at once.
    return Principal("user", user=record["user"], level=cast(UserRole, record["role"]))
