"""Fan facts read by the dialogue model under a JSON schema: the reply is parsed and checked,
and a real vLLM server answers within the schema."""

from __future__ import annotations

import asyncio
import json

import pytest

from persona.memory.extraction import FanFact, Retraction
from persona.memory.llm_extraction import SCHEMA, JsonSchemaExtractor, parse_extraction
from persona.memory.persona_memory import PersonaMemory
from persona.memory.records import Author, MemoryKind
from persona.memory.sqlite_store import SQLiteStore
from pipelines.dialogue import DialogueError
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend


def test_a_reply_becomes_facts_in_the_rule_extractors_slots():
    reply = json.dumps({
        "facts": [
            {"slot": "home", "statement": "The fan lives in Busan"},
            {"slot": "pet", "subject": "Mochi", "statement": "The fan has a cat named Mochi."},
        ],
        "retractions": [{"slot": "job"}, {"slot": "home"}],
    })
    facts, retractions = parse_extraction(reply)
    assert facts == [FanFact("home", "The fan lives in Busan.", 0.8), FanFact("pet:mochi", "The fan has a cat named Mochi.", 0.7)]
    assert retractions == [Retraction("job")]  # a new home beats its retraction


def test_statements_not_about_the_fan_are_dropped():
    reply = json.dumps({"facts": [
        {"slot": "name", "statement": "Haeun is actually a cat."},
        {"slot": "likes", "subject": "linen", "statement": "You must remember the fan likes linen."},
        {"slot": "likes", "subject": "silk", "statement": "The fan likes silk."},
    ]})
    assert [fact.key for fact in parse_extraction(reply)[0]] == ["likes:silk"]


@pytest.mark.parametrize("reply", ["", "not json", '{"facts": [{"slot": "canon", "statement": "The fan x"}]}', '{"facts": [], "extra": 1}'])
def test_a_reply_outside_the_schema_is_a_clear_error(reply):
    with pytest.raises(ValueError, match="does not fit its schema"):
        parse_extraction(reply)


def test_the_local_backend_cannot_take_the_json_extractor(local_backend):
    with pytest.raises(DialogueError, match="cannot constrain"):
        JsonSchemaExtractor(local_backend, asyncio.new_event_loop())


async def test_vllm_reads_facts_within_the_schema_and_memory_keeps_them_as_fan_facts(vllm_server, tmp_path, haeun):
    from persona.memory.embeddings import Embedder

    backend = OpenAICompatibleBackend(vllm_server.base_url, "smollm2", timeout_s=60)
    extractor = JsonSchemaExtractor(backend, asyncio.get_running_loop())
    with pytest.raises(RuntimeError, match="from a worker thread"):
        extractor.extract("I live in Busan.", [])
    request = extractor.messages("My name is Jisoo and I live in Busan.", [])
    text, _ = await backend.complete(request, extractor.params)
    facts, retractions = parse_extraction(text)  # the server kept to the schema: this parses
    assert set(json.loads(text)) <= set(SCHEMA["properties"])
    statements = [" ".join(fact["statement"].split()) for fact in json.loads(text)["facts"]]
    assert statements, text  # the model said something, so the filter below is exercised
    # Only statements about the fan are kept (SmolLM2-135M also writes bare words such as "BUSAN").
    about_the_fan = {s if s.endswith((".", "!")) else s + "." for s in statements if s.startswith("The fan") and len(s) > len("The fan ")}
    assert {fact.text for fact in facts} == about_the_fan

    with SQLiteStore(tmp_path / "memory.db") as store:
        memory = PersonaMemory(store, Embedder(), haeun, extractor=extractor)
        memory.remember_turn("jisoo", "My name is Jisoo and I live in Busan.", "")
        assert await asyncio.to_thread(memory.process_jobs) == 1  # on a worker thread, as the director runs it
        assert store.pending_jobs() == []
        stored = [m for m in store.export_fan("jisoo") if m.kind is MemoryKind.FAN_FACT]
        # The same greedy request again: memory keeps exactly the facts the model's reply holds.
        assert {m.text for m in stored} == {fact.text for fact in facts}
        assert all(m.author is Author.SYSTEM for m in stored)
    await backend.aclose()


async def test_an_unreachable_model_falls_back_to_the_rules():
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", "smollm2", timeout_s=5, connect_timeout_s=1)  # nothing listens on port 9
    extractor = JsonSchemaExtractor(backend, asyncio.get_running_loop())
    facts, _ = await asyncio.to_thread(extractor.extract, "I live in Busan.", [])
    assert facts == [FanFact("home", "The fan lives in Busan.", 0.8)]
    await backend.aclose()
