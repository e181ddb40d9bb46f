"""What the persona says about herself, checked against her canon before it is kept.

Her reply is read with the fact rules (they read first-person statements about whoever
speaks), and each claim gets a verdict:

- ``identity``: name, age, home, nationality and job must agree with the card's identity;
- ``embargoed``: a claim that names lore still under embargo is a leak, never kept;
- ``canon``: canon speaks about the claim's subject (its lore keys fire on the claim) and the
  claim agrees with it (its words are there): nothing to keep, canon has it already;
- ``contradicts``: canon speaks about the subject and says something else;
- ``new``: canon is silent: self-lore that fits, kept as a PERSONA memory of that fan's
  conversation, so she stays consistent with what she told them.

Words are compared, not meanings: "I have a dog named Max" is refused because her pet lore is
about Bobbin the cat, while a paraphrase of canon in new words reads as a contradiction and
is simply not kept. Refusing too much here only costs a memory; keeping too much would
let one reply rewrite her.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from persona.card import CanonEntry, PersonaCard
from persona.memory.extraction import FanFact, extract_changes

Verdict = Literal["new", "canon", "contradicts", "embargoed", "identity"]

# Slots the card's identity decides, and the identity text a claim must agree with.
IDENTITY_SLOTS = {"name", "age", "home", "nationality", "job"}
STOP_WORDS = frozenset(
    "a an the and or of in on at to for with from by is are am was were be their them they theirs themself "
    "named called my her his its this that these those very really so just also".split())


@dataclass(frozen=True)
class Claim:
    fact: FanFact  # the statement read from her reply; its text speaks of "the fan"
    text: str  # the statement about her: "Haeun has a dog named Max."
    verdict: Verdict
    why: str

    @property
    def keep(self) -> bool:
        return self.verdict == "new"


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if w not in STOP_WORDS and len(w) > 1]


def _agrees(value: str, text: str) -> bool:
    """Every content word of the value appears in the text (plurals and endings aside)."""
    words = _content_words(value)
    known = {w[:5] for w in _content_words(text)}
    return bool(words) and all(w[:5] in known for w in words)


class CanonChecker:
    def __init__(self, persona: PersonaCard):
        self.persona = persona
        identity = persona.identity
        self.identity_text = {
            "name": f"{persona.name} {identity.full_name}",
            "age": str(identity.age or ""),
            "home": f"{identity.home} {identity.biography}",
            "nationality": f"{identity.biography} {identity.home}",
            "job": f"{identity.occupation} {identity.tagline} {identity.biography}",
        }

    def claims(self, reply: str, today: dt.date) -> list[Claim]:
        """Every statement her reply makes about herself, with its verdict."""
        facts, _ = extract_changes(reply)
        return [self._judge(fact, today) for fact in facts]

    def _judge(self, fact: FanFact, today: dt.date) -> Claim:
        text = fact.text.replace("The fan's", f"{self.persona.name}'s").replace("The fan", self.persona.name)
        slot, _, subject = fact.key.partition(":")
        enabled = [entry for entry in self.persona.canon if entry.enabled]
        probe = f"{text} {slot} {subject}"  # lore keys fire on the claim or on its slot ("pet", "favourite colour")
        triggered = [entry for entry in enabled if entry.is_triggered_by(probe)]

        hidden = [entry for entry in triggered if not entry.is_visible(today)]
        if hidden:
            return Claim(fact, text, "embargoed", f"names lore under embargo until {hidden[0].embargo_until} ({hidden[0].id})")
        if slot in IDENTITY_SLOTS and self.identity_text[slot].strip():
            if _agrees(fact.value, self.identity_text[slot]):
                return Claim(fact, text, "canon", f"agrees with her identity ({slot})")
            return Claim(fact, text, "identity", f"her identity says otherwise ({slot})")
        speaking: list[CanonEntry] = [entry for entry in triggered if not entry.constant]
        if not speaking:
            return Claim(fact, text, "new", "canon says nothing about this")
        agreeing = [entry for entry in speaking if _agrees(fact.value, entry.content)]
        if agreeing:
            return Claim(fact, text, "canon", f"agrees with {agreeing[0].id}")
        if slot == "likes":  # she may love linen dresses as well as the ramie her canon names
            return Claim(fact, text, "new", f"{', '.join(entry.id for entry in speaking)} names other things she likes")
        return Claim(fact, text, "contradicts", f"{', '.join(entry.id for entry in speaking)} says otherwise")
