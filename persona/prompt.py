"""Prompt assembly: persona card + fan + history + this turn -> chat messages.

The order is chosen for prefix caching (vLLM reuses the KV cache of any exact prefix):

1. the static persona block: identity, voice, constant canon, examples - the same for
   every fan and every turn;
2. the fan's slow-changing block;
3. the append-only history;
4. only then the per-turn material (the time, lore triggered by this turn) at the head
   of the newest user message.

The newest user message goes into the history as it was sent, context included, so the
next prompt continues this one exactly; lore already shown there is not repeated.

Everything is counted with the model's own tokenizer through its chat template. Constant
canon is never dropped: if it does not fit, that is an error. When the history outgrows
the budget, its oldest half goes at once (and the caller forgets it), so the prefix
stays stable for many turns instead of shifting every turn. Counting is cheap because the
stretches of text that do not change (the persona block, the history) keep their token ids
between calls (`SegmentEncoder`), and a prompt that fits with room to spare (most turns) is
counted once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from persona.card import CanonEntry, PersonaCard, PersonaError
from pipelines.dialogue.base import ChatMessage, shared_prefix_length

LORE_SHARE = 0.15  # share of the budget kept free for the lore a turn triggers
SCAN_DEPTH = 4  # how many recent messages (besides the newest) can trigger lore
CONTEXT_END = ")\n\n"  # closes the per-turn context at the head of a user message


class PromptBudgetError(PersonaError):
    """What must always be in the prompt does not fit in the token budget."""


@dataclass
class FanProfile:
    """The fan's slow-changing block; memory fills it in later, the CLI sets a name."""

    name: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class PromptReport:
    """What went into the prompt and why, for inspection and tests."""

    total_tokens: int = 0
    budget: int = 0
    constant_canon: list[str] = field(default_factory=list)
    triggered_canon: list[str] = field(default_factory=list)
    dropped_canon: list[str] = field(default_factory=list)
    already_shown: list[str] = field(default_factory=list)  # canon ids and memories still visible in the history
    remembered: list[str] = field(default_factory=list)
    dropped_memories: list[str] = field(default_factory=list)
    embargoed_canon: list[str] = field(default_factory=list)
    history_dropped: int = 0


@dataclass
class Prompt:
    messages: list[ChatMessage]
    token_ids: list[int]
    report: PromptReport


class SegmentEncoder:
    """Token ids of rendered prompts, reusing the ids of text that has not changed.

    A tokenizer cuts text at its added (special) tokens before anything else, so a prompt's
    ids are the ids of each stretch between them, with the added tokens' own ids in between.
    Turn after turn, the persona block and every history message are the same stretches;
    only the newest message is tokenised again. When an added token strips the whitespace
    around it (or is normalised), the stretches are not independent, and whole texts are encoded.
    """

    def __init__(self, tokenizer, cache_entries: int = 4096):
        self.tokenizer = tokenizer
        added = getattr(tokenizer, "added_tokens_decoder", {})
        self.added_ids = {token.content: token_id for token_id, token in added.items()}
        self.by_segments = bool(added) and not any(t.lstrip or t.rstrip or t.single_word or t.normalized for t in added.values())
        self.splitter = re.compile("(" + "|".join(re.escape(t) for t in sorted(self.added_ids, key=len, reverse=True)) + ")")
        self.cache_entries = cache_entries
        self._cache: OrderedDict[str, list[int]] = OrderedDict()

    def encode(self, text: str) -> list[int]:
        if not self.by_segments:
            return self.tokenizer.encode(text, add_special_tokens=False)
        ids: list[int] = []
        for index, piece in enumerate(self.splitter.split(text)):
            if index % 2:  # the splitter's captured group: an added token
                ids.append(self.added_ids[piece])
            elif piece:
                ids += self._segment(piece)
        return ids

    def _segment(self, text: str) -> list[int]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            self._cache[text] = ids
            if len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return ids


class LoreScanner:
    """Which keyed canon entries a conversation triggers, one message at a time. A turn scans
    the newest message and the last few of the history; those were scanned in earlier turns,
    so their hits are kept (checking a long reply against every key took a third of a
    prompt's time)."""

    def __init__(self, entries: list[CanonEntry], cache_entries: int = 1024):
        self.keyed = [entry for entry in entries if not entry.constant]
        self.cache_entries = cache_entries
        self._hits: OrderedDict[str, frozenset[str]] = OrderedDict()

    def triggered(self, texts: list[str]) -> set[str]:
        """The ids of the entries whose keys appear in any of `texts`."""
        found: set[str] = set()
        for text in texts:
            hits = self._hits.get(text)
            if hits is None:
                hits = frozenset(entry.id for entry in self.keyed if entry.is_triggered_by(text))
                self._hits[text] = hits
                if len(self._hits) > self.cache_entries:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(text)
            found |= hits
        return found


