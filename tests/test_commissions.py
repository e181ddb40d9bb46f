"""The commissions desk in one process: a fan's request becomes a job on the shared runner, the
piece lands under that fan with their facts (and nobody else's), she remembers it so a later
"do you remember the song you wrote me?" recalls it, and past her limits she says so."""

from __future__ import annotations

import threading

import pytest

from canned_backend import CannedBackend
from persona.commissions import Commissions, facts_of
from persona.creations import FanFacts, untrue_facts
from persona.director import Director
from persona.engine.artifacts import ArtifactStore
from persona.engine.jobs import JobRunner
from persona.engine.settings import CreationsConfig
from persona.intents import Intent, IntentReader
from persona.memory.persona_memory import PersonaMemory
from persona.memory.records import MemoryKind
from persona.memory.sqlite_store import SQLiteStore
from persona.prompt import FanProfile, PromptBuilder
from pipelines.dialogue import GenerationParams

WAIT_S = 300


@pytest.fixture
async def desk(tmp_path, haeun, embedder, intent_reader, tokenizer):
    """A director with her memory and a commissions desk, as `atelier serve` builds them."""
    store = SQLiteStore(tmp_path / "memory.db")
    memory = PersonaMemory(store, embedder, haeun)
    memory.sync_canon()
    backend = CannedBackend("The model's own reply.")
    director = Director(haeun, backend, PromptBuilder(haeun, tokenizer, 2048), GenerationParams(max_tokens=16), memory)
    runner = JobRunner(concurrency=1, max_queue=4, fan_daily_quota=2)
    artifacts = ArtifactStore(tmp_path / "artifacts", max_bytes_per_fan=200 * 2**20)
    config = CreationsConfig(song_seconds=8, fan_daily_quota=2)
    director.commissions = Commissions(haeun, runner, artifacts, config, intent_reader,
                                       remember=lambda *args: director.on_memory_thread_from_worker(memory.remember_artifact, *args))
    yield director, backend, runner, artifacts, memory
    runner.close()
    await director.close()  # learning queued by the turns ends before the store closes
    store.close()


async def test_a_request_in_a_message_becomes_a_piece_she_remembers(desk):
    director, backend, runner, artifacts, memory = desk
    session = await director.start_session("minji", "Minji", recent_turns=0)
    session.fan.notes = ["Minji's favourite colour is teal", "Minji has a cat called Mochi"]
    answer = "".join([piece async for piece in director.reply(session, "Could you write me a song for my rainy commute?", request="m1")])
    order = session.last_turn.order
    assert order is not None and order.job is not None and order.intent.kind == "song"
    assert answer == order.answer and "piano" in answer and backend.requests == []  # her answer at once; the model was not asked
    assert order.job.request == "m1"

    job = runner.wait(order.job.id, timeout=WAIT_S)
    assert job.status == "done", job.error
    artifact = job.result
    assert artifacts.list("minji") == [artifact] and artifacts.list("someone-else") == []
    assert untrue_facts(artifact.description, artifact.summary) == []
    given = " ".join(["Minji", *session.fan.notes])
    used = artifact.provenance["facts"]["used"]
    assert used and all(fact["value"] in given for fact in used)  # only what this fan told her, each use recorded
    assert not any(path.suffix == ".zip" for path in (artifacts.file_path("minji", artifact.id, file.name) for file in artifact.files))

    recalled = memory.recall("minji", "do you remember the song you wrote me?")
    kept = [item.memory for item in recalled.memories if item.memory.kind is MemoryKind.ARTIFACT]
    assert kept and kept[0].key == artifact.id and artifact.title in kept[0].text
    assert memory.recall("someone-else", "do you remember the song you wrote me?").memories == []  # never another fan's


async def test_ordinary_messages_and_near_misses_go_to_the_model(desk):
    director, backend, runner, _, _ = desk
    session = await director.start_session("jisoo", "Jisoo", recent_turns=0)
    for message in ("I love your last song!", "My sister designs dresses."):
        "".join([piece async for piece in director.reply(session, message)])
        assert session.last_turn.order is None
    assert len(backend.requests) == 2 and runner.jobs("jisoo") == []


