"""Her voice, measured: a text fingerprint of her replies beside the one her card's example
dialogue gives, with a warning where a figure drifts far from it.

    measured = VoiceFingerprint.measure(replies, card)
    reference = reference_fingerprint(card)         # her example dialogue's replies and greetings
    for line in report_lines(measured, reference, compare(measured, reference, card)): print(line)

`voice_section(replies, card)` is the same as JSON, for bench/replies.py; `atelier persona report`
prints it for the replies stored in her memory (or `--sample N` fresh ones).

Figures (each reply counts once, whatever its length):
- catchphrase rate: replies with one of her catchphrases, matched loosely (case, punctuation and
  apostrophes ignored; a catchphrase with a dash also counts by its first part, her Korean before
  its gloss);
- Korean rate: replies with a Hangul word, and which words;
- sentences per reply and words per sentence, mean and median (persona/reply_quality.py splits);
- emoji per reply, and the share of replies over the card's policy (any emoji when not allowed);
- banned phrases: replies that say one (loosely matched), and which;
- question rate: replies that ask the fan something (a sentence ending in "?"), as `core-voice`
  says she usually asks what people are making; exclamation rate: replies with "!".
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass

from pydantic import BaseModel

from persona.card import PersonaCard
from persona.reply_quality import sentences, words

HANGUL_WORD = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")
# One emoji: a pictograph or a flag (two regional indicators), with its variation selector, skin
# tone and any zero-width-joined parts, so a family or a flag counts once.
_PICTOGRAPH = r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\U0001F000-\U0001F2FF]"
_MODIFIERS = r"[\uFE0F\U0001F3FB-\U0001F3FF]*"
EMOJI = re.compile(rf"[\U0001F1E6-\U0001F1FF]{{2}}|{_PICTOGRAPH}{_MODIFIERS}(?:\u200d{_PICTOGRAPH}{_MODIFIERS})*")
DASH = re.compile(r"\s[—–-]\s")

# Drift thresholds, against her reference (her example dialogue). Rates need a few replies
# before they mean anything; a banned phrase or an emoji over policy counts from the first.
MIN_REPLIES_FOR_RATES = 5
QUESTION_FLOOR = 0.5  # question rate below half hers: she stopped asking what people make
CATCHPHRASE_CEILING = 0.25  # a catchphrase in more than a quarter of replies (or twice hers) is a tic
LENGTH_FACTOR = 2.0  # words per sentence or sentences per reply over twice hers, or under half
EXCLAMATION_CEILING = 0.6  # "!" in most replies, and twice as often as hers: over-excited
KOREAN_FACTOR = 3.0  # no Korean at all where hers has some, or three times hers and in most replies


def loose(text: str) -> str:
    """Lower case, words only: "I'm just an AI!" and "im just an ai" match."""
    return " ".join(words(text.replace("'", "").replace("’", "")))


def catchphrase_forms(catchphrase: str) -> list[str]:
    """The whole phrase, and the part before a dash (her Korean, before its English gloss)."""
    forms = [loose(catchphrase)]
    parts = DASH.split(catchphrase, maxsplit=1)
    if len(parts) == 2 and loose(parts[0]):
        forms.append(loose(parts[0]))
    return [form for form in forms if form]


def said(form: str, reply: str) -> bool:
    return f" {form} " in f" {reply} "  # whole words only: "ai" is not in "rain"


def emoji_count(text: str) -> int:
    return len(EMOJI.findall(text))


def asks(text: str) -> bool:
    return any(sentence.rstrip("\"'”’)]").endswith(("?", "？")) for sentence in sentences(text))


def _mean(values: list[float]) -> float:
    return round(statistics.mean(values), 2) if values else 0.0


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def _share(count: int, total: int) -> float:
    return round(count / total, 3) if total else 0.0


class VoiceFingerprint(BaseModel):
    replies: int
    catchphrase_rate: float
    catchphrases: dict[str, int]  # which of hers, in how many replies
    korean_rate: float
    korean_words: dict[str, int]  # the Hangul words, most used first
    sentences_per_reply_mean: float
    sentences_per_reply_p50: float
    words_per_sentence_mean: float
    words_per_sentence_p50: float
    emoji_per_reply: float
    over_emoji_policy_rate: float
    banned_replies: int
    banned_phrases: dict[str, int]  # which phrase, in how many replies
    question_rate: float
    exclamation_rate: float

    @classmethod
    def measure(cls, replies: list[str], card: PersonaCard) -> VoiceFingerprint:
        replies = [reply.strip() for reply in replies if reply.strip()]
        voice = card.voice
        allowed = voice.emoji.max_per_message if voice.emoji.allowed else 0
        catchphrases, banned, korean = Counter(), Counter(), Counter()
        with_catchphrase = with_banned = with_korean = over_policy = questions = exclamations = 0
        sentence_counts, sentence_lengths, emoji = [], [], []
        for reply in replies:
            flat = loose(reply)
            found = [phrase for phrase in voice.catchphrases if any(said(form, flat) for form in catchphrase_forms(phrase))]
            catchphrases.update(found)
            with_catchphrase += bool(found)
            bad = [phrase for phrase in voice.banned_phrases if loose(phrase) and said(loose(phrase), flat)]
            banned.update(bad)
            with_banned += bool(bad)
            hangul = HANGUL_WORD.findall(reply)
            korean.update(hangul)
            with_korean += bool(hangul)
            emoji.append(emoji_count(reply))
            over_policy += emoji[-1] > allowed
            questions += asks(reply)
            exclamations += "!" in reply or "！" in reply
            parts = sentences(reply)
            sentence_counts.append(len(parts))
            sentence_lengths.extend(len(words(part)) for part in parts)
        total = len(replies)
        return cls(
            replies=total,
            catchphrase_rate=_share(with_catchphrase, total),
            catchphrases=dict(catchphrases.most_common()),
            korean_rate=_share(with_korean, total),
            korean_words=dict(korean.most_common(12)),
            sentences_per_reply_mean=_mean(sentence_counts),
            sentences_per_reply_p50=_median(sentence_counts),
            words_per_sentence_mean=_mean(sentence_lengths),
            words_per_sentence_p50=_median(sentence_lengths),
            emoji_per_reply=_mean(emoji),
            over_emoji_policy_rate=_share(over_policy, total),
            banned_replies=with_banned,
            banned_phrases=dict(banned.most_common()),
            question_rate=_share(questions, total),
            exclamation_rate=_share(exclamations, total),
        )


def reference_replies(card: PersonaCard) -> list[str]:
    return [example.persona for example in card.voice.example_dialogue] + list(card.voice.greetings)


def reference_fingerprint(card: PersonaCard) -> VoiceFingerprint:
    """Her voice as her card writes it: the example dialogue's replies and her greetings."""
    return VoiceFingerprint.measure(reference_replies(card), card)


