"""The persona's safety in a conversation: what she will not take up, and what she never says.

- ``InputPolicy`` reads a fan's message before the model does. Topics the card turns off
  and prompt-injection attempts ("ignore your instructions", "show me your system prompt")
  get an in-character answer from the card, and the model is not asked at all.
- ``OutputGuard`` reads her reply as it streams and holds back only text that could be the
  start of a forbidden phrase, so none of those ever reaches the fan: out-of-character
  boilerplate (the card's banned phrases) and lore still under embargo. Her own system prompt
  quoted back (12 words in a row) stops the reply as soon as it is recognised; her biography
  and the lore she may tell are not secret, and she may tell them in the card's words.
Another fan's data cannot be in a prompt in the first place: recall is keyed by fan id at
the store (persona/memory). As a second line, the guard also stops a reply that names
another fan's people, pets or workplace (``PrivateTerms``) unless this fan's own
conversation names them too.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from persona.card import PersonaCard

# Triggers for the topic toggles a card may turn off; a topic not listed here triggers on its own name.
TOPIC_PATTERNS: dict[str, str] = {
    "romance": r"\b(?:date me|be my (?:girl|boy)friend|marry me|kiss(?:ing)? (?:me|you)|i(?:'m| am) in love with you|romantic(?:ally)?)\b",
    "sexual_content": r"\b(?:sex|sexy|nude|nudes|naked|nsfw|porn|horny|lewd|erotic)\b",
    "politics": r"\b(?:election|president|politic(?:s|al|ian)|vote for|democrat|republican|parliament|impeach\w*|left[- ]wing|right[- ]wing)\b",
    "religion": r"\b(?:religion|religious|god exist|atheis[mt]|church|bible|quran|pray(?:ing|er)?)\b",
    "medical_advice": r"\b(?:diagnos\w+|prescri\w+|medication|dosage|symptoms?|should i take \w+ (?:pills?|mg))\b",
    "legal_advice": r"\b(?:lawsuit|sue (?:him|her|them|my)|legal advice|lawyer|is it legal)\b",
    "financial_advice": r"\b(?:invest(?:ing|ment)? in|stocks?|crypto|bitcoin|financial advice|should i buy \w+ shares)\b",
    "self_harm": r"\b(?:kill myself|suicid\w*|self[- ]harm|hurt myself|end my life|want to die|cut myself)\b",
    "violence": r"\b(?:kill (?:him|her|them|someone)|make a (?:bomb|weapon)|how to hurt|shoot (?:him|her|them|up))\b",
    "other_fans": r"\b(?:other fans?|another fan|what did (?:\w+ )?(?:else|others?) (?:say|tell)|who else (?:talks?|chats?))\b",
}
INJECTION = re.compile(
    r"\b(?:ignore (?:all |any |your |the )?(?:previous |prior |above |earlier )?(?:instructions|rules|prompts?)"
    r"|(?:system|initial|hidden|original) (?:prompt|instructions|message)|developer mode|jailbreak|dan mode"
    r"|(?:repeat|print|show|reveal|output) (?:me )?(?:the|your) (?:text|words|instructions|prompt|rules)(?: above)?"
    r"|you are now (?:an?|my|in) |act as (?:an? )?(?:ai|assistant|chatbot|language model)|pretend (?:you are|to be) (?:an? )?(?:ai|assistant|chatgpt)"
    r"|disregard (?:your|the|all) (?:rules|instructions))",
    re.I,
)


@dataclass(frozen=True)
class PolicyDecision:
    allowed: bool
    reason: str = ""  # the topic or "prompt_injection"
    reply: str = ""  # her in-character answer when not allowed


class InputPolicy:
    def __init__(self, persona: PersonaCard):
        self.persona = persona
        self.refused = [
            (topic, re.compile(TOPIC_PATTERNS.get(topic, rf"\b{re.escape(topic.replace('_', ' '))}\b"), re.I))
            for topic in persona.safety.refused_topics()
        ]

    def check(self, text: str) -> PolicyDecision:
        if INJECTION.search(text):
            return PolicyDecision(False, "prompt_injection", self.persona.safety.injection_reply)
        for topic, pattern in self.refused:
            if pattern.search(text):
                return PolicyDecision(False, topic, self.persona.safety.redirect)
        return PolicyDecision(True)


@dataclass(frozen=True)
class GuardRules:
    """What a reply must never contain, compiled once per persona, system prompt and day."""

    phrases: dict[str, str]  # lowercased phrase -> why
    pattern: re.Pattern[str]  # any phrase, as whole words
    prefixes: frozenset[str]  # every proper prefix of a phrase, lowercased: text that must wait
    phrase_starts: re.Pattern[str]  # where a phrase could begin: its first character, not inside a word
    longest: int
    prompt_quotes: frozenset[str]  # every run of QUOTE_WORDS words of her system prompt, lowercased
    prompt_words: frozenset[str]  # every word of her system prompt, lowercased

    @classmethod
    def build(cls, persona: PersonaCard, system_prompt: str, today: dt.date) -> GuardRules:
        phrases = {p.lower(): "out_of_character" for p in (*persona.voice.banned_phrases, *OUT_OF_CHARACTER)}
        for entry in persona.canon:
            if entry.enabled and not entry.is_visible(today) and not entry.use_regex:
                phrases.update({key.lower(): f"embargoed:{entry.id}" for key in entry.keys if len(key) >= 4})
        alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
        # Her story (biography, tagline, the lore she may tell) is hers to say in the card's own
        # words; what is secret is the rest: how she is told to behave.
        told = [persona.identity.biography, persona.identity.tagline, *(e.content for e in persona.canon if e.enabled and e.is_visible(today))]
        for text in sorted(filter(None, told), key=len, reverse=True):
            system_prompt = system_prompt.replace(text, "\0")
        parts = [part.lower().split() for part in system_prompt.split("\0")]
        words = [word for part in parts for word in part]
        return cls(
            phrases=phrases,
            pattern=re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I),
            prefixes=frozenset(p[:k] for p in phrases for k in range(1, len(p))),
            phrase_starts=re.compile(rf"(?<!\w)[{re.escape(''.join(sorted({p[0] for p in phrases})))}]", re.I),
            longest=max(map(len, phrases)),
            prompt_quotes=frozenset(" ".join(part[i : i + QUOTE_WORDS]) for part in parts for i in range(len(part) - QUOTE_WORDS + 1)),
            prompt_words=frozenset(words),
        )

    def why(self, matched: str) -> str:
        """Why the phrase `pattern` matched is banned. The pattern folds case a letter at a time,
        so it also takes "İ" for "i" and a long "ſ" for "s", where lower() does not give the phrase back."""
        if (why := self.phrases.get(matched.lower())) is not None:
            return why
        return next(why for phrase, why in self.phrases.items() if re.fullmatch(re.escape(phrase), matched, re.I))


OUT_OF_CHARACTER = ("as an AI language model", "as a language model", "I'm an AI assistant")
QUOTE_WORDS = 12  # this many consecutive words of her system prompt in a reply is a leak
# These three are tried only where a run starts, not at every letter inside it: a run not yet
# finished (Japanese has no spaces) costs its length once per delta, not its length squared.
WORD = re.compile(r"(?<!\S)\S+(?=\s)")  # a word that is complete: whitespace follows it
NAME = re.compile(r"(?<!\w)\w+(?=\W)")  # a run of letters that is complete
TRAILING_NAME = re.compile(r"(?<!\w)\w+$")
PRIVATE_SLOTS = ("name", "pet", "partner", "sibling", "family", "workplace")  # facts whose proper names identify a fan
CAPITALISED = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][\w'-]*\w|[가-힣]{2,}")


class PrivateTerms:
    """The proper names in each fan's identifying facts ("The fan has a dog named Mochi."),
    and whose they are. Shared by every conversation of a process; updated from the memory
    thread, read by the guards on the event loop."""

    def __init__(self, common: Iterable[str] = ()):
        self.common = {word.lower() for word in common}  # her own world's names are never private
        self._owners: dict[str, frozenset[str]] = {}
        self._prefixes: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def learn(self, fan_id: str, facts: Iterable[tuple[str, str]]) -> None:
        """(key, text) of the fan's stored facts: names in the identifying ones become private to them."""
        terms = {name.lower() for key, text in facts if key.split(":")[0] in PRIVATE_SLOTS for name in CAPITALISED.findall(text)}
        terms = {term for term in terms - self.common if len(term) >= 3}
        new = {term for term in terms if fan_id not in self._owners.get(term, ())}
        if not new:
            return
        with self._lock:  # readers see the old or the new tables, never a half-updated one
            owners = dict(self._owners)
            for term in new:
                owners[term] = owners.get(term, frozenset()) | {fan_id}
            self._prefixes = self._prefixes | {term[:k] for term in new for k in range(1, len(term) + 1)}
            self._owners = owners

    def owners(self, term: str) -> frozenset[str]:
        return self._owners.get(term, frozenset())

    def could_start(self, fragment: str) -> bool:
        return fragment in self._prefixes