class PromptBuilder:
    def __init__(self, persona: PersonaCard, tokenizer, budget_tokens: int):
        self.persona = persona
        self.tokenizer = tokenizer
        self.segments = SegmentEncoder(tokenizer)
        self.lore = LoreScanner(persona.canon)
        self.budget_tokens = budget_tokens
        self.timezone = ZoneInfo(persona.identity.timezone)

    def build(
        self,
        history: list[ChatMessage],
        user_text: str,
        fan: FanProfile | None = None,
        now: dt.datetime | None = None,
        remembered: list[str] = (),
        recalled_lore: list[str] = (),
        working_on: list[str] = (),
        studio_lore: list[str] = (),
    ) -> Prompt:
        """``remembered``: memory texts recalled for this turn, most relevant first;
        ``recalled_lore``: ids of canon entries recalled by meaning rather than by key;
        ``working_on``: her "now" from the studio (persona/portfolio.py), beside the time;
        ``studio_lore``: texts of recalled canon the studio wrote (her published work), offered as lore."""
        now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.timezone)
        report = PromptReport(budget=self.budget_tokens)
        visible = [entry for entry in self.persona.canon if entry.is_visible(now.date())]
        report.embargoed_canon = [entry.id for entry in self.persona.canon if entry.enabled and not entry.is_visible(now.date())]
        constant = [entry for entry in visible if entry.constant]
        report.constant_canon = [entry.id for entry in constant]

        system = ChatMessage(role="system", content=render_persona_block(self.persona, constant) + render_fan_block(fan))

        def assemble(kept_history: list[ChatMessage], context: list[str]) -> list[ChatMessage]:
            newest = ChatMessage(role="user", content=render_turn_context(now, [*working_on, *context]) + user_text)
            return [system, *kept_history, newest]

        def material(kept: list[ChatMessage]) -> tuple[list[tuple], list[str]]:
            """This turn's lore and memories as offers (line, where it goes if taken, where if
            dropped, label), most important first, less what is still visible in `kept`
            (shown in an earlier turn, not repeated); and the labels of those."""
            in_context = "\n".join(message.content for message in kept)
            keyed = self.triggered_lore(visible, kept[-SCAN_DEPTH:], user_text)
            by_meaning = [e for e in visible if e.id in recalled_lore and not e.constant and e not in keyed]
            candidates = [(entry.content, f"Relevant: {entry.content}", report.triggered_canon, report.dropped_canon, entry.id)
                          for entry in sorted([*keyed, *by_meaning], key=lambda e: -e.priority)]
            candidates += [(text, f"Relevant: {text}", report.triggered_canon, report.dropped_canon, text) for text in studio_lore]
            candidates += [(text, f"You remember: {text}", report.remembered, report.dropped_memories, text) for text in remembered]
            offers = [offer for text, *offer in candidates if text not in in_context]
            return offers, [label for text, *_, label in candidates if text in in_context]

        # The usual turn: the whole history and all this turn's material fit with room to
        # spare, and one count shows it.
        lore_room = int(LORE_SHARE * self.budget_tokens)  # kept free for a turn's lore: the history is trimmed at stable points
        kept = list(history)
        offers, report.already_shown = material(kept)
        messages = assemble(kept, [line for line, *_ in offers])
        token_ids = self.encode(messages)
        if len(token_ids) <= self.budget_tokens - lore_room:
            for _, taken, _, label in offers:
                taken.append(label)
            report.total_tokens = len(token_ids)
            return Prompt(messages, token_ids, report)

        required = self.count(assemble([], []))
        if required > self.budget_tokens:
            raise PromptBudgetError(
                f"the persona block with its constant canon and the newest message need {required} tokens, "
                f"more than the budget of {self.budget_tokens}: shorten the constant canon entries "
                f"({', '.join(report.constant_canon) or 'none'}) or raise dialogue.context_tokens"
            )
        reserve = min(lore_room, self.budget_tokens - required)
        while kept and self.count(assemble(kept, [])) > self.budget_tokens - reserve:
            cut = max(2, len(kept) // 2)
            cut += cut % 2  # whole exchanges only: the history stays user/assistant pairs
            kept = kept[cut:]
        report.history_dropped = len(history) - len(kept)

        # This turn's material, most important first, while it fits.
        offers, report.already_shown = material(kept)
        context: list[str] = []
        for line, taken, dropped, label in offers:
            if self.count(assemble(kept, [*context, line])) <= self.budget_tokens:
                context.append(line)
                taken.append(label)
            else:
                dropped.append(label)
        messages = assemble(kept, context)
        token_ids = self.encode(messages)
        report.total_tokens = len(token_ids)
        return Prompt(messages, token_ids, report)

    def triggered_lore(self, entries: list[CanonEntry], recent: list[ChatMessage], user_text: str) -> list[CanonEntry]:
        """Those of `entries` whose keys appear in the recent conversation (constant ones never
        do: they are always in the prompt), most important first."""
        hits = self.lore.triggered([*(fan_words(m) for m in recent), user_text])
        return sorted([entry for entry in entries if entry.id in hits], key=lambda entry: -entry.priority)

    def today(self) -> dt.date:
        """Her date, in her time zone (embargoes are in her time)."""
        return dt.datetime.now(self.timezone).date()

    def encode(self, messages: list[ChatMessage]) -> list[int]:
        rendered = self.tokenizer.apply_chat_template([m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False)
        return self.segments.encode(rendered)

    def count(self, messages: list[ChatMessage]) -> int:
        return len(self.encode(messages))


def fan_words(message: ChatMessage) -> str:
    """A history message without the per-turn context it was sent with."""
    return message.content.split(CONTEXT_END, 1)[-1] if message.role == "user" else message.content


def render_persona_block(persona: PersonaCard, constant_canon: list[CanonEntry]) -> str:
    identity, voice = persona.identity, persona.voice
    about = [
        f"Full name: {identity.full_name}" if identity.full_name else "",
        f"Age: {identity.age}" if identity.age is not None else "",
        f"Pronouns: {identity.pronouns}" if identity.pronouns else "",
        f"Home: {identity.home}" if identity.home else "",
        f"Work: {identity.occupation}" if identity.occupation else "",
    ]
    emoji = (
        f"at most {voice.emoji.max_per_message} emoji per message"
        if voice.emoji.allowed and voice.emoji.max_per_message
        else "no emoji"
    )
    speech = [
        f"Tone: {', '.join(voice.tone)}." if voice.tone else "",
        f"Register: {voice.formality}; {emoji}.",
        f"Languages: {', '.join(voice.languages)} (answer in the fan's language when you can).",
        f"Phrases you like: {_quoted(voice.catchphrases)}." if voice.catchphrases else "",
        f"Never say: {_quoted(voice.banned_phrases)}." if voice.banned_phrases else "",
    ]
    sections = [
        f"You are {persona.name}."
        + (f' In your own words: "{identity.tagline}"' if identity.tagline else "")
        + f"\nSpeak as {persona.name}, in the first person, always in character. Keep replies short.",
        _section("Who you are", [*about, identity.biography]),
        _section("How you speak", speech),
        _section("Always true", [f"- {entry.content}" for entry in constant_canon]),
    ]
    refused = persona.safety.refused_topics()
    if refused:
        sections.append(_section("Topics you steer away from", [f"{', '.join(refused)}. Say instead: \"{persona.safety.redirect}\""]))
    if voice.example_dialogue:
        sections.append(_section("How you sound", [f"Fan: {ex.user}\n{persona.name}: {ex.persona}" for ex in voice.example_dialogue]))
    return "\n\n".join(section for section in sections if section)


def render_fan_block(fan: FanProfile | None) -> str:
    if fan is None or not (fan.name or fan.notes):
        return ""
    lines = [f"Name: {fan.name}" if fan.name else "", *(f"- {note}" for note in fan.notes)]
    return "\n\n" + _section("The fan you are talking with", lines)


def render_turn_context(now: dt.datetime, lines: list[str]) -> str:
    header = f"(Context for this reply, not from the fan. Now: {now:%A %d %B %Y, %H:%M} {now.tzname()}."
    return "\n".join([header, *lines]) + CONTEXT_END


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f'"{phrase}"' for phrase in phrases)


def _section(title: str, lines: list[str]) -> str:
    body = "\n".join(line for line in lines if line)
    return f"## {title}\n{body}" if body else ""


def replay(builder: PromptBuilder, exchanges: list[tuple[str, str]], fan: FanProfile | None, start: dt.datetime) -> list[Prompt]:
    """The prompts of a scripted conversation of (fan line, her reply) exchanges, a minute
    apart, with the history kept as the director keeps it: each newest message as sent,
    and whatever the budget dropped forgotten. For measuring prefix reuse."""
    history: list[ChatMessage] = []
    prompts = []
    for minute, (fan_line, reply) in enumerate(exchanges):
        prompt = builder.build(history, fan_line, fan, now=start + dt.timedelta(minutes=minute))
        del history[: prompt.report.history_dropped]
        prompts.append(prompt)
        history += [prompt.messages[-1], ChatMessage(role="assistant", content=reply)]
    return prompts


def prefix_reuse(previous_ids: list[int], current_ids: list[int]) -> float:
    """Share of the current prompt's tokens that exactly continue the previous prompt's prefix."""
    return shared_prefix_length(previous_ids, current_ids) / len(current_ids) if current_ids else 0.0


def prefix_reuse_series(prompts: list[list[int]]) -> list[float]:
    """Prefix reuse of each prompt after the first, against the one before it."""
    return [prefix_reuse(previous, current) for previous, current in zip(prompts, prompts[1:])]
