"""The ``gpu_model`` glob judged in Python (create-time warnings) and in the claim's Lua
(``lua/gpus.lua``) agree on every name and pattern of a table."""

from importlib.resources import files

import pytest
import redis

from runyard_server.store.gpu_placement import lua_pattern, model_matches

NAMES = [
    "NVIDIA A100-SXM4-80GB",
    "NVIDIA A100-PCIE-40GB",
    "NVIDIA H100 80GB HBM3",
    "NVIDIA GeForce RTX 4090",
    "Tesla V100-SXM2-16GB",
    "NVIDIA L4",
    "a100",
    "",
]
GLOBS = [
    "A100*",
    "a100-sxm4-80gb",
    "H100*",
    "*80GB*",
    "NVIDIA *",
    "RTX 4090",
    "GeForce RTX 40?0",
    "V100-SXM?-16GB",
    "L?",
    "L4.",
    "*",
    "?",
    "100*",
    "tesla",
    "A100-*-40GB",
]

# The same function as the claim runs it: gpus.lua loaded whole, model_matches called on
# each (lowered name, pattern) pair.
PROBE = """
local out = {}
for i = 1, #ARGV, 2 do
  out[#out + 1] = model_matches(ARGV[i], ARGV[i + 1]) and 1 or 0
end
return out
"""


@pytest.fixture
def lua_matches(redis_url: str) -> list[bool]:
    """What the Lua matcher says for each (name, glob) pair of the table, in order."""
    source = files("runyard_server.store").joinpath("lua/gpus.lua").read_text()
    args = [v for name in NAMES for glob in GLOBS for v in (name.lower(), lua_pattern(glob))]
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        return [bool(v) for v in client.eval(source + PROBE, 0, *args)]


def test_the_python_and_lua_gpu_model_matchers_agree_on_a_table(lua_matches: list[bool]) -> None:
    python = [model_matches(name, glob) for name in NAMES for glob in GLOBS]
    assert python == lua_matches
    # The table is worth comparing: each side says yes and no many times.
    assert 10 < sum(python) < len(python) - 10
    assert model_matches("NVIDIA A100-SXM4-80GB", "A100*")
    assert not model_matches("NVIDIA L40S", "L4")
    assert not model_matches("NVIDIA L4", "L4.")
