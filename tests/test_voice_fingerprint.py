"""Her voice, measured: the fingerprint of a set of replies, her card's reference, the drift
warnings, and `atelier persona report` on a memory store with a few stored turns."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from conftest import atelier
from persona.memory.persona_memory import PersonaMemory
from persona.memory.records import Author, MemoryKind, NewMemory
from persona.memory.sqlite_store import SQLiteStore
from persona.voice_fingerprint import VoiceFingerprint, compare, emoji_count, reference_fingerprint, report_lines, voice_section
from serving.cli import main
from serving.persona_report_cli import SAMPLE_MESSAGES

CRAFTED = [
    "Tell me what you’re making!",  # a catchphrase with a curly apostrophe and no full stop
    "조금만 더, and the hem will sit right. What fabric is it?",  # her Korean catchphrase without its gloss; a question
    "I love it 😊✨ so much 🌸",  # three emoji where her card allows one
    "Honestly, I'm just an AI, but that sounds lovely.",  # a banned phrase
    "Pinning a hem. Rain on the skylight. You?",  # three sentences, a question
]

LONG_SENTENCE = ("The silk organza that I picked up at the market this morning has a slightly uneven weave which catches "
                 "the light from the skylight in a way that reminds me of the river at dusk when the wind moves across "
                 "the surface and every ripple seems to carry a little of the colour of the sky back towards the bank")
DRIFTED = [f"{LONG_SENTENCE} 😊🌸✨🎶." for _ in range(9)] + [f"As an AI language model, {LONG_SENTENCE.lower()} 😊😊."]


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return vector / np.linalg.norm(vector)


# --- the fingerprint ------------------------------------------------------------------------


def test_measure_counts_each_figure_on_crafted_replies(haeun):
    measured = VoiceFingerprint.measure(CRAFTED + ["   "], haeun)  # a blank reply is not a reply
    assert measured.replies == 5
    assert measured.catchphrase_rate == 0.4
    assert measured.catchphrases == {"Tell me what you're making.": 1, "조금만 더 — a little more.": 1}
    assert measured.korean_rate == 0.2 and measured.korean_words == {"조금만": 1, "더": 1}
    assert measured.sentences_per_reply_mean == 1.6 and measured.sentences_per_reply_p50 == 1
    assert measured.emoji_per_reply == 0.6 and measured.over_emoji_policy_rate == 0.2
    assert measured.banned_replies == 1 and measured.banned_phrases == {"I'm just an AI": 1}
    assert measured.question_rate == 0.4 and measured.exclamation_rate == 0.2


def test_phrases_match_whole_words_and_emoji_count_once_each(haeun):
    assert VoiceFingerprint.measure(["It rained on my training database, sadly."], haeun).banned_replies == 0  # not "my training data"
    loosely = VoiceFingerprint.measure(["IM JUST AN AI...", "as an ai-language model"], haeun)
    assert loosely.banned_phrases == {"I'm just an AI": 1, "As an AI language model": 1}
    assert emoji_count("👩‍👩‍👧 🇰🇷 ❤️ 👍🏽") == 4 and emoji_count("— … ™ ©") == 0
    plain = haeun.model_copy(update={"voice": haeun.voice.model_copy(update={"emoji": haeun.voice.emoji.model_copy(update={"allowed": False})})})
    assert VoiceFingerprint.measure(["Lovely 😊", "Lovely."], plain).over_emoji_policy_rate == 0.5


def test_her_reference_comes_from_her_example_dialogue_and_greetings(haeun):
    reference = reference_fingerprint(haeun)
    assert reference.replies == len(haeun.voice.example_dialogue) + len(haeun.voice.greetings)
    assert 0.5 < reference.question_rate < 1, "she usually asks people what they are making"
    assert 0 < reference.korean_rate < 0.5 and "안녕" in reference.korean_words
    assert reference.banned_replies == 0 and reference.over_emoji_policy_rate == 0 and 0 < reference.emoji_per_reply < 1
    assert 5 < reference.words_per_sentence_mean < 25 and 1 < reference.sentences_per_reply_mean < 6


def test_drift_warnings_fire_for_a_drifted_set(haeun):
    measured, reference = VoiceFingerprint.measure(DRIFTED, haeun), reference_fingerprint(haeun)
    assert measured.words_per_sentence_mean > 5 * reference.words_per_sentence_mean
    drifts = {drift.figure: drift for drift in compare(measured, reference, haeun)}
    assert {"question_rate", "over_emoji_policy_rate", "banned_replies", "words_per_sentence_mean", "korean_rate"} <= set(drifts)
    assert drifts["banned_replies"].warning == '1 reply says a phrase her card bans: "As an AI language model" (1)'
    assert drifts["question_rate"].measured == 0 and drifts["question_rate"].reference == reference.question_rate
    assert "100% of replies use more emoji than her card allows (at most 1 a message)" in drifts["over_emoji_policy_rate"].warning
    assert "over 2x hers" in drifts["words_per_sentence_mean"].warning


def test_no_drift_for_her_own_example_dialogue(haeun):
    reference = reference_fingerprint(haeun)
    examples = VoiceFingerprint.measure([example.persona for example in haeun.voice.example_dialogue], haeun)
    assert compare(examples, reference, haeun) == [] and compare(reference, reference, haeun) == []


def test_a_few_replies_warn_about_policy_but_not_rates(haeun):
    reference = reference_fingerprint(haeun)
    few = VoiceFingerprint.measure(["Fine.", "Fine, I hope this helps."], haeun)
    assert [drift.figure for drift in compare(few, reference, haeun)] == ["banned_replies"]
    clean = VoiceFingerprint.measure(["Fine.", "Sure."], haeun)
    assert compare(clean, reference, haeun) == []
    assert "the rates are compared from 5 replies on (2 so far)" in report_lines(clean, reference, [])[-1]


def test_report_lines_show_both_columns_and_the_drift(haeun):
    section = voice_section(DRIFTED, haeun)
    assert section["measured"]["replies"] == 10 and section["reference"]["replies"] == 13
    measured, reference = VoiceFingerprint.measure(DRIFTED, haeun), reference_fingerprint(haeun)
    lines = report_lines(measured, reference, compare(measured, reference, haeun))
    question = next(line for line in lines if line.startswith("question rate"))
    assert question.split()[-2:] == ["0%", f"{reference.question_rate:.0%}"]
    assert f"Drift ({len(section['drift'])}):" in lines
    assert sum(line.startswith("  ! ") for line in lines) == len(section["drift"]) >= 5
    assert "banned phrases: As an AI language model (1)" in lines
    empty = report_lines(None, reference, [])
    assert empty[-1].startswith("No replies of hers to measure")
    assert next(line for line in empty if line.startswith("question rate")).split()[-2:] == ["-", f"{reference.question_rate:.0%}"]


class HashEmbedder:
    """A vector per text, with no model: enough to store turns and learn from them."""

    dimension = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([unit(zlib.crc32(text.encode())) for text in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def test_her_stored_replies_are_what_a_turn_stores_of_hers(tmp_path, haeun):
    """The director commits each turn with `remember_turn`; learning from it adds fan facts and
    what she said about herself. Only her reply lines come back, never the fan's or the learning."""
    memory = PersonaMemory(SQLiteStore(tmp_path / "memory-haeun.db"), HashEmbedder(), haeun)
    memory.remember_turn("jisoo", "Hi! I'm Jisoo and my dog is called Bori.", "Hi Jisoo! Bobbin will be jealous. What are you making?")
    memory.remember_turn("jisoo", "hello?", "")  # a turn where nothing of hers was said
    memory.remember_turn("minho", "I live in Busan.", "Busan! I'm learning the cello these days, slowly. You?")
    assert memory.process_jobs() == 3
    stored = {m.kind for fan in ("jisoo", "minho") for m in memory.store.export_fan(fan)}
    assert {MemoryKind.EPISODIC, MemoryKind.FAN_FACT, MemoryKind.PERSONA} <= stored, "her claim about the cello is hers too, but not a reply"
    assert memory.store.persona_replies(10) == ["Hi Jisoo! Bobbin will be jealous. What are you making?",
                                                 "Busan! I'm learning the cello these days, slowly. You?"]
    memory.store.close()


