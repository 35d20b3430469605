"""Typed and fractional GPU requests as the claim script sees them (``lua/gpus.lua``).

A task's ``gpu_model`` glob becomes a Lua pattern once, when the task is stored, so a
claim matches it with ``string.find`` and never parses a glob; an agent's GPUs reach
the script as one compact JSON argument.
"""

import json
import re

from runyard.models import GpuFree, Resources

_LUA_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 _/")


def lua_pattern(glob: str) -> str:
    """The anchored Lua pattern for a ``gpu_model`` glob, lowered (names are matched
    lowered). The glob holds only what ``Resources`` allows: letters, digits, space,
    ``. _ / -``, ``*`` and ``?``; ``.`` and ``-`` are magic in Lua and get escaped."""
    parts = []
    for char in glob.lower():
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char in _LUA_LITERAL:
            parts.append(char)
        else:
            parts.append("%" + char)
    return "^" + "".join(parts) + "$"


def model_matches(name: str, glob: str) -> bool:
    """Python's twin of ``model_matches`` in ``lua/gpus.lua`` (for the create-time
    warnings, which must judge as the claim does): the lowered name, or a tail of it that
    starts after a space, matches the glob whole; ``*`` is any run, ``?`` one character."""
    pattern = re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob.lower()),
        re.DOTALL,
    )
    name = name.lower()
    tails = [name] + [name[at + 1 :] for at, char in enumerate(name) if char == " "]
    return any(pattern.fullmatch(tail) for tail in tails)


TYPED_FIELDS = ("gpu_mem", "gpu_model", "gpu_pat", "gpu_link")
"""The task hash fields of a typed request; each is stored only when it asks for
something (a task hash is a hashtable, where a field costs about 50 bytes)."""


def task_fields(resources: Resources) -> dict[str, str]:
    """The task hash fields the claim matches GPUs on (see ``keys``)."""
    fields = {"gpus": f"{resources.gpus:g}"}
    if resources.gpu_memory_gb:
        fields["gpu_mem"] = repr(float(resources.gpu_memory_gb))
    if resources.gpu_model:
        fields["gpu_model"] = resources.gpu_model
        fields["gpu_pat"] = lua_pattern(resources.gpu_model)
    if resources.gpu_interconnect != "any":
        fields["gpu_link"] = resources.gpu_interconnect
    return fields


def claim_argument(free: Resources, gpus: list[GpuFree] | None) -> str:
    """The claim script's GPU argument: rows ``[index, free, memory_gb, group, lowered
    name]``, or the count of free whole GPUs from an agent that sends no GPU list."""
    if gpus is None:
        return repr(float(free.gpus))
    rows = [[gpu.index, gpu.free, gpu.memory_gb, gpu.group, gpu.name.lower()] for gpu in gpus]
    return json.dumps(rows, separators=(",", ":"))
