"""Idempotent creates: a create or clone sent with an ``Idempotency-Key`` makes one task.

A client that got no answer, or a 503 after Redis had already applied the create (a
``WAIT`` not acknowledged in time, a connection cut after the script ran), cannot know
whether its task exists. It repeats the request with the same key; ``lua/create.lua``
looks the key up in the same script that creates, so the repeat answers the task the
first request made, and two concurrent sends of one key cannot both create. The record
(``keys.idempotency``) is written by that script with the task, so a failover that
loses the task loses the record too and the repeat creates it again.

The record keeps a hash of the request (method, route, body): the same key with another
request is refused, since answering it with the first task would hide that the second
was never made. After ``TTL_S`` the key is forgotten and a repeat creates anew.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from runyard_server.errors import Conflict, Invalid
from runyard_server.store import script_keys
from runyard_server.store.scripts import pairs

TTL_S = 24 * 60 * 60
"""How long a key is remembered: far longer than any client keeps retrying one call."""


@dataclass(frozen=True)
class Idempotency:
    """The ``Idempotency-Key`` of a request, and the hash of what it asked for."""

    key: str
    request: str

    @classmethod
    def of(cls, key: str, route: str, body: bytes) -> "Idempotency":
        """The key of a request to ``route`` (method and resolved path) with ``body``
        (its parsed model as canonical JSON, so spacing does not count)."""
        return cls(key, hashlib.sha256(route.encode() + b"\n" + body).hexdigest())

    def args(self) -> list[str | int]:
        """The arguments ``lua/create.lua`` takes after the task's."""
        return [self.request, TTL_S]


NO_KEY: list[str | int] = ["", 0]
"""``Idempotency.args`` of a create sent without a key."""


def declared(idem: Idempotency, seen: str | None) -> script_keys.Declared:
    """The keys a create with ``idem`` may touch besides its own: the record and, when
    ``seen`` (the task id the record held as the caller read it), that task's hash."""
    found = script_keys.idempotency(idem.key)
    if seen:
        found |= script_keys.task(seen)
    return found


def replayed(reply: list[Any], idem: Idempotency | None) -> tuple[str, dict[str, str]] | None:
    """The first task's id and hash when ``reply`` answers a repeat of ``idem``'s
    request; None for a reply that is not about the key. Another request under the
    key is Invalid; a first task deleted since is a Conflict."""
    code = reply[0]
    if idem is None or code not in ("replayed", "idem_other", "idem_gone"):
        return None
    first = str(reply[1])
    if code == "idem_other":
        raise Invalid(
            f"Idempotency-Key {idem.key!r} was first sent with another request (it made "
            f"task {first}); a different request needs a new key"
        )
    if code == "idem_gone":
        raise Conflict(
            f"Idempotency-Key {idem.key!r} made task {first}, which has been deleted since; "
            "send a new key to create it again"
        )
    return first, pairs(reply[2])