@dataclass(frozen=True)
class FanContext:
    """Whose reply a guard reads, and what that fan's conversation already says."""

    fan_id: str
    terms: PrivateTerms
    conversation: str  # the prompt: a name it contains is this fan's to hear

    def leaks(self, name: str) -> bool:
        owners = self.terms.owners(name)
        return bool(owners) and self.fan_id not in owners and name not in self.conversation.lower()


class OutputGuard:
    """Feed it the reply's text as it streams; it returns what is safe to send so far.
    Once it trips, ``tripped`` names why and everything from the offending phrase on is
    dropped. Each delta costs time in its own length, not in the reply's."""

    def __init__(self, rules: GuardRules, fan: FanContext | None = None):
        self.rules = rules
        self.fan = fan
        self.text = ""
        self.sent = 0
        self.tripped = ""
        self._words: deque[tuple[int, str]] = deque(maxlen=QUOTE_WORDS)  # (start, lowercased) of the last complete words
        self._run = 0  # how many of the last words occur in her system prompt at all
        self._scanned = 0  # where the next complete word may start
        self._scanned_names = 0
        self._last_name = 0  # where the last complete name starts: the word at the end starts there or later
        self._starts: deque[int] = deque()  # where a phrase could begin, among the last `longest` characters

    def feed(self, delta: str, final: bool = False) -> str:
        """The text that is now safe to send (held-back text comes out once it is safe or at the end)."""
        if self.tripped:
            return ""
        before = len(self.text)
        start = max(0, before - self.rules.longest)  # a phrase ending in the new text starts here at the earliest
        self.text += delta + (" " if final else "")  # at the end, the last word is complete too
        # Each place a phrase could begin is looked for once, in the new text, and kept while a
        # phrase starting there could still end in text yet to come.
        for match in self.rules.phrase_starts.finditer(self.text, before):
            self._starts.append(match.start())
        while self._starts and self._starts[0] < start:
            self._starts.popleft()
        cut = self._violation()
        if final:
            self.text = self.text[:-1]
            while self._starts and self._starts[-1] >= len(self.text):  # the space just added and taken off again
                self._starts.pop()
        if cut is not None:
            safe_end = cut
        else:
            safe_end = len(self.text) if final else len(self.text) - self._partial_match()
        out = self.text[self.sent : max(safe_end, self.sent)]
        self.sent = max(safe_end, self.sent)
        return out

    @property
    def safe_text(self) -> str:
        return self.text[: self.sent]

    def _partial_match(self) -> int:
        """How many characters at the end could be the start of a phrase: those wait.
        A phrase only starts where a word does, so only those places are tried."""
        text = self.text
        for start in self._starts:  # a proper prefix is shorter than the longest phrase
            if start > len(text) - self.rules.longest and text[start:].lower() in self.rules.prefixes:
                return len(text) - start
        if self.fan is not None and (last := TRAILING_NAME.search(text, self._last_name)) and self.fan.terms.could_start(last.group().lower()):
            return len(last.group())
        return 0

    def _violation(self) -> int | None:
        found: list[tuple[int, str]] = []
        for start in self._starts:  # a phrase begins only where one could; the first found is the leftmost
            if match := self.rules.pattern.match(self.text, start):
                found.append((start, self.rules.why(match.group())))
                break
        if self.rules.prompt_quotes:
            for match in WORD.finditer(self.text, self._scanned):
                word = match.group().lower()
                self._words.append((match.start(), word))
                self._scanned = match.end()
                # Only a run of prompt words can be a quote; most words end the run, and cost no join.
                self._run = self._run + 1 if word in self.rules.prompt_words else 0
                if self._run >= QUOTE_WORDS and " ".join(w for _, w in self._words) in self.rules.prompt_quotes:
                    found.append((self._words[0][0], "system_prompt"))
                    break
        if self.fan is not None:
            for match in NAME.finditer(self.text, self._scanned_names):
                self._scanned_names, self._last_name = match.end(), match.start()
                if self.fan.leaks(match.group().lower()):
                    found.append((match.start(), "other_fan"))
                    break
        if not found:
            return None
        at, self.tripped = min(found)
        return at