def test_beyond_the_quota_and_a_full_queue_she_says_so_in_character(desk, haeun):
    director, _, runner, _, _ = desk
    commissions = director.commissions
    facts = facts_of(FanProfile(name="Ines"))
    look = Intent(kind="look", brief="a coat for the rain", confidence=1.0, source="client")
    first = commissions.order("ines", facts, look)
    second = commissions.order("ines", facts, look)
    third = commissions.order("ines", facts, look)
    assert first.job is not None and second.job is not None
    assert third.job is None and third.refused == "quota" and "2 pieces today" in third.answer
    for order in (first, second):
        assert runner.wait(order.job.id, timeout=WAIT_S).status == "done"

    # A full table: the studio's work holds the one worker and fills the queue.
    started, release = threading.Event(), threading.Event()

    def studio_work(progress):
        started.set()
        release.wait(WAIT_S)

    running = runner.submit("studio:compose", studio_work)
    assert started.wait(WAIT_S)
    waiting = [runner.submit("studio:compose", studio_work) for _ in range(4)]
    full = commissions.order("ines-friend", facts, look)
    release.set()
    assert full.job is None and full.refused == "queue_full" and "table is full" in full.answer
    for job in (running, *waiting):
        runner.wait(job.id, timeout=WAIT_S)
    with pytest.raises(ValueError, match="show_work"):
        commissions.order("ines", facts, Intent(kind="show_work", confidence=1.0, source="rule"))


def test_the_fans_facts_reach_only_their_own_pieces(desk):
    director, _, runner, _, _ = desk
    commissions = director.commissions
    printed = Intent(kind="print", brief="a print of rain on a window", confidence=1.0, source="client")
    hers = commissions.order("ara", FanFacts(name="Ara", notes=["Ara's favourite colour is teal", "Ara has a dog called Bori"]), printed)
    theirs = commissions.order("sol", FanFacts(name="Sol", notes=[]), printed)
    ara, sol = (runner.wait(order.job.id, timeout=WAIT_S).result for order in (hers, theirs))
    assert "Bori" in ara.title and ara.provenance["facts"]["used"]
    told = sol.model_dump_json()
    assert "Bori" not in told and "teal" not in told.lower()
    assert [fact["value"] for fact in sol.provenance["facts"]["used"]] in ([], ["Sol"])  # at most Sol's own name


def test_requests_are_read_by_a_tool_call_only_on_an_openai_compatible_server(embedder):
    from persona.engine.runtime import intent_reader as reader_for
    from persona.engine.settings import ConfigError, load_settings
    from persona.intents import ToolCallIntentReader

    assert type(reader_for(load_settings(environ={}), embedder)) is IntentReader  # the default: embedded
    with pytest.raises(ConfigError, match="dialogue.backend is 'local'.*ATELIER_CREATIONS__INTENTS"):
        reader_for(load_settings(environ={"ATELIER_CREATIONS__INTENTS": "tool_call"}), embedder)
    reader = reader_for(load_settings(environ={"ATELIER_CREATIONS__INTENTS": "tool_call", "ATELIER_DIALOGUE__BACKEND": "openai"}), embedder)
    assert isinstance(reader, ToolCallIntentReader) and reader.model == "smollm2"


async def test_a_piece_asked_for_again_is_sent_again_not_made_anew(desk):
    director, backend, runner, artifacts, _ = desk
    session = await director.start_session("hana", "Hana", recent_turns=0)
    "".join([piece async for piece in director.reply(session, "Please make me a print with lemons on it")])
    made = runner.wait(session.last_turn.order.job.id, timeout=WAIT_S).result

    answer = "".join([piece async for piece in director.reply(session, "Could you send me the print again?")])
    assert session.last_turn.sent == made and session.last_turn.order is None
    assert made.title in answer and backend.requests == []
    for fresh in ("Make me another print, please", "Send it again but as a new song"):
        assert director.commissions.again("hana", fresh) is None
    assert director.commissions.again("hana", "send me the song again") is None  # she made no song for Hana
    assert director.commissions.again("someone-else", "send the print again") is None
    assert len(artifacts.list("hana")) == 1
