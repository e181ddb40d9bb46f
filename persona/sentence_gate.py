"""Her reply, one finished sentence at a time: only sentences that keep to her card reach the fan.

The gate holds the sentence being written and releases it once it ends (an end mark and the
space or new line after it), after three checks:

- **canon**: what the sentence claims about her (``CanonChecker``) must not contradict her
  identity or canon, nor name lore under embargo: such a sentence is dropped and the reply goes on;
- **the fan's facts**: the fan's name, pets and people spoken of as hers ("my dog Bori" when
  Bori is the fan's) — dropped too;
- **loops**: a sentence she already said, or a run of four words she already said, ends the
  reply at the last clean sentence (a small model that starts looping does not stop by itself).

It also ends the reply after ``max_sentences`` sentences, and never lets a reply end mid-sentence:
text left unfinished when the model is cut off by its token limit is not sent.
The cost is at most one sentence of latency, and a few milliseconds of CPU per sentence
(``bench/replies.py`` measures it).

    gate = SentenceGate(checker, today, FanFacts(name="Minji", pets=["Bori"]), max_sentences=3)
    for delta in stream:
        send(gate.feed(delta))
        if gate.ended: break      # stop generating
    send(gate.finish(finish_reason))
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from persona.memory.consistency import CanonChecker
from persona.memory.extraction import extract_changes
from persona.reply_quality import LOOP_NGRAM, TERMINAL, FanFacts, confused_with_fan, words

# The end of a sentence, seen once the next one starts: end marks (and closing quotes), then
# whitespace. A line with no end mark ("Here is what I'd make:") is held and goes out with the
# sentence after it, so a reply never ends on a lead-in.
END_MARKS, CLOSERS = ".!?…~", "\"'”’)]"
BOUNDARY = re.compile(rf"[{re.escape(END_MARKS)}]+[{re.escape(CLOSERS)}]*\s+")
REFUTED = ("identity", "contradicts", "embargoed")
PROPER_NAME = re.compile(r"\b[A-Z][\w'-]+|[가-힣]{2,}")
NAMED_IN_NOTE = re.compile(r"\b(?:named|called) ([A-Z][\w'-]+)")
PET_WORDS = ("dog", "cat", "puppy", "kitten", "rabbit", "bunny", "hamster", "parrot", "bird", "fish", "pet", "turtle")
PEOPLE_WORDS = ("brother", "sister", "mum", "mom", "mother", "dad", "father", "friend", "boyfriend", "girlfriend", "husband",
                "wife", "partner", "son", "daughter", "cousin", "grandma", "grandmother", "grandpa", "grandfather", "aunt", "uncle",
                "roommate", "flatmate", "colleague", "boss", "teacher")
# "my dog is called Bori", "my sister Yuna", "my best friend's name is Jisoo"
MY_NAMED = re.compile(rf"\bmy (?:\w+ )?({'|'.join(PET_WORDS + PEOPLE_WORDS)})(?:'s name is| is called| is named| named| called|,)? ((?-i:[A-Z][\w'-]+))", re.I)
NAMED_SLOTS = ("name", "pet", "partner", "sibling", "family", "friend", "child", "workplace")


@dataclass
class Dropped:
    sentence: str
    why: str


@dataclass
class SentenceGate:
    checker: CanonChecker
    today: dt.date
    fan: FanFacts | Callable[[], FanFacts] = field(default_factory=FanFacts)  # a callable is read at the first check, off the prompt's path
    max_sentences: int | None = None
    released: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    ended: str = ""  # why the reply ends early: "loop" or "max_sentences"
    _pending: str = ""
    _separator: str = ""  # the whitespace before the pending sentence, sent with it
    _runs: set[tuple[str, ...]] = field(default_factory=set)
    _said: set[str] = field(default_factory=set)

    def feed(self, delta: str) -> str:
        """The text now safe to send: every sentence the delta finished that passed the checks."""
        if self.ended:
            return ""
        # The held text has no boundary (else it would have gone out), so a new one starts in the
        # new text or in the end marks and closing quotes just before it: only that is searched.
        start = len(self._pending.rstrip(END_MARKS + CLOSERS))
        self._pending += delta
        out = []
        while not self.ended and (boundary := BOUNDARY.search(self._pending, start)):
            sentence, separator = self._pending[: boundary.end()].rstrip(), boundary.group()[len(boundary.group().rstrip()):]
            self._pending, start = self._pending[boundary.end():], 0
            out.append(self._release(sentence))
            self._separator = separator if self.released else ""
        return "".join(out)

    def finish(self, finish_reason: str = "stop") -> str:
        """The last sentence, when the model ended it: text cut off by the token limit (or by a
        stop on our side) without an end mark is not sent."""
        rest, self._pending = self._pending.strip(), ""
        if self.ended or not rest:
            return ""
        finished = rest.endswith(TERMINAL) or not words(rest)  # a trailing emoji is finished too
        if finish_reason != "stop" and not finished:
            self.dropped.append(Dropped(rest, "unfinished"))
            return ""
        return self._release(rest)

    @property
    def text(self) -> str:
        return " ".join(self.released)

    def _release(self, sentence: str) -> str:
        if not sentence.strip():
            return ""
        if why := self._loops(sentence):
            self.dropped.append(Dropped(sentence, why))
            self.ended = "loop"
            return ""
        if why := self._breaks_canon(sentence):
            self.dropped.append(Dropped(sentence, why))
            return ""
        out = self._separator + sentence
        self.released.append(sentence)
        if self.max_sentences and len(self.released) >= self.max_sentences:
            self.ended = "max_sentences"
        return out

    def _loops(self, sentence: str) -> str:
        tokens = words(sentence)
        normalised = " ".join(tokens)
        if len(tokens) >= 2 and normalised in self._said:
            return "repeats a sentence"
        runs = [tuple(tokens[i:i + LOOP_NGRAM]) for i in range(len(tokens) - LOOP_NGRAM + 1)]
        seen: set[tuple[str, ...]] = set()  # this sentence's runs; the reply's so far are in self._runs (never copied: a long reply stays linear)
        for run in runs:
            if run in seen or run in self._runs:
                return f"repeats '{' '.join(run)}'"
            seen.add(run)
        self._runs |= seen
        self._said.add(normalised)
        return ""

    def _breaks_canon(self, sentence: str) -> str:
        if callable(self.fan):
            self.fan = self.fan()
        if confused := confused_with_fan(sentence, self.fan):
            return confused[0]
        for claim in self.checker.claims(sentence, self.today):
            if claim.verdict in REFUTED:
                return f"{claim.text} ({claim.why})"
        return ""


def fan_facts(name: str, message: str, notes: list[str] = ()) -> FanFacts:
    """The names that are the fan's, from their name, their message and their remembered facts
    ("The fan has a dog named Bori."): her sentences must not take them as hers."""
    pets, people = [], []
    for fact in extract_changes(message)[0]:
        slot = fact.key.split(":")[0]
        if slot == "name" and not name:
            name = fact.value
        elif slot in NAMED_SLOTS and slot != "name":
            (pets if slot == "pet" else people).extend(PROPER_NAME.findall(fact.value))
    for kind, named in MY_NAMED.findall(message):
        (pets if kind.lower() in PET_WORDS else people).append(named)
    for note in notes:
        for named in NAMED_IN_NOTE.findall(note):
            (pets if any(word in note.lower().split() for word in PET_WORDS) else people).append(named)
    return FanFacts(name=name, pets=list(dict.fromkeys(pets)), people=list(dict.fromkeys(people)))
