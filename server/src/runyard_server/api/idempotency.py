"""The ``Idempotency-Key`` header of the create routes (``store/idempotency.py`` says
what the server does with it).

The key is the client's: any 1-255 printable ASCII characters, a fresh UUID per
logical request being the usual choice (the SDK's). A key that breaks those rules is
a 422 naming it, never silently ignored: a client that sends one counts on it.
"""

from typing import Annotated

from fastapi import Depends, Header
from pydantic import BaseModel

from runyard.models.limits import MAX_IDEMPOTENCY_KEY_CHARS
from runyard.models.routes import IDEMPOTENCY_KEY_HEADER
from runyard_server.errors import Invalid
from runyard_server.store import Idempotency


async def _key(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            description="repeat a create with the same key to get the task the first "
            f"request made instead of a second one (1-{MAX_IDEMPOTENCY_KEY_CHARS} printable "
            "ASCII characters, remembered 24 h)",
        ),
    ] = None,
) -> str | None:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency on its
    # thread pool, a hand-off that cost each create more than the check itself.
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise Invalid(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} characters, "
            f"not {len(key)}"
        )
    if not (key.isascii() and key.isprintable()):
        raise Invalid(
            f"{IDEMPOTENCY_KEY_HEADER} must be printable ASCII (a UUID is a good key), not {key!r}"
        )
    return key


IdempotencyKeyDep = Annotated[str | None, Depends(_key)]


def once(key: str | None, route: str, body: BaseModel) -> Idempotency | None:
    """What the store needs to make the request to ``route`` (method and path, ids
    resolved) with ``body`` once per ``key``; None without a key."""
    if key is None:
        return None
    return Idempotency.of(key, route, body.model_dump_json().encode())
