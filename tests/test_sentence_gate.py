"""Her reply reaches the fan one finished sentence at a time, and only sentences that keep to her
card: the sentence gate on its own, through the Director, and over a real server's WebSocket and
/v1 endpoints with a model server that says what it should not."""

from __future__ import annotations

import datetime as dt
import json
import random

import httpx
import openai
import pytest

from canned_backend import StreamedBackend
from persona.director import Director
from persona.memory.consistency import CanonChecker
from persona.prompt import PromptBuilder
from persona.reply_quality import FanFacts, repeated_run
from persona.sentence_gate import BOUNDARY, SentenceGate, fan_facts
from pipelines.dialogue import GenerationParams
from scripted_model_server import ScriptedModelServer
from serving_server import AtelierServer, Client, token

TODAY = dt.date(2026, 11, 21)
CONTRADICTION = "I have a dog named Max."  # her pet lore is Bobbin the cat
MINJI = "Hi! My name is Minji and my dog is called Bori. I love linen dresses."


@pytest.fixture
def gate(haeun):
    return SentenceGate(CanonChecker(haeun), TODAY, FanFacts(name="Minji", pets=["Bori"]))


def streamed(gate: SentenceGate, text: str, chunk: int = 3) -> list[str]:
    """What the fan receives, delta by delta, when `text` streams through the gate."""
    return [gate.feed(text[i:i + chunk]) for i in range(0, len(text), chunk)]


def test_a_sentence_is_released_only_once_it_has_ended(gate):
    deltas = streamed(gate, "Bobbin is asleep on the pattern paper. What are you making?")
    assert "".join(deltas) == "Bobbin is asleep on the pattern paper."  # the question is still held
    first = next(i for i, delta in enumerate(deltas) if delta)
    assert first == (len("Bobbin is asleep on the pattern paper. ") - 1) // 3  # released with the space after it
    assert gate.finish("stop") == " What are you making?"


def test_a_sentence_that_contradicts_her_card_is_dropped_and_the_reply_goes_on(gate):
    sent = "".join(streamed(gate, f"Oh hello! {CONTRADICTION} I'm 45 years old. I live in Paris. Bobbin says hi.")) + gate.finish()
    assert sent == "Oh hello! Bobbin says hi."
    assert [d.sentence for d in gate.dropped] == [CONTRADICTION, "I'm 45 years old.", "I live in Paris."]
    assert "cat-bobbin" in gate.dropped[0].why and "age" in gate.dropped[1].why and "home" in gate.dropped[2].why


def test_the_fans_name_and_pets_never_become_hers(gate):
    sent = "".join(streamed(gate, "Lovely to meet you, Minji! My dog Bori loves walks. I'm Minji too. Tell me about Bori!")) + gate.finish()
    assert sent == "Lovely to meet you, Minji! Tell me about Bori!"
    assert [d.why for d in gate.dropped] == ["calls Bori hers", "calls herself Minji"]


def test_a_loop_ends_the_reply_at_the_last_clean_sentence(gate):
    # The reply: the model repeats itself and would go on to its token limit.
    looping = "He loves me, too. He's my best mate. He's my best mate. He's my best brother. He's my father."
    sent = "".join(streamed(gate, looping))
    assert sent == "He loves me, too. He's my best mate." and gate.ended == "loop"
    assert gate.feed(" More text.") == "" and gate.finish() == ""  # nothing after the loop
    assert gate.dropped[-1].why == "repeats a sentence"


def test_a_repeated_four_word_run_inside_new_sentences_is_a_loop_too(gate):
    sent = "".join(streamed(gate, "I sew every single day. Then I sew every single night, you see. Done.")) + gate.finish()
    assert sent == "I sew every single day." and gate.dropped[-1].why == "repeats 'i sew every single'"
    assert not repeated_run(sent)


def test_max_sentences_ends_the_reply_after_that_many(haeun):
    gate = SentenceGate(CanonChecker(haeun), TODAY, max_sentences=2)
    sent = "".join(streamed(gate, "One thing. Two things! Three things? Four.")) + gate.finish()
    assert sent == "One thing. Two things!" and gate.ended == "max_sentences"


