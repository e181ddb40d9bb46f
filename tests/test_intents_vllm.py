"""Reading a fan's message with a forced tool call on the real vLLM CPU server (the
session's `vllm_server`, SmolLM2-135M). The model is tiny: these tests check the mechanism
and the clear cases, not its judgement (bench/intents.py --backend vllm measures that)."""

from __future__ import annotations

import json

import httpx
import pytest

from persona.intents import TOOL_KINDS, ToolCallIntentReader, parse_tool_call

FUNCTIONS = {"make_look", "make_print", "make_song", "show_work", "no_request"}


def recording(reader: ToolCallIntentReader) -> list[dict]:
    """The bodies of the requests the reader really sends, as they go over the wire."""
    sent: list[dict] = []
    reader.client.event_hooks["request"] = [lambda request: sent.append(json.loads(request.content))]
    return sent


@pytest.mark.vllm
def test_a_song_request_is_read_from_a_tool_call(vllm_server, intent_reader):
    # rules_first=False: the rules would read this one themselves and never ask the server
    with ToolCallIntentReader(intent_reader, vllm_server.base_url, "smollm2", timeout_s=120, rules_first=False) as reader:
        sent = recording(reader)
        intent = reader.read("  Could you write a song about the rain for me?  ")
    assert intent.source == "tool_call" and intent.kind in TOOL_KINDS.values()
    assert intent.brief == ("Could you write a song about the rain for me?" if intent.kind != "none" else "")
    assert reader.outcomes == {"tool_call": 1}
    assert sent, "no request reached the server"
    for body in sent:
        assert {tool["function"]["name"] for tool in body["tools"]} == FUNCTIONS
        assert body["messages"][-1] == {"role": "user", "content": "Could you write a song about the rain for me?"}
    assert sent[0]["tool_choice"] == "required"


@pytest.mark.vllm
def test_a_server_without_a_tool_parser_is_asked_for_the_call_as_content(vllm_server, intent_reader):
    """The session's server runs without --tool-call-parser, so vLLM refuses tool_choice=required
    (HTTP 400); the same question then goes with vLLM's own schema for a required call."""
    with ToolCallIntentReader(intent_reader, vllm_server.base_url, "smollm2", timeout_s=120, rules_first=False) as reader:
        sent = recording(reader)
        reader.read("I'd love something to hum on my commute")
        reader.read("what's new?")
    assert [body["tool_choice"] for body in sent] == ["required", "none", "none"]
    assert reader.calls_in_content
    assert sent[1]["response_format"]["json_schema"]["schema"]["maxItems"] == 1
    assert sum(reader.outcomes.values()) == 2


@pytest.mark.vllm
def test_clear_requests_are_read_by_the_rules_without_asking(vllm_server, intent_reader):
    with ToolCallIntentReader(intent_reader, vllm_server.base_url, "smollm2", timeout_s=120) as reader:
        sent = recording(reader)
        song = reader.read("write me a song about the rain")
        look = reader.read("노래 말고 드레스 하나 디자인해 줘")
    assert (song.kind, song.source) == ("song", "rule") and (look.kind, look.source) == ("look", "rule")
    assert sent == []


@pytest.mark.vllm
def test_a_cut_off_call_falls_back_to_the_embedded_reader(vllm_server, intent_reader):
    with ToolCallIntentReader(intent_reader, vllm_server.base_url, "smollm2", timeout_s=120, rules_first=False, max_tokens=3) as reader:
        intent = reader.read("write me a song about the rain")
    assert intent.source == "rule" and intent.kind == "song"  # three tokens are no call: the embedded reader's rules decide
    assert reader.outcomes["malformed"] == 1


def test_an_unreachable_server_falls_back_to_the_embedded_reader(intent_reader):
    from server_process import free_port

    with ToolCallIntentReader(intent_reader, f"http://127.0.0.1:{free_port()}/v1", "smollm2", connect_timeout_s=1, rules_first=False) as reader:
        intent = reader.read("I love your last song")
    assert intent.kind == "none" and intent.source == "rule"
    assert reader.outcomes == {"server_error": 1}


def completion(message: dict, finish_reason: str = "stop") -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}]})


def tool_call(name: str, arguments: str) -> dict:
    return {"content": None, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": arguments}}]}


@pytest.mark.parametrize(
    ("message", "in_content", "expected"),
    [
        (tool_call("make_song", '{"brief": "a song about rain"}'), False, ("song", "")),
        (tool_call("show_work", "{}"), False, ("show_work", "")),
        (tool_call("no_request", "{}"), False, ("none", "")),
        ({"content": '[{"name": "make_print", "parameters": {"brief": "tigers"}}]'}, True, ("print", "")),
        (tool_call("make_look", "{}"), False, (None, "make_look: no brief")),
        (tool_call("make_cake", '{"brief": "chocolate"}'), False, (None, "unknown function 'make_cake'")),
        (tool_call("make_song", '{"brief": "a so'), False, (None, "make_song: arguments are not JSON")),
        ({"content": "a song, I think"}, False, (None, "no tool call")),
        ({"content": '[{"name": "make_song", "param'}, True, (None, "content is not JSON: '[{\"name\": \"make_song\", \"param'")),
    ],
)
def test_tool_calls_are_parsed_strictly(message, in_content, expected):
    assert parse_tool_call(completion(message), in_content=in_content) == expected


def test_a_call_cut_off_at_max_tokens_is_malformed():
    cut = completion({"content": '[{"name": "make_song", "parameters": {"brief": "a song'}, finish_reason="length")
    assert parse_tool_call(cut, in_content=True) == (None, "cut off at max_tokens")


def test_a_reply_that_is_not_a_completion_is_malformed():
    kind, problem = parse_tool_call(httpx.Response(200, text="<html>proxy error</html>"))
    assert kind is None and problem.startswith("not a chat completion")
