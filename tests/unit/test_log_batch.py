"""The fast reader of log batches (msgspec) against ``LogBatch`` (pydantic), the judge.

A body the fast reader takes must be one ``LogBatch`` takes to the same values, with
every ``ts`` finite (the route's 400 otherwise); a body it leaves (None) goes to
pydantic, whose answer, acceptance or refusal, stands as before.
"""

import json
import math
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runyard.models import LogBatch
from runyard.models.limits import MAX_LOG_LINES_PER_BATCH
from runyard_server.errors import Invalid
from runyard_server.log_batch import FastBatch, decode
from runyard_server.log_chunks import Line, encode

Fields = tuple[int, str | None, int, list[tuple[str, str, float]]]


def fields(batch: LogBatch | FastBatch) -> Fields:
    lines = [(line.stream, line.text, line.ts) for line in batch.lines]
    return batch.seq, batch.lease_token, batch.dropped, lines


def pydantic_reading(body: bytes) -> LogBatch | None:
    """What the route took before the fast reader: None for a 400 or a 422."""
    try:
        batch = LogBatch.model_validate_json(body)
    except ValidationError:
        return None
    return batch if all(math.isfinite(line.ts) for line in batch.lines) else None


def assert_agree(body: bytes) -> FastBatch | None:
    fast, slow = decode(body), pydantic_reading(body)
    if fast is not None:
        assert slow is not None, f"the fast reader took a body pydantic refuses: {body[:200]!r}"
        assert fields(fast) == fields(slow)
        if fast.lines:
            assert stored(fast.lines) == stored(slow.lines)
    return fast


def stored(lines: Sequence[Line]) -> str:
    """The chunk payload, or the 400's detail."""
    try:
        return encode(lines)
    except Invalid as error:
        return str(error)


_RULES = {"type", "minimum", "maximum", "maxLength", "maxItems", "default"}


def rules(schema: dict[str, Any]) -> object:
    """What a JSON schema says a body may hold, less titles, descriptions and names."""
    if "properties" in schema:
        fields = {name: rules(field) for name, field in schema["properties"].items()}
        return fields, sorted(schema["required"]), schema["additionalProperties"]
    found: dict[str, object] = {k: v for k, v in schema.items() if k in _RULES}
    if "enum" in schema:  # msgspec leaves out the type of an enum of strings
        found |= {"enum": sorted(schema["enum"]), "type": "string"}
    if "anyOf" in schema:
        found["anyOf"] = [rules(option) for option in schema["anyOf"]]
    return found


def test_the_fast_reader_has_the_fields_and_limits_of_log_batch() -> None:
    # A limit LogBatch tightens and FastBatch keeps would let through bodies pydantic refuses.
    fast = msgspec.json.schema(FastBatch)["$defs"]
    slow = LogBatch.model_json_schema()
    assert rules(fast["FastBatch"]) == rules(slow)
    assert rules(fast["FastLine"]) == rules(slow["$defs"]["LogLine"])


LINE = {"text": "epoch 1 loss 0.25", "ts": 1_700_000_000.125}
TOKEN = "t" * 128


def body(**fields: Any) -> bytes:
    return json.dumps({"seq": 0, "lines": [LINE], **fields}).encode()


# Bodies the fast reader takes, as the agent and the SDK send them.
FAST = [
    body(),
    body(lines=[]),
    body(lines=[{"text": "x", "ts": 1}]),  # an integer time
    body(lines=[{"stream": s, "text": "x", "ts": 2.5} for s in ("stdout", "stderr", "agent")]),
    body(lease_token=None, dropped=0),
    body(lease_token=TOKEN, dropped=10**12, seq=2**64),
    body(lease_token="é" * 128),  # characters, not bytes
    body(lines=[{"text": 'naïve ☃ 🙂 \u2028 \x00 \\ "', "ts": -0.0}]),
    body(lines=[{"text": "", "ts": 1e35}]),  # read; encode refuses it (400) on either path
    body(lines=[{"text": "x", "ts": 4.9e-325}]),
    body(lines=[LINE] * MAX_LOG_LINES_PER_BATCH),
    b'{"seq":0,"seq":1,"lines":[{"text":"a","ts":1,"ts":2}]}',  # the last of a key counts
    b'  {"lines":[],"seq":3}\n',
]

