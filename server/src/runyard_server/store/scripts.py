"""The Lua scripts in ``lua/`` and the meaning of their replies.

Every script gets ``common.lua`` prepended, its keys in ``KEYS`` with their labels as
ARGV[1] (``script_keys.py``), and its own arguments from ARGV[2]. A script that
touches one task replies ``{'ok', HGETALL}`` or an error code: ``missing``,
``conflict`` (with the current status) or ``stale``.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from runyard_server.errors import Conflict, NotFound, StaleLease
from runyard_server.store import keys
from runyard_server.store.script_keys import Declared

UNDECLARED = "runyard: undeclared key"
"""How ``common.lua`` starts the error it raises when asked for a key not in KEYS."""

INCLUDES = {"claim": ("gpus",)}
"""Helper files prepended to a script after ``common.lua`` (those only it uses)."""

MAX_PLAN_TRIES = 20
"""How often ``run_planned`` reads again when the store changed under its plan."""


class Undeclared(Exception):
    """Raised when a script needed a key it was not given: what the caller read to
    choose the keys changed before the script ran (or, in a test, a bug)."""


@cache
def source(name: str) -> str:
    """The text of ``lua/{name}.lua`` with its name (``SCRIPT``, the "by" of the
    events it appends), the schema's constants, the common and gang helpers and its
    ``INCLUDES`` in front."""
    folder = resources.files("runyard_server.store") / "lua"
    parts = ["common", "gang", *INCLUDES.get(name, ()), name]
    header = f"local SCRIPT = '{name}'\nlocal NAMES_PER_KEY = {keys.NAMES_PER_KEY}\n"
    return header + "\n".join((folder / f"{part}.lua").read_text() for part in parts)


@cache
def sha1(text: str) -> str:
    """The SHA1 ``EVALSHA`` knows a script's text by (redis-py's ``register_script``
    hashes the whole text again on every call). Keyed by the text, not the script's
    name, so a different text under one name (tests prepend key checks) gets its own."""
    return hashlib.sha1(text.encode()).hexdigest()


def call_args(declared: Declared, *args: str | int | float | bytes) -> tuple[list[str], list[Any]]:
    """``KEYS`` and ``ARGV`` of a script call."""
    return list(declared.values()), [json.dumps(list(declared)), *args]


async def run(
    r: "aioredis.Redis", name: str, declared: Declared, *args: str | int | float | bytes
) -> Any:
    """Run a script (EVALSHA, loading it on first use) and return its raw reply."""
    script_keys, argv = call_args(declared, *args)
    text = source(name)
    try:
        try:
            return await r.evalsha(sha1(text), len(script_keys), *script_keys, *argv)
        except NoScriptError:
            # First use on this server (or it restarted, or another master took over).
            await r.script_load(text)
            return await r.evalsha(sha1(text), len(script_keys), *script_keys, *argv)
    except ResponseError as error:
        if UNDECLARED in str(error):
            raise Undeclared(f"{name}.lua: {error}") from error
        raise


async def load(r: "aioredis.Redis", name: str) -> str:
    """Load a script (on every master of a cluster) for ``queue``; its SHA1."""
    return str(await r.script_load(source(name)))


def queue(pipe: Any, sha: str, declared: Declared, *args: str | int | float | bytes) -> None:
    """Queue a script loaded with ``load`` (or SCRIPT LOAD) on a pipeline or ``MULTI``,
    async or not (a cluster client's pipelines take it as a plain command only)."""
    script_keys, argv = call_args(declared, *args)
    pipe.execute_command("EVALSHA", sha, len(script_keys), *script_keys, *argv)


async def run_planned(
    r: "aioredis.Redis",
    name: str,
    plan: Callable[[], Awaitable[Declared]],
    *args: str | int | float | bytes,
) -> Any:
    """Run a script whose keys depend on what is stored: ``plan`` reads that and
    declares them; when it changed before the script ran, read again and retry."""
    for _ in range(MAX_PLAN_TRIES):
        try:
            return await run(r, name, await plan(), *args)
        except Undeclared:
            continue
    raise Conflict(f"the store kept changing under {name}; retry")


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
    if code == "same_queue":
        raise Conflict(f"task {task_id} is on queue {reply[1]} already")
    if code == "stale":
        raise StaleLease(
            f"task {task_id} is {reply[1]} and this lease token is no longer its own: "
            "stop the process and report nothing more"
        )
    raise RuntimeError(f"unexpected reply {code!r} from a store script")