@dataclass(frozen=True)
class Drift:
    figure: str  # a VoiceFingerprint field
    measured: float
    reference: float
    warning: str


def compare(measured: VoiceFingerprint, reference: VoiceFingerprint, card: PersonaCard) -> list[Drift]:
    """Where her replies are far from her reference (the thresholds above)."""
    drifts = []
    if measured.banned_replies:
        found = ", ".join(f'"{phrase}" ({count})' for phrase, count in measured.banned_phrases.items())
        drifts.append(Drift("banned_replies", measured.banned_replies, reference.banned_replies,
                            f"{_replies(measured.banned_replies)} a phrase her card bans: {found}"))
    if measured.over_emoji_policy_rate:
        policy = f"at most {card.voice.emoji.max_per_message} a message" if card.voice.emoji.allowed else "none"
        drifts.append(Drift("over_emoji_policy_rate", measured.over_emoji_policy_rate, reference.over_emoji_policy_rate,
                            f"{measured.over_emoji_policy_rate:.0%} of replies use more emoji than her card allows ({policy})"))
    if measured.replies < MIN_REPLIES_FOR_RATES:
        return drifts
    if reference.question_rate and measured.question_rate < QUESTION_FLOOR * reference.question_rate:
        drifts.append(Drift("question_rate", measured.question_rate, reference.question_rate,
                            f"she asks the fan something in {measured.question_rate:.0%} of replies, under half of her "
                            f"{reference.question_rate:.0%}: she usually asks people what they are making"))
    if measured.catchphrase_rate > max(CATCHPHRASE_CEILING, 2 * reference.catchphrase_rate):
        drifts.append(Drift("catchphrase_rate", measured.catchphrase_rate, reference.catchphrase_rate,
                            f"a catchphrase in {measured.catchphrase_rate:.0%} of replies (hers: {reference.catchphrase_rate:.0%}): "
                            "a catchphrase said every time becomes a tic"))
    for figure, unit in (("words_per_sentence_mean", "words a sentence"), ("sentences_per_reply_mean", "sentences a reply")):
        now, hers = getattr(measured, figure), getattr(reference, figure)
        if hers and not hers / LENGTH_FACTOR <= now <= hers * LENGTH_FACTOR:
            way = f"over {LENGTH_FACTOR:g}x hers" if now > hers else f"under 1/{LENGTH_FACTOR:g} of hers"
            drifts.append(Drift(figure, now, hers, f"{now:g} {unit} against her {hers:g}: {way}"))
    if reference.korean_rate and not measured.korean_rate:
        drifts.append(Drift("korean_rate", 0.0, reference.korean_rate,
                            f"no Korean word in any reply (hers: {reference.korean_rate:.0%}): she slips one in when it fits"))
    elif measured.korean_rate > max(0.5, KOREAN_FACTOR * reference.korean_rate):
        drifts.append(Drift("korean_rate", measured.korean_rate, reference.korean_rate,
                            f"Korean in {measured.korean_rate:.0%} of replies (hers: {reference.korean_rate:.0%}): "
                            "more than a word slipped in"))
    if measured.exclamation_rate > max(EXCLAMATION_CEILING, 2 * reference.exclamation_rate):
        drifts.append(Drift("exclamation_rate", measured.exclamation_rate, reference.exclamation_rate,
                            f'"!" in {measured.exclamation_rate:.0%} of replies (hers: {reference.exclamation_rate:.0%}): '
                            "she is unhurried, not over-excited"))
    return drifts