# Bodies pydantic takes and the fast reader leaves to it.
PYDANTIC = [
    body(seq=1.0),
    body(seq="1"),
    body(lines=[{"text": "x", "ts": "1.5"}]),
    body(dropped=1.0),
    body(seq=True),  # pydantic reads a JSON bool as a number (not in strict mode)
    body(lines=[{"text": "x", "ts": True}]),
]

# Bodies refused (400 or 422) by pydantic, so left to it.
REFUSED = [
    b"",
    b"[]",
    b'{"seq":0,"lines":[],}',
    b'\xef\xbb\xbf{"seq":0,"lines":[]}',
    b'{"seq":0,"lines":[]} x',
    b'{"seq":0,"lines":[{"text":"\xff","ts":1}]}',
    b'{"seq":0,"lines":[{"text":"\\ud800","ts":1}]}',
    b'{"seq":0,"lines":[{"text":"a","ts":NaN}]}',
    b'{"seq":0,"lines":[{"text":"a","ts":Infinity}]}',
    b'{"seq":0,"lines":[{"text":"a","ts":1e999}]}',
    b'{"seq":0,"lines":[{"text":"a","ts":1' + b"0" * 400 + b"}]}",
    b'{"seq":0,"lines":[{"text":"a","ts":"inf"}]}',
    body(seq=-1),
    body(seq=None),
    body(seq=1.5),
    json.dumps({"lines": []}).encode(),
    json.dumps({"seq": 0}).encode(),
    body(lines=None),
    body(lines={"text": "x", "ts": 1}),
    body(lines=[LINE] * (MAX_LOG_LINES_PER_BATCH + 1)),
    body(lines=[{"text": "x"}]),
    body(lines=[{"ts": 1}]),
    body(lines=[{"text": 1, "ts": 1}]),
    body(lines=[{"text": None, "ts": 1}]),
    body(lines=[{"text": "x", "ts": None}]),
    body(lines=[{"text": "x", "ts": 1, "stream": "STDOUT"}]),
    body(lines=[{"text": "x", "ts": 1, "stream": None}]),
    body(lines=[{"text": "x", "ts": 1, "level": "info"}]),
    body(lines=["x"]),
    body(lease_token=TOKEN + "t"),
    body(lease_token="🙂" * 129),
    body(lease_token=1),
    body(dropped=-1),
    body(dropped=10**12 + 1),
    body(worker="w1"),
]


@pytest.mark.parametrize("raw", FAST)
def test_the_fast_reader_takes_what_senders_send_as_pydantic_does(raw: bytes) -> None:
    assert assert_agree(raw) is not None


@pytest.mark.parametrize("raw", PYDANTIC)
def test_bodies_only_pydantic_reads_are_left_to_it(raw: bytes) -> None:
    assert assert_agree(raw) is None
    assert pydantic_reading(raw) is not None


@pytest.mark.parametrize("raw", REFUSED)
def test_refused_bodies_are_left_to_pydantic_for_its_answer(raw: bytes) -> None:
    assert assert_agree(raw) is None
    assert pydantic_reading(raw) is None


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 10**12, 10**12 + 1, 2**53, 2**63, 2**64]),
    st.floats(),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=4),
    st.lists(st.integers(), max_size=2),
)
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
LINES = st.fixed_dictionaries(
    {"text": st.one_of(TEXT, ODD), "ts": st.one_of(st.floats(), st.integers(), ODD)},
    optional={
        "stream": st.one_of(st.sampled_from(["stdout", "stderr", "agent", "Stdout", ""]), ODD),
        "extra": ODD,
    },
)
BATCHES = st.fixed_dictionaries(
    {"seq": st.one_of(st.integers(min_value=-3), ODD), "lines": st.lists(LINES, max_size=4)},
    optional={
        "lease_token": st.one_of(st.none(), TEXT, st.text(min_size=127, max_size=130), ODD),
        "dropped": st.one_of(st.integers(min_value=-2, max_value=10**12 + 2), ODD),
        "other": ODD,
    },
)


@settings(max_examples=400, deadline=None)
@given(BATCHES, st.booleans())
def test_any_body_the_fast_reader_takes_pydantic_takes_the_same(
    batch: dict[str, Any], ascii_only: bool
) -> None:
    # Python's json writes NaN and Infinity for non-finite floats, and lone surrogates
    # as escapes (ascii) or as bytes that are not UTF-8: each a body to refuse.
    raw = json.dumps(batch, ensure_ascii=ascii_only).encode(errors="surrogatepass")
    assert_agree(raw)
