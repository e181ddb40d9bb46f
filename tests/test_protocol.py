"""The chat protocol's models: every frame parses or gets a clear error, and the published
JSON Schemas are the ones the code generates."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving import protocol

DOCS = Path(__file__).resolve().parent.parent / "docs"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "message", "interrupt", "ping", "ready", "", "HELLO"])},
    optional={"token": json_values, "persona": json_values, "id": json_values, "text": json_values, "turn": json_values,
              "heard": json_values, "resume": json_values, "protocol": json_values, "nonce": json_values},
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), json_values.map(json.dumps), frame_like.map(json.dumps)))
def test_any_input_parses_to_a_frame_or_a_protocol_error(raw):
    try:
        frame = protocol.parse_client_frame(raw)
    except protocol.ProtocolError as error:
        assert error.code == "bad_frame" and str(error)
    else:
        assert frame.type in ("hello", "message", "interrupt", "ping")


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x00", "binary frames"),
    ("{", "one JSON object"),
    ("[1]", "not list"),
    ('{"type": "shout"}', "type"),
    ('{"type": "message", "id": "1"}', "text: Field required"),
    ('{"type": "message", "id": "1", "text": ""}', "text: String should have at least 1 character"),
    ('{"type": "interrupt", "turn": 0}', "turn: Input should be greater than or equal to 1"),
    ('{"type": "ping", "extra": true}', "extra: Extra inputs are not permitted"),
    ("[" * 100000, "one JSON object"),
])
def test_bad_frames_name_what_is_wrong(raw, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse_client_frame(raw)


@pytest.mark.parametrize("direction", ["client", "server"])
def test_the_published_json_schema_is_current(direction):
    published = json.loads((DOCS / f"protocol-{direction}.schema.json").read_text())
    assert published == protocol.json_schema(direction), "regenerate with: atelier protocol schema " + direction


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40), turn=st.integers(min_value=1, max_value=10**6))
def test_deltas_written_directly_are_valid_protocol_frames(text, turn, tmp_path_factory):
    """Deltas skip the models for speed; what goes out must still be exactly a protocol Delta."""
    from pydantic import TypeAdapter

    from serving.sessions import FrameLog, Session

    sent: list[str] = []
    log = FrameLog(tmp_path_factory.mktemp("log") / "frames.sqlite3", window_s=60)
    session = Session(id="s", chat=SimpleNamespace(fan_id="f"), log=log, listener=sent.append, next_seq=7)
    session.emit_delta(turn, text)
    frame = TypeAdapter(protocol.ServerFrame).validate_json(sent[0])
    assert frame == protocol.Delta(seq=7, turn=turn, text=text)
    assert session.next_seq == 8 and session.ring[-1] == (7, sent[0])
    log.close()
