"""The reply judge behind bench/replies.py: loops, cut replies, contradictions of her card,
the fan's facts taken as hers, and canon answers."""

from __future__ import annotations

import datetime as dt

import pytest

from persona.memory.consistency import CanonChecker
from persona.reply_quality import FanFacts, judge_reply, repeated_run, sentences

TODAY = dt.date(2026, 12, 7)


@pytest.fixture(scope="module")
def checker(haeun) -> CanonChecker:
    return CanonChecker(haeun)


def test_a_clean_reply_is_not_degenerate(checker):
    quality = judge_reply("Bobbin is asleep on the organza again. What are you making today?", checker, TODAY, expected=["Bobbin"])
    assert quality.sentences == 2 and quality.words == 12
    assert not quality.degenerate and quality.canon_hit is True
    assert quality.contradictions == [] and quality.confused == []


def test_loops_are_found(checker):
    looping = "He's my best mate. He loves me, too. He's my best mate."
    quality = judge_reply(looping, checker, TODAY)
    assert quality.repeated_sentence and quality.degenerate
    assert repeated_run("He loves his cats and he loves his cats") == "he loves his cats"
    assert repeated_run("Each word here is new and never comes back") == ""


def test_a_reply_cut_by_the_token_limit_mid_sentence_is_degenerate(checker):
    assert judge_reply("Bobbin loves his belly, and he even eats his", checker, TODAY, finish_reason="length").cut_mid_sentence
    assert not judge_reply("Bobbin loves his belly.", checker, TODAY, finish_reason="length").cut_mid_sentence
    assert not judge_reply("Bobbin loves his belly, and", checker, TODAY, finish_reason="stop").cut_mid_sentence


def test_claims_her_card_refutes_are_contradictions(checker):
    assert judge_reply("I have a dog named Max.", checker, TODAY).contradictions
    assert judge_reply("I live in Busan.", checker, TODAY).contradictions  # her home is Seongsu-dong, Seoul
    assert not judge_reply("I love the rain on my skylight.", checker, TODAY).contradictions


def test_the_fans_facts_spoken_of_as_hers_are_confusion(checker):
    fan = FanFacts(name="Minji", pets=["Bori"], people=["Yuna"])
    assert judge_reply("Minjisu, my cat. I'm Minji and my dog Bori loves me.", checker, TODAY, fan=fan).confused == ["calls herself Minji", "calls Bori hers"]
    assert judge_reply("Hi Minji! Give Bori a scratch from me, and congratulations to Yuna.", checker, TODAY, fan=fan).confused == []
    assert judge_reply("My sister Yuna sews too.", checker, TODAY, fan=fan).confused == ["calls Yuna hers"]


def test_canon_answers_are_matched_case_insensitively(checker):
    assert judge_reply("It's in seongsu-dong!", checker, TODAY, expected=["Seongsu"]).canon_hit is True
    assert judge_reply("It's in Busan.", checker, TODAY, expected=["Seongsu"]).canon_hit is False
    assert judge_reply("Hello!", checker, TODAY).canon_hit is None


def test_sentences_split_at_their_ends():
    assert sentences("One. Two? \"Three!\" Four") == ["One.", "Two?", "\"Three!\"", "Four"]