@pytest.mark.parametrize(("finish_reason", "tail", "kept"), [
    ("length", "and then I went to the mark", False),  # cut by the token limit mid-sentence: never sent
    ("length", "Come and see it!", True),  # the limit fell just after an end mark
    ("stop", "and that is all", True),  # the model ended it there itself
    ("length", "🧵", True),  # an emoji after the last sentence is finished as it is
])
def test_text_left_unfinished_by_the_token_limit_is_not_sent(gate, finish_reason, tail, kept):
    sent = "".join(streamed(gate, f"Dongdaemun was busy. {tail}")) + gate.finish(finish_reason)
    assert sent == ("Dongdaemun was busy. " + tail if kept else "Dongdaemun was busy.")


def test_fan_facts_come_from_the_message_and_what_is_remembered():
    facts = fan_facts("", MINJI, ["The fan's sister is named Yuna."])
    assert facts.name == "Minji" and facts.pets == ["Bori"] and facts.people == ["Yuna"]
    assert fan_facts("Jisoo", "my best friend is called Hana and my cat Mochi sleeps a lot").people == ["Hana"]


async def test_the_director_sends_the_fan_only_checked_sentences_and_remembers_what_was_sent(haeun, tokenizer):
    backend = StreamedBackend(f"Minji, hi! {CONTRADICTION} My dog Bori is sweet. Linen is lovely. Linen is lovely. Linen is lovely.")
    director = Director(haeun, backend, PromptBuilder(haeun, tokenizer, 4096), GenerationParams(max_tokens=64))
    session = await director.start_session()
    deltas = [delta async for delta in director.reply(session, MINJI)]
    assert "".join(deltas) == "Minji, hi! Linen is lovely."
    turn = session.last_turn
    assert turn.text == "Minji, hi! Linen is lovely." and turn.finish_reason == "loop"
    assert [d.why.split(" (")[0] for d in turn.dropped] == ["Haeun has a dog named Max.", "calls Bori hers", "repeats a sentence"]
    assert backend.sent < len(backend.replies[0])  # the loop stopped generation, not just the sending
    assert session.history[-1].content == turn.text  # the next prompt holds what the fan read
    await director.close()


async def test_max_sentences_and_a_token_limit_give_a_clean_ending(haeun, tokenizer):
    params = GenerationParams(max_tokens=64, max_sentences=2)
    director = Director(haeun, StreamedBackend("One. Two. Three.", "Hello there. Bobbin is a tabby and he", finish_reason="length"),
                        PromptBuilder(haeun, tokenizer, 4096), params)
    session = await director.start_session()
    assert "".join([d async for d in director.reply(session, "hi")]) == "One. Two."
    assert session.last_turn.finish_reason == "max_sentences"
    assert "".join([d async for d in director.reply(session, "and Bobbin?")]) == "Hello there."
    assert session.last_turn.finish_reason == "length"
    await director.close()


async def test_when_every_sentence_is_dropped_she_redirects_in_character(haeun, tokenizer):
    director = Director(haeun, StreamedBackend(f"{CONTRADICTION} I live in Paris."), PromptBuilder(haeun, tokenizer, 4096), GenerationParams(max_tokens=64))
    session = await director.start_session()
    assert "".join([d async for d in director.reply(session, "tell me about you")]) == haeun.safety.redirect
    await director.close()


class RescanGate(SentenceGate):
    """The gate as first written, the plain way: each delta searches all the text it holds for a
    boundary. The gate must release exactly what this one releases, delta by delta."""

    def feed(self, delta: str) -> str:
        if self.ended:
            return ""
        self._pending += delta
        out = []
        while not self.ended and (boundary := BOUNDARY.search(self._pending)):
            sentence, separator = self._pending[: boundary.end()].rstrip(), boundary.group()[len(boundary.group().rstrip()):]
            self._pending = self._pending[boundary.end():]
            out.append(self._release(sentence))
            self._separator = separator if self.released else ""
        return "".join(out)


GATE_WORDS = ("Bobbin linen hem ramie organza persimmon skylight Jiwoo pattern paper studio tea rain bassline celadon hanji "
              "ripple tide moon ink sewing machine collar bias coat dress wrap jacket stitch seam dart pleat I my you we "
              "Minji Bori Max dog cat Paris 45 3.5 e.g. U.S. 오늘은 동대문에서 모시 원단 보고 왔어 너는 뭐 만들었어").split()