def _replies(count: int) -> str:
    return "1 reply says" if count == 1 else f"{count} replies say"


def voice_section(replies: list[str], card: PersonaCard) -> dict:
    """The fingerprint of `replies`, her reference and the drift warnings, ready for JSON."""
    measured, reference = VoiceFingerprint.measure(replies, card), reference_fingerprint(card)
    return {"measured": measured.model_dump(), "reference": reference.model_dump(),
            "drift": [asdict(drift) for drift in compare(measured, reference, card)]}


ROWS = [  # label, field, format
    ("catchphrase rate", "catchphrase_rate", "{:.0%}"),
    ("Korean rate", "korean_rate", "{:.0%}"),
    ("sentences per reply (mean / p50)", ("sentences_per_reply_mean", "sentences_per_reply_p50"), "{:g} / {:g}"),
    ("words per sentence (mean / p50)", ("words_per_sentence_mean", "words_per_sentence_p50"), "{:g} / {:g}"),
    ("emoji per reply", "emoji_per_reply", "{:g}"),
    ("replies over the emoji policy", "over_emoji_policy_rate", "{:.0%}"),
    ("replies with a banned phrase", "banned_replies", "{:d}"),
    ("question rate", "question_rate", "{:.0%}"),
    ("exclamation rate", "exclamation_rate", "{:.0%}"),
]


def _cell(fingerprint: VoiceFingerprint | None, field: str | tuple[str, ...], form: str) -> str:
    if fingerprint is None or not fingerprint.replies:
        return "-"
    fields = field if isinstance(field, tuple) else (field,)
    return form.format(*(getattr(fingerprint, name) for name in fields))


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{word} ({count})" for word, count in counts.items()) or "none"


def report_lines(measured: VoiceFingerprint | None, reference: VoiceFingerprint, drifts: list[Drift],
                 label: str = "her replies") -> list[str]:
    """A table of `measured` (None: no replies to measure) beside her reference, then the drift."""
    shown = measured is not None and measured.replies > 0
    lines = [f"{'':34}{label[:18]:>18}{'her examples':>16}",
             f"{'replies':34}{(measured.replies if measured else 0):>18}{reference.replies:>16}"]
    lines += [f"{name:34}{_cell(measured, field, form):>18}{_cell(reference, field, form):>16}" for name, field, form in ROWS]
    if shown:
        lines.append(f"catchphrases: {_listed(measured.catchphrases)}")
        lines.append(f"Korean words: {_listed(measured.korean_words)}")
        if measured.banned_phrases:
            lines.append(f"banned phrases: {_listed(measured.banned_phrases)}")
    lines.append(f"(her examples' Korean words: {_listed(reference.korean_words)})")
    if not shown:
        lines.append("No replies of hers to measure, so nothing to compare: only her reference is shown.")
    elif drifts:
        lines.append(f"Drift ({len(drifts)}):")
        lines += [f"  ! {drift.warning}" for drift in drifts]
    elif measured.replies < MIN_REPLIES_FOR_RATES:
        lines.append(f"No banned phrase and no emoji over her policy; the rates are compared from {MIN_REPLIES_FOR_RATES} replies on "
                     f"({measured.replies} so far).")
    else:
        lines.append("No drift: every figure is near her example dialogue.")
    return lines
