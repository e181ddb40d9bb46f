"""What can be measured in one of her replies without a judge model: does it state the canon
answer, contradict her card, loop, stop mid-sentence, or take the fan's own facts as hers.

    quality = judge_reply(reply, checker, today, finish_reason="stop", expected=["Bobbin"], fan=FanFacts(name="Minji", pets=["Bori"]))
    quality.degenerate, quality.contradictions, quality.confused

`bench/replies.py` reports these over a committed set of fan messages.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from persona.memory.consistency import CanonChecker

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+")  # after an end mark, or an end mark and a closing quote
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
TERMINAL = (".", "!", "?", "…", '"', "”", "'", "’", ")", "~")
LOOP_NGRAM = 4  # a run of this many words said twice in one reply is a loop


@dataclass(frozen=True)
class FanFacts:
    """What the fan said about themself in the message: none of it is hers."""

    name: str = ""
    pets: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)


@dataclass
class ReplyQuality:
    sentences: int
    words: int
    repeated_sentence: bool
    repeated_run: str  # the first 4-word run said twice, or ""
    cut_mid_sentence: bool  # stopped by the token limit with no sentence end
    contradictions: list[str]  # her claims that her identity or canon refutes, with why
    confused: list[str]  # the fan's name, pets or people spoken of as hers
    canon_hit: bool | None  # for a question with a known answer: is the answer in the reply

    @property
    def degenerate(self) -> bool:
        return self.repeated_sentence or bool(self.repeated_run) or self.cut_mid_sentence


def sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text.strip()) if part.strip()]


def words(text: str) -> list[str]:
    return [word.lower() for word in WORD.findall(text)]


def repeated_run(text: str, n: int = LOOP_NGRAM) -> str:
    seen: set[tuple[str, ...]] = set()
    tokens = words(text)
    for i in range(len(tokens) - n + 1):
        run = tuple(tokens[i:i + n])
        if run in seen:
            return " ".join(run)
        seen.add(run)
    return ""


def has_repeated_sentence(text: str) -> bool:
    normalised = [" ".join(words(sentence)) for sentence in sentences(text)]
    normalised = [sentence for sentence in normalised if len(sentence.split()) >= 2]
    return len(normalised) != len(set(normalised))


def confused_with_fan(text: str, fan: FanFacts) -> list[str]:
    """The fan's facts spoken of as hers: "I'm Minji", "my dog Bori", "my friend Jisoo"."""
    found = []
    if fan.name and re.search(rf"\b(?:I am|I'm|I’m|my name is|call me)\s+{re.escape(fan.name)}\b", text, re.IGNORECASE):
        found.append(f"calls herself {fan.name}")
    for name in [*fan.pets, *fan.people]:
        if re.search(rf"\b(?:my|our)\b[^.!?\n]{{0,30}}\b{re.escape(name)}\b", text, re.IGNORECASE):
            found.append(f"calls {name} hers")
    return found


def judge_reply(reply: str, checker: CanonChecker, today: dt.date, finish_reason: str = "stop",
                expected: list[str] | None = None, fan: FanFacts | None = None) -> ReplyQuality:
    """`expected`: any of these words states the canon answer (case-insensitive)."""
    stripped = reply.strip()
    refuted = [claim for claim in checker.claims(stripped, today) if claim.verdict in ("identity", "contradicts")]
    return ReplyQuality(
        sentences=len(sentences(stripped)),
        words=len(words(stripped)),
        repeated_sentence=has_repeated_sentence(stripped),
        repeated_run=repeated_run(stripped),
        cut_mid_sentence=finish_reason == "length" and not stripped.endswith(TERMINAL),
        contradictions=[f"{claim.text} ({claim.why})" for claim in refuted],
        confused=confused_with_fan(stripped, fan or FanFacts()),
        canon_hit=None if not expected else any(answer.lower() in stripped.lower() for answer in expected),
    )