GATE_ENDS = [".", "!", "?", "…", "~", "!!!", "?!", "...", ".\"", "!'", "?”", "…)", "~]", ".’", "!)\"", ""]
GATE_SPACES = [" ", " ", " ", "\n", "  ", "\n\n", " \t", ""]


def assert_same_sentences(checker, deltas: list[str], finish_reason: str) -> None:
    gate, rescan = (kind(checker, TODAY, FanFacts(name="Minji", pets=["Bori"]), max_sentences=None) for kind in (SentenceGate, RescanGate))
    for delta in deltas:
        assert gate.feed(delta) == rescan.feed(delta), (deltas, delta)
    assert gate.finish(finish_reason) == rescan.finish(finish_reason), deltas
    assert (gate.released, gate.dropped, gate.ended) == (rescan.released, rescan.dropped, rescan.ended), deltas


def test_the_gate_releases_what_a_full_rescan_releases_on_random_streams(haeun):
    checker, rng = CanonChecker(haeun), random.Random(11)
    for _ in range(600):
        sentences = [" ".join(rng.choice(GATE_WORDS) for _ in range(rng.randint(1, 9))) + rng.choice(GATE_ENDS) for _ in range(rng.randint(1, 6))]
        text = "".join(sentence + rng.choice(GATE_SPACES) for sentence in sentences)
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 16))))
        assert_same_sentences(checker, [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])], rng.choice(["stop", "length"]))


@pytest.mark.parametrize("text", [
    "Bobbin is asleep on the pattern paper. What are you making?", 'She said "Wow!!!" \n\nThen left?!) Okay… fine~ ok',
    "오늘은 동대문에서 모시 원단 보고 왔어! 너는 오늘 뭐 만들었어? 3.5 metres, e.g. linen.\tDone.)] Next",
    f"Oh hello! {CONTRADICTION} I live in Paris. Bobbin says hi.",
])
def test_the_gate_releases_what_a_full_rescan_releases_with_a_boundary_split_anywhere(haeun, text):
    checker = CanonChecker(haeun)
    for i in range(len(text) + 1):
        for j in range(i, min(len(text), i + 4) + 1):  # in two, and in three with the middle short
            assert_same_sentences(checker, [text[:i], text[i:j], text[j:]], "length")
    assert_same_sentences(checker, list(text), "stop")  # a character at a time


@pytest.fixture(scope="module")
def lying_server(cache_dir, model_dir, tmp_path_factory):
    """`atelier serve` on a model server that contradicts her card in every reply."""
    script = f"Hello Minji! {CONTRADICTION} My dog Bori says hi. I sew in Mangwon every day. What are you making?"
    with ScriptedModelServer(script) as model, AtelierServer(
        cache_dir, tmp_path_factory.mktemp("lying"), dialogue__backend="openai", dialogue__base_url=model.base_url,
        dialogue__model=model.model,
    ) as server:
        yield server


CLEAN = "Hello Minji! I sew in Mangwon every day. What are you making?"


async def test_a_contradiction_never_reaches_a_fan_over_the_websocket(lying_server):
    fan = await Client.connect(lying_server, "minji")
    await fan.until("ready")
    await fan.send(type="message", id="m1", text=MINJI)
    end = await fan.until("end")
    received = "".join(f["text"] for f in fan.frames if f["type"] == "delta")
    assert received.strip() == end["text"] == CLEAN
    assert "Max" not in json.dumps(fan.frames) and "My dog" not in json.dumps(fan.frames)
    await fan.close()


async def test_a_contradiction_never_reaches_an_openai_client(lying_server):
    client = openai.AsyncOpenAI(base_url=f"{lying_server.url}/v1", api_key=token("minji-v1"), http_client=httpx.AsyncClient())
    whole = await client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": MINJI}])
    assert whole.choices[0].message.content == CLEAN and whole.choices[0].finish_reason == "stop"
    stream = await client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": MINJI}], stream=True)
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == CLEAN
    await client.close()
