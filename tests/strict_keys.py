"""Store scripts that refuse to touch a key not in their KEYS.

A Redis Cluster checks only that a script's keys share a slot, and every Runyard key
shares one (``store/keys.py``), so a script that built a key name itself would still
run there. Prepended to each script, :data:`STRICT` wraps ``redis.call`` in a check
of each command's key arguments against ``KEYS``, so such a script fails in tests.
"""

import pytest

from runyard_server.store import scripts

STRICT = """
local DECLARED_KEYS = {}
for _, k in ipairs(KEYS) do DECLARED_KEYS[k] = true end
local function checked_keys(command, ...)
  local args = {...}
  local name = string.upper(command)
  local touched = {args[1]}
  if name == 'DEL' or name == 'EXISTS' then
    touched = args
  elseif name == 'ZINTER' or name == 'ZDIFF' or name == 'ZUNION' then
    touched = {}
    for i = 2, 1 + tonumber(args[1]) do touched[#touched + 1] = args[i] end
  end
  for _, k in ipairs(touched) do
    if not DECLARED_KEYS[k] then error('strict keys: ' .. name .. ' on undeclared key ' .. k) end
  end
end
local redis = setmetatable({
  call = function(command, ...)
    checked_keys(command, ...)
    return redis.call(command, ...)
  end,
}, {__index = redis})
"""
"""Lua that shadows ``redis`` with a checked ``call`` (every command the scripts use
takes its key first, but DEL/EXISTS (all keys) and ZINTER/ZDIFF/ZUNION (numkeys))."""

_plain_source = scripts.source


def strict_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every script this process runs check its keys (for the test's duration)."""
    monkeypatch.setattr(scripts, "source", lambda name: STRICT + _plain_source(name))
