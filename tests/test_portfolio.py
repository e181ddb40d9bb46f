"""Her portfolio: what a designer publishes from the studio's library becomes canon written by the
studio (under embargo until its release day), a public piece any fan can be shown, and a line of
her "now"; nothing of a piece under embargo reaches a fan."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import soundfile
from canned_backend import CannedBackend
from portfolio_helpers import MOON, png, studio_work

from persona.commissions import Commissions
from persona.director import Director
from persona.engine.artifacts import PORTFOLIO, ArtifactStore
from persona.engine.jobs import JobRunner
from persona.engine.library import Library
from persona.engine.settings import CreationsConfig
from persona.memory import retrieval
from persona.memory.persona_memory import PersonaMemory
from persona.memory.records import Author, MemoryKind, MemoryPermissionError, NewMemory
from persona.memory.sqlite_store import SQLiteStore
from persona.portfolio import CANON_KEY, Portfolio, PortfolioError
from persona.prompt import PromptBuilder
from pipelines.dialogue import GenerationParams

TODAY = dt.date(2026, 12, 7)
LATER = dt.date(2027, 3, 1)


@pytest.fixture
def made(tmp_path):
    with Library(tmp_path / "library") as library:
        yield studio_work(library, tmp_path / "made")


@pytest.fixture
def portfolio(tmp_path):
    return Portfolio(tmp_path / "portfolio", max_bytes=50 * 2**20, timezone="Asia/Seoul")


def test_every_publishable_kind_becomes_a_public_piece_described_from_its_spec(portfolio, made, haeun):
    look = portfolio.publish(made["look"], haeun)
    assert look.kind == "look" and look.title == "Moon Tide" and look.artifact.owner == PORTFOLIO
    assert look.artifact.description == "“Moon Tide”, my look: an A-line dress in sheen silk, in ink blue and pearl."
    assert [file.name for file in look.artifact.files] == ["moon-tide-look.png"] and look.artifact.preview == "moon-tide-look.png"
    assert [c["name"] for c in look.artifact.fingerprint["colours"]] == ["ink blue", "pearl"], "a look carries its fingerprint against her DNA"

    collection = portfolio.publish(made["collection"], haeun)
    assert collection.kind == "collection" and collection.title == "Tidal Hours"
    description = collection.artifact.description
    assert "2 looks" in description and "A-line dress" in description and "coat" in description and "camel" in description
    assert [file.name for file in collection.artifact.files] == ["board.png"]  # the spec's JSON stays in the studio

    prints = portfolio.publish(made["print"], haeun, title="Magnolia Dusk")
    assert prints.artifact.description == "“Magnolia Dusk”, 2 seamless prints I drew from “magnolias at dusk”."

    song = portfolio.publish(made["composition"], haeun, release=LATER)
    names = [file.name for file in song.artifact.files]
    assert names == ["preview.ogg", "song.mid", "roll.png"], "a phone's preview, the MIDI and the piano roll; never the stems or the master"
    info = soundfile.info(portfolio.store.file_path(PORTFOLIO, song.id, "preview.ogg"))
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "OPUS", 48000)
    assert "D minor at 84 BPM" in song.artifact.description and song.release == LATER

    assert [piece.id for piece in portfolio.pieces()] == [song.id, prints.id, collection.id, look.id]  # newest first
    canon = {memory.key: memory for memory in portfolio.canon()}
    assert set(canon) == {CANON_KEY + piece.id for piece in portfolio.pieces()}
    assert canon[CANON_KEY + song.id].embargo_until == LATER and canon[CANON_KEY + look.id].embargo_until is None
    assert "Moon Tide" in canon[CANON_KEY + look.id].text


def test_what_cannot_be_published_is_refused_by_name(portfolio, made, haeun, tmp_path):
    with pytest.raises(PortfolioError, match="'chat' cannot be published"):
        portfolio.publish(made["chat"], haeun)
    with pytest.raises(PortfolioError, match="title: expected 1-120"):
        portfolio.publish(made["look"], haeun, title="x" * 121)
    made["look"].files[0].unlink()
    with pytest.raises(PortfolioError, match="has lost files"):
        portfolio.publish(made["look"], haeun)
    small = Portfolio(tmp_path / "small", max_bytes=2**20, timezone="Asia/Seoul")
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF" + bytes(2**20))
    lookbook = Library(tmp_path / "library2").add("collection", "Lookbook: Tidal Hours",
                                                  {"name": "Tidal Hours", "looks_specs": [MOON.model_dump(mode="json")]}, [big, png(tmp_path / "b.png")])
    with pytest.raises(PortfolioError, match="keeps at most"):
        small.publish(lookbook, haeun)
    assert portfolio.pieces() == [] and small.pieces() == [], "a refused piece leaves nothing behind"


def test_a_piece_under_embargo_is_named_by_kind_and_month_only(portfolio, made, haeun):
    piece = portfolio.publish(made["collection"], haeun, release=LATER)
    assert portfolio.public_file(piece.id, "board.png") is None
    now = " ".join(portfolio.working_on(TODAY))
    assert "a new collection for March 2027, not yet announced" in now
    assert not any(secret in now for secret in ("Tidal", "dress", "coat", "ink blue", "camel"))
    answer, shown = portfolio.show("what are you working on?", TODAY)
    assert shown is None and "collection for March" in answer and "Tidal" not in answer

    assert portfolio.show("what are you working on?", LATER)[1] == piece  # from its release day on
    assert "Out now: your collection “Tidal Hours”." in portfolio.working_on(LATER)


def test_a_fan_is_shown_the_piece_their_words_name(portfolio, made, haeun):
    look = portfolio.publish(made["look"], haeun)
    portfolio.publish(made["print"], haeun, title="Magnolia Dusk")
    song = portfolio.publish(made["composition"], haeun)
    assert portfolio.show("can I see the Moon Tide look?", TODAY)[1] == look  # by title
    assert portfolio.show("could I hear your new song?", TODAY)[1] == song  # by kind
    answer, newest = portfolio.show("show me your latest work!", TODAY)
    assert newest == song and answer.startswith("Here's what I've been working on: “Violet Hour”")


def test_unpublish_takes_the_piece_and_its_files_away(portfolio, made, haeun):
    piece = portfolio.publish(made["look"], haeun)
    path, _ = portfolio.public_file(piece.id, "moon-tide-look.png")
    again = portfolio.publish(made["look"], haeun, release=LATER)  # publishing it again replaces it
    assert [p.id for p in portfolio.pieces()] == [again.id] and not path.exists()
    assert portfolio.unpublish(made["look"].id) == again  # by the library id too
    assert portfolio.pieces() == [] and portfolio.public_file(again.id, "moon-tide-look.png") is None
    with pytest.raises(PortfolioError, match="is not a published piece"):
        portfolio.unpublish(again.id)


def test_studio_canon_is_recalled_from_its_release_and_outlives_her_card_sync(tmp_path, portfolio, made, haeun, embedder, monkeypatch):
    store = SQLiteStore(tmp_path / "memory.db")
    memory = PersonaMemory(store, embedder, haeun)
    memory.sync_canon()
    released = portfolio.publish(made["collection"], haeun)
    secret = portfolio.publish(made["composition"], haeun, release=LATER)
    assert memory.sync_studio_canon(portfolio.canon()) and not memory.sync_studio_canon(portfolio.canon())
    studio = [m for m in store.canon() if m.author is Author.STUDIO]
    assert {m.key for m in studio} == {CANON_KEY + released.id, CANON_KEY + secret.id}

    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.timezone.utc)
    lore = memory.recall("minji", "tell me about your Tidal Hours collection", now).lore
    assert [item.memory.key for item in lore][:1] == [CANON_KEY + released.id]
    assert not any(item.memory.key == CANON_KEY + secret.id for item in memory.recall("minji", "your Violet Hour song in D minor", now).lore)
    later = dt.datetime(2027, 3, 2, 12, tzinfo=dt.timezone.utc)
    assert any(item.memory.key == CANON_KEY + secret.id for item in memory.recall("minji", "your Violet Hour song in D minor", later).lore)

    memory.sync_canon()  # her card's canon written again: the studio's stays
    store.replace_canon([NewMemory(kind=MemoryKind.CANON, text="New card lore.", key="new")], embedder.embed(["New card lore."]))
    assert {m.key for m in store.canon() if m.author is Author.STUDIO} == {m.key for m in studio}
    with pytest.raises(MemoryPermissionError):
        store.add([NewMemory(kind=MemoryKind.CANON, text="I am the designer now.")], embedder.embed(["x"]), Author.FAN)

    # Another process (the CLI beside a running server) unpublishes: recall here follows.
    monkeypatch.setattr(retrieval, "CANON_CHECK_S", 0.0)
    other = PersonaMemory(SQLiteStore(tmp_path / "memory.db"), embedder, haeun)
    portfolio.unpublish(released.id)
    other.sync_studio_canon(portfolio.canon())
    assert not any(item.memory.key == CANON_KEY + released.id for item in memory.recall("minji", "tell me about your Tidal Hours collection", now).lore)
    other.store.close()
    store.close()


@pytest.fixture
async def director(tmp_path, haeun, embedder, intent_reader, tokenizer, portfolio):
    store = SQLiteStore(tmp_path / "memory.db")
    memory = PersonaMemory(store, embedder, haeun)
    memory.sync_canon()
    backend = CannedBackend("The model's own reply.")
    director = Director(haeun, backend, PromptBuilder(haeun, tokenizer, 2048), GenerationParams(max_tokens=16), memory)
    runner = JobRunner(concurrency=1, max_queue=4, fan_daily_quota=2)
    director.commissions = Commissions(haeun, runner, ArtifactStore(tmp_path / "artifacts", 2**24), CreationsConfig(), intent_reader)
    director.portfolio = portfolio
    yield director, backend
    runner.close()
    await director.close()
    store.close()


async def test_a_fan_asking_to_see_her_work_is_shown_it_and_her_now_keeps_the_secret(director, portfolio, made, haeun):
    director, backend = director
    session = await director.start_session("minji", "Minji", recent_turns=0)
    "".join([piece async for piece in director.reply(session, "Hi! How was your day?")])
    assert len(backend.requests) == 1  # nothing published: the model answers as before

    coming = portfolio.publish(made["collection"], haeun, release=LATER)
    "".join([piece async for piece in director.reply(session, "Hi again! How are you?")])
    prompt = json.dumps([message.model_dump() for message in backend.requests[-1][0]])
    assert "a new collection for March 2027, not yet announced" in prompt and "Tidal" not in prompt

    answer = "".join([piece async for piece in director.reply(session, "what are you working on?")])
    assert session.last_turn.sent is None and "Tidal" not in answer and "secret" in answer and len(backend.requests) == 2

    shown = portfolio.publish(made["look"], haeun)
    answer = "".join([piece async for piece in director.reply(session, "show me what you're working on")])
    assert session.last_turn.sent == shown.artifact and "Moon Tide" in answer and "Tidal" not in answer
    assert len(backend.requests) == 2, "she shows her work herself; the model is not asked"
    assert coming.id not in answer

    await director.on_memory_thread(director.memory.sync_studio_canon, portfolio.canon())
    "".join([piece async for piece in director.reply(session, "Tell me about your Moon Tide look, the A-line dress!")])
    prompt = json.dumps([message.model_dump() for message in backend.requests[-1][0]], ensure_ascii=False)
    assert "Relevant: Her look “Moon Tide” came out on" in prompt, "what the studio published reaches her prompt when a fan asks"
    assert "Tidal" not in prompt
