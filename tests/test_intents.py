"""Reading a fan's message for a creative request, with the real MiniLM embedder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from persona.intents import NOT_TYPOS, SPELLING, Intent, IntentReader, load_labelled, normalise, score
from persona.memory.embeddings import Embedder

DATASET = Path(__file__).parent / "data" / "intents.jsonl"


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.embedder.embed(texts)


@pytest.fixture(scope="module")
def messages():
    return load_labelled(DATASET)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write me a song", "song"),
        ("Could you compose a lullaby for my nephew?", "song"),
        ("design me a dress", "look"),
        ("please make me an outfit for a wedding", "look"),
        ("make a print with tigers", "print"),
        ("can you design a pattern of tiny ginkgo leaves?", "print"),
        ("what are you working on?", "show_work"),
        ("Show me what you're making these days", "show_work"),
        ("I'd love a song about the sea", "song"),
        ("would you make me a coat?", "look"),
    ],
)
def test_explicit_requests(intent_reader, text, kind):
    intent = intent_reader.read(text)
    assert (intent.kind, intent.source) == (kind, "rule")
    assert intent.brief == text and intent.confidence == pytest.approx(0.95)


def test_the_object_nearest_the_verb_decides(intent_reader):
    assert intent_reader.read("design me a dress with a floral print").kind == "look"
    assert intent_reader.read("make a floral pattern for my dress").kind == "print"
    assert intent_reader.read("write a song about my new jacket").kind == "song"


@pytest.mark.parametrize(
    "text",
    [
        "I love your last song",
        "my sister designs dresses",
        "what's your favourite print?",
        "I'm listening to your song right now",
        "do you like writing songs?",
        "how long does it take you to design a dress?",
        "can you tell me about your spring collection?",
        "I made a skirt for myself last weekend",
        "my mom used to sing me lullabies",
        "would you ever wear neon?",
        "can you play your rain song for me?",
        "I want to be a designer like you",
        "I'd really appreciate a short reply, no rush",
        "can you sing?",
    ],
)
def test_near_misses_are_none(intent_reader, text):
    assert intent_reader.read(text).kind == "none"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("노래 만들어 줘", "song"),
        ("우리 고양이 노래 하나 작곡해 주세요", "song"),
        ("여름 원피스 디자인해 줄래?", "look"),
        ("꽃무늬 패턴 만들어 주세요", "print"),
        ("요즘 무슨 작업 해요?", "show_work"),
        ("해은님 제 생일 노래 좀 써 줘 please", "song"),
    ],
)
def test_korean_requests(intent_reader, text, kind):
    assert intent_reader.read(text).kind == kind


@pytest.mark.parametrize("text", ["네 노래 너무 좋아", "작곡은 어떻게 배웠어요?", "그 원피스 어디서 샀어요?", "오늘 날씨 춥다"])
def test_korean_near_misses_are_none(intent_reader, text):
    assert intent_reader.read(text).kind == "none"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_none(intent_reader, text):
    assert intent_reader.read(text) == Intent(kind="none", brief="", confidence=1.0, source="rule")


def test_typos_of_the_words_that_matter(intent_reader):
    assert normalise("Desing me a skirt") == "design me a skirt"
    assert intent_reader.read("can u compse a tune for me").kind == "song"


def test_no_typo_fix_turns_a_real_word_into_another(embedder):
    """A slip that is itself a word ("short" for "shorts") must stay that word."""
    vocabulary = set(embedder.model.tokenizer.get_vocab())
    assert {typo for typo in SPELLING if typo in vocabulary} == set()
    assert NOT_TYPOS <= vocabulary


def test_a_given_vector_is_not_embedded_again(embedder):
    counting = CountingEmbedder(embedder)
    reader = IntentReader(counting)
    assert len(counting.calls) == 1  # the prototypes, once
    text = "a polka-dot pattern but make it weird, for me?"  # left open by the rules: the embedding decides
    vector = embedder.embed([text])[0]
    counting.calls.clear()
    with_vector = reader.read(text, vector)
    assert counting.calls == []
    assert with_vector.source == "embedding"
    assert reader.read(text) == with_vector
    assert counting.calls == [[text]]
    counting.calls.clear()
    reader.read("write me a song")  # the rules decide: nothing to embed
    reader.read("good morning!")  # asks for nothing: nothing to embed
    assert counting.calls == []


def test_a_vector_of_the_wrong_size_is_refused(intent_reader):
    with pytest.raises(ValueError, match="expected 384 numbers"):
        intent_reader.read("could you make something for me?", np.zeros(12, np.float32))


def test_intents_are_frozen_and_checked():
    intent = Intent(kind="song", brief="write me a song", confidence=0.9, source="rule")
    with pytest.raises(ValidationError):
        intent.kind = "look"
    with pytest.raises(ValidationError):
        Intent(kind="poem", confidence=0.5, source="rule")
    with pytest.raises(ValidationError):
        Intent(kind="song", confidence=1.5, source="rule")


def test_confidences_lie_between_zero_and_one(intent_reader, messages):
    for message in messages[:60]:
        assert 0.0 <= intent_reader.read(message.text).confidence <= 1.0


def test_the_dataset_is_balanced_as_promised(messages):
    assert len(messages) >= 220
    splits = Counter(message.split for message in messages)
    assert 0.55 <= splits["tuning"] / len(messages) <= 0.65
    for split in ("tuning", "held_out"):
        kinds = Counter(message.kind for message in messages if message.split == split)
        assert set(kinds) == {"look", "print", "song", "show_work", "none"}
        assert kinds["none"] / splits[split] >= 0.4
    assert len({message.text for message in messages}) == len(messages)


@pytest.mark.parametrize(("split", "precision", "recall"), [("held_out", 0.95, 0.90), ("tuning", 0.95, 0.90)])
def test_precision_and_recall_on_the_shipped_dataset(intent_reader, embedder, messages, split, precision, recall):
    chosen = [message for message in messages if message.split == split]
    vectors = embedder.embed([message.text.strip() for message in chosen])  # as the chat turn has them
    read = [intent_reader.read(message.text, vector).kind for message, vector in zip(chosen, vectors)]
    scores = score([message.kind for message in chosen], read, [message.text for message in chosen])
    assert scores.precision >= precision and scores.recall >= recall, scores.mistakes


def test_scores_count_a_wrong_kind_as_a_false_positive_and_a_miss():
    scores = score(["song", "look", "none", "none"], ["song", "print", "none", "song"])
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 2)
    assert scores.confusion["look"] == {"print": 1} and scores.confusion["none"] == {"none": 1, "song": 1}


def test_a_bad_dataset_line_is_named(tmp_path):
    path = tmp_path / "intents.jsonl"
    path.write_text('{"text": "write me a song", "kind": "song", "split": "tuning"}\n{"text": "hi", "kind": "poem", "split": "tuning"}\n')
    with pytest.raises(ValueError, match=r"line 2: kind: .*expected"):
        load_labelled(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        load_labelled(path)