# --- atelier persona report -----------------------------------------------------------------

TURNS = [
    ("alice", "Hi Haeun!", "Hi, welcome in! Mind the cat. What are you making today?"),
    ("bob", "I'm stuck on a song.", "Stuck is fine, it means the song has an opinion. What key is it in?"),
    ("alice", "A linen shirt.", "Linen! 조금만 더 patience with the seams and it will sing. Which colour?"),
    ("bob", "D minor.", "Moody but open. Try a sewing-machine loop under it. How fast is it?"),
    ("alice", "Thanks!", "Any time. Tell me how the collar sits, okay?"),
]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Her memory with five stored turns with two fans, and settings that point at it."""
    store = SQLiteStore(tmp_path / "memory-haeun.db")
    for index, (fan, said, reply) in enumerate(TURNS):
        lines = [NewMemory(kind=MemoryKind.EPISODIC, fan_id=fan, text=said), NewMemory(kind=MemoryKind.EPISODIC, fan_id=fan, text=reply)]
        store.add(lines, np.stack([unit(2 * index), unit(2 * index + 1)]), [Author.FAN, Author.PERSONA])
    store.close()
    monkeypatch.setenv("ATELIER_MEMORY__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ATELIER_MEMORY__BACKEND", "sqlite")
    return tmp_path


def report(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["persona", "report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_measures_her_stored_replies(data_dir, capsys):
    code, out, err = report(capsys, "haeun")
    assert code == 0, err
    assert out.startswith("Haeun's voice in her newest 5 stored replies to every fan (at most 200)")
    assert "Korean words: 조금만 (1)" in out and "question rate" in out
    assert "Drift" in out or "No drift" in out
    code, out, _ = report(capsys, "haeun", "--fan", "alice", "--limit", "1")
    assert code == 0 and "Haeun's voice in her one stored reply to alice (at most 1)" in out


def test_report_json_is_her_replies_beside_her_reference(data_dir, capsys, haeun):
    code, out, err = report(capsys, "haeun", "--json", "--fan", "bob")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["persona"] == "haeun" and figures["source"] == "memory" and figures["fan"] == "bob" and figures["limit"] == 200
    assert figures["measured"] == VoiceFingerprint.measure([reply for fan, _, reply in TURNS if fan == "bob"], haeun).model_dump()
    assert figures["measured"]["question_rate"] == 1.0 and figures["reference"] == reference_fingerprint(haeun).model_dump()
    assert figures["drift"] == [], "two replies: too few for the rates, and nothing banned"


def test_report_with_no_stored_replies_shows_her_reference(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATELIER_MEMORY__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ATELIER_MEMORY__BACKEND", "sqlite")
    code, out, err = report(capsys, "haeun")
    assert code == 0, err
    assert out.startswith("Haeun has no stored replies to any fan yet") and "--sample N" in out
    assert "No replies of hers to measure, so nothing to compare: only her reference is shown." in out
    figures = json.loads(report(capsys, "haeun", "--json")[1])
    assert figures["measured"] is None and figures["reference"]["replies"] == 13 and figures["drift"] == []


def test_report_errors_name_what_is_wrong(data_dir, capsys):
    code, _, err = report(capsys, "nobody")
    assert code == 1 and "no persona 'nobody'" in err and "haeun" in err
    code, _, err = report(capsys, "haeun", "--fan", "carol")
    assert code == 1 and err.startswith("error: --fan carol: Haeun has nothing stored about this fan")
    code, _, err = report(capsys, "haeun", "--sample", "3", "--fan", "alice")
    assert code == 2 and "--sample makes fresh replies" in err
    for bad in (["Bad!"], ["haeun", "--fan", "*canon"], ["haeun", "--limit", "0"], ["haeun", "--sample", "x"]):
        with pytest.raises(SystemExit) as exited:
            main(["persona", "report", *bad])
        assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "is not a persona id" in err and "is not a fan id" in err and "give at least 1, got 0" in err


def test_report_command_runs_as_a_user_runs_it(data_dir):
    result = atelier("persona", "report", "haeun", "--json", env={"ATELIER_MEMORY__DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["measured"]["replies"] == 5


def test_sample_measures_fresh_replies_and_stores_nothing(data_dir, cache_dir, model_dir, monkeypatch, capsys):
    """`--sample` through her director, with a canned backend in place of the model (the tokenizer is the real one)."""
    from canned_backend import CannedBackend

    import persona.engine.runtime

    backend = CannedBackend("Oh, lovely! 조금만 더 and it's done. What are you making?", "Slowly, like ramie drying. The seam wants patience.")
    monkeypatch.setattr(persona.engine.runtime, "create_backend", lambda *args, **kwargs: backend)
    monkeypatch.setenv("ATELIER_CACHE_DIR", str(cache_dir))
    code, out, err = report(capsys, "haeun", "--sample", "3", "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["source"] == "sample" and figures["measured"]["replies"] == 3
    assert [sample["message"] for sample in figures["samples"]] == [message for _, message in SAMPLE_MESSAGES[:3]]
    assert figures["measured"]["question_rate"] == 0.333 and figures["measured"]["catchphrase_rate"] == 1.0
    assert [params.seed for _, params in backend.requests] == [0, 1, 2], "a fixed seed per reply"
    assert "[3/3]" in err
    code, out, _ = report(capsys, "haeun")
    assert "newest 5 stored replies" in out, "the sampled replies were not remembered"


def test_report_summarises_the_pieces_she_made_with_their_drift(data_dir, capsys, tmp_path):
    from persona.engine.artifacts import ArtifactStore

    store = ArtifactStore(data_dir / "artifacts", max_bytes_per_fan=2**20)
    tile = tmp_path / "print.png"
    tile.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    teal = ["Teal (#008080) is ΔE 27.6 from her nearest colour, Wet Slate: outside her palette (the fan's favourite colour)"]
    store.add("alice", "print", "Mochi's Flowers", [tile], brief="magnolias", fingerprint={"mean_delta_e": 9.2, "drift": teal})
    store.add("bob", "print", "Rain Folds", [tile], brief="rain", fingerprint={"mean_delta_e": 0.0, "drift": []})

    code, out, err = report(capsys, "haeun")
    assert code == 0, err
    assert "Pieces she made for fans: 2 (1 off her DNA)" in out and "print 'Mochi's Flowers'" in out and "ΔE 27.6" in out
    figures = json.loads(report(capsys, "haeun", "--json", "--fan", "bob")[1])
    assert figures["pieces"] == {"count": 1, "off_her_dna": 0, "drifted": []}  # one fan's pieces only
