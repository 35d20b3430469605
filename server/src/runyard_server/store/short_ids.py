"""Short task ids: a unique prefix of a task id stands for the whole id.

Every task id is in ``ry:ids`` at score 0, so the ids starting with a prefix are one
lex range of it. Prefixes shorter than ``MIN_PREFIX`` are not looked up: with 32 hex
digits per id, six keep a prefix unique among millions of tasks in practice.
"""

import re
from typing import cast

import redis.asyncio as aioredis

from runyard.models import is_valid_task_id
from runyard_server.errors import Invalid, NotFound
from runyard_server.store import keys

MIN_PREFIX = 6
"""The fewest hex digits a short id may have."""

_SHOWN = 5
"""How many matches an ambiguous prefix's error lists."""

_PREFIX = re.compile(f"[0-9a-f]{{{MIN_PREFIX},31}}")


async def resolve_task_id(r: "aioredis.Redis", given: str) -> str:
    """The full id that ``given`` (a full id or a unique prefix of ≥ 6 hex digits)
    names; anything else is returned as it is, for the caller's own NotFound.

    Raises NotFound when no task id starts with the prefix and Invalid when several do,
    listing them.
    """
    if is_valid_task_id(given) or not _PREFIX.fullmatch(given):
        return given
    # Ids are lowercase hex, so every id with the prefix sorts below prefix + "g".
    matches = cast(
        list[str],
        await r.zrangebylex(keys.TASK_IDS, f"[{given}", f"({given}g", start=0, num=_SHOWN + 1),
    )
    if not matches:
        raise NotFound(f"no task id starts with {given}")
    if len(matches) > 1:
        more = ", …" if len(matches) > _SHOWN else ""
        listed = ", ".join(matches[:_SHOWN])
        raise Invalid(f"task id prefix {given} is ambiguous: it matches {listed}{more}; add digits")
    return matches[0]
