"""The Lua scripts in ``lua/`` and the meaning of their replies.

Every script gets ``common.lua`` prepended and ``keys.LUA_KEYS`` as ARGV[1]. A
script that touches one task replies ``{'ok', HGETALL}`` or an error code:
``missing``, ``conflict`` (with the current status) or ``stale``.
"""

from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from runyard_server.errors import Conflict, NotFound, StaleLease
from runyard_server.store import keys


@cache
def source(name: str) -> str:
    """The text of ``lua/{name}.lua`` with its name (``SCRIPT``, the "by" of the
    events it appends) and the common helpers in front."""
    folder = resources.files("runyard_server.store") / "lua"
    common = (folder / "common.lua").read_text()
    return f"local SCRIPT = '{name}'\n{common}\n" + (folder / f"{name}.lua").read_text()


async def run(r: "aioredis.Redis", name: str, *args: str | int | float | bytes) -> Any:
    """Run a script (EVALSHA, loading it on first use) and return its raw reply."""
    script = r.register_script(source(name))
    return await script(args=[keys.LUA_KEYS, *args])


def pairs(flat: list[str]) -> dict[str, str]:
    """``[k1, v1, k2, v2]`` (an HGETALL reply from Lua) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def no_queue(queue: str) -> NotFound:
    """The error for a task sent to a queue that does not exist."""
    return NotFound(
        f"queue {queue} does not exist: create it (`runyard queue create {queue}`) "
        "or ask for it to be created with the task (--create-queue; API: create_queue)"
    )


def task_reply(reply: list[Any], task_id: str, rule: str) -> dict[str, str]:
    """The task hash from a script reply, or the domain error it stands for.

    ``rule`` completes a Conflict message, e.g. "only a draft task can be enqueued".
    """
    code = reply[0]
    if code == "ok":
        return pairs(reply[1])
    if code == "missing":
        raise NotFound(f"task {task_id} does not exist")
    if code == "no_queue":
        raise no_queue(reply[1])
    if code == "conflict":
        raise Conflict(f"task {task_id} is {reply[1]}; {rule}")
    if code == "stale":
        raise StaleLease(
            f"task {task_id} is {reply[1]} and this lease token is no longer its own: "
            "stop the process and report nothing more"
        )
    raise RuntimeError(f"unexpected reply {code!r} from a store script")
