"""What the persona says about herself is checked against her canon before it is kept."""

from __future__ import annotations

import datetime as dt

import pytest

from persona.memory.consistency import CanonChecker

TODAY = dt.date(2026, 11, 21)


@pytest.mark.parametrize(("reply", "verdict"), [
    ("I have a cat named Bobbin.", "canon"),
    ("I have a dog named Max.", "contradicts"),  # her pet lore is Bobbin the cat
    ("My favourite fabric is ramie!", "canon"),
    ("My favourite fabric is polyester.", "contradicts"),
    ("My favourite food is pizza.", "contradicts"),
    ("I love Mangwon market.", "canon"),
    ("I love linen dresses.", "new"),  # liking more than her canon names is no contradiction
    ("I live in Busan.", "identity"),
    ("I'm from Mokpo.", "canon"),
    ("I am 31 years old.", "identity"),
    ("I am a doctor.", "identity"),
    ("My name is Jisoo.", "identity"),
    ("I love Low Tide Radio.", "embargoed"),  # her 2027 album: a leak, not a memory
    ("I am designing Frost Letters.", "embargoed"),
    ("I am learning the cello.", "new"),
    ("I have two sisters.", "new"),
])
def test_each_claim_gets_a_verdict_against_canon(haeun, reply, verdict):
    [claim] = CanonChecker(haeun).claims(reply, TODAY)
    assert claim.verdict == verdict, claim.why
    assert claim.text.startswith("Haeun")
    assert claim.keep == (verdict == "new")


def test_embargoed_lore_is_fine_once_released(haeun):
    [claim] = CanonChecker(haeun).claims("I love Low Tide Radio.", dt.date(2027, 6, 1))
    assert claim.verdict == "canon"


def test_questions_and_things_said_about_the_fan_are_not_claims(haeun):
    assert CanonChecker(haeun).claims("Oh, you live in Busan? Do you have a dog? If I were a cat I would nap.", TODAY) == []
