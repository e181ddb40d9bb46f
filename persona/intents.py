"""Reading a fan's message for a creative request: a look, a print, a song, a look at her work
in progress, or (most of the time) nothing.

``IntentReader`` decides in three steps, cheapest first:

1. Explicit rules. A request frame ("could you …", "make me …", "I'd love a …", "… 만들어 줘")
   whose object is a garment, a print or a piece of music is a request of that kind; "what are
   you working on" and "show me your latest …" ask to see her work. The object nearest the
   verb decides: "design me a dress with a floral print" is a look.
2. Cues. A message with no request frame at all (a compliment, a question about her songs, a
   fan's own sketches) is none, whatever its topic: topic alone is what near misses share
   with requests ("I love your last song", "my sister designs dresses").
3. Embedding. A message that asks for something the rules could not place is compared with
   prototype phrases per kind, near misses among them, embedded once when the reader is built.
   MiniLM reads English only (Korean comes out as near noise), so Korean is the rules' work.
   The chat turn embeds the message for memory recall anyway, so ``read`` takes that vector
   and adds only a product with the prototypes' matrix to the turn (a whole read: under 0.1 ms
   at p50, bench/intents.py).

``ToolCallIntentReader`` asks an OpenAI-compatible server (vLLM) instead of the embedding,
through one forced tool call; the explicit rules still run first, and whatever the server
gets wrong or leaves out falls back to the embedded reader.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from persona.memory.embeddings import Embedder

if TYPE_CHECKING:
    from pipelines.dialogue import DialogueConfig

log = logging.getLogger(__name__)

IntentKind = Literal["look", "print", "song", "show_work", "none"]
# What decided: the rules, the embedding, a server's tool call, or the fan's client itself (a button, not text).
IntentSource = Literal["rule", "embedding", "tool_call", "client"]
REQUEST_KINDS: tuple[IntentKind, ...] = ("look", "print", "song", "show_work")
MAKE_KINDS: tuple[IntentKind, ...] = ("look", "print", "song")


class Intent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: IntentKind
    brief: str = Field(default="", description="the request in the fan's own words (the message, stripped); empty for none")
    confidence: float = Field(ge=0.0, le=1.0)
    source: IntentSource

    @property
    def is_request(self) -> bool:
        return self.kind != "none"


# --- vocabulary ------------------------------------------------------------------------------

# What each kind of work is called when a fan asks for it. Phrases are matched on whole words.
KIND_NOUNS: dict[IntentKind, tuple[str, ...]] = {
    "look": (
        "outfit", "outfits", "look", "looks", "fit", "fits", "dress", "dresses", "gown", "gowns", "jacket", "jackets",
        "coat", "coats", "trench coat", "skirt", "skirts", "shirt", "shirts", "blouse", "suit", "suits", "tux", "tuxedo",
        "hoodie", "hoodies", "sweater", "jumper", "cardigan", "knit", "trousers", "pants", "jeans", "shorts", "hanbok",
        "kimono", "garment", "garments", "clothes", "clothing", "ensemble", "uniform", "costume", "blazer", "vest",
        "jumpsuit", "overalls", "top", "tee", "t-shirt", "streetwear", "wear", "wardrobe", "getup", "attire",
    ),
    "print": (
        "print", "prints", "pattern", "patterns", "textile", "textiles", "motif", "motifs", "repeat", "tile", "tiles",
        "fabric design", "surface design", "all-over print", "allover print",
    ),
    "song": (
        "song", "songs", "track", "tracks", "tune", "tunes", "melody", "melodies", "lullaby", "ballad", "beat", "beats",
        "jingle", "anthem", "lyrics", "instrumental", "music", "piece of music", "theme song", "soundtrack", "serenade",
        "loop", "chorus", "verse", "hook", "ost", "bgm",
    ),
}
KOREAN_NOUNS: dict[IntentKind, tuple[str, ...]] = {
    "look": ("옷", "드레스", "원피스", "의상", "코디", "룩", "재킷", "자켓", "코트", "치마", "스커트", "정장", "한복", "셔츠", "후드", "바지", "수트", "착장"),
    "print": ("패턴", "프린트", "무늬", "텍스타일", "원단 디자인"),
    "song": ("노래", "곡", "음악", "멜로디", "자장가", "비트", "가사", "노랫", "bgm", "ost"),
}
# Verbs that ask her to make something; past and -ing forms count after "I'd love it if you …"
# and "would you mind …". Some verbs say the kind by themselves ("compose something for me").
MAKE_VERBS = (
    "make", "design", "create", "write", "compose", "draw", "sketch", "sew", "knit", "tailor", "produce", "do",
    "style", "dress", "craft", "paint", "record", "sing", "play", "turn", "put", "generate", "build", "invent",
    "give", "whip up", "dream up", "come up with", "put together", "cook up", "throw together", "pick out", "choose",
)
VERB_KIND: dict[str, IntentKind] = {"compose": "song", "sing": "song", "record": "song", "sew": "look", "tailor": "look", "knit": "look", "dress": "look", "style": "look"}
# The forms of each verb as they appear after a request frame.
_IRREGULAR = {"make": "made|making", "write": "wrote|written|writing", "draw": "drew|drawn|drawing", "sing": "sang|sung|singing",
              "do": "did|done|doing", "give": "gave|given|giving", "put": "putting", "come up with": "came up with|coming up with",
              "whip up": "whipped up|whipping up", "dream up": "dreamt up|dreamed up|dreaming up", "put together": "putting together",
              "cook up": "cooked up|cooking up", "throw together": "threw together|throwing together", "pick out": "picked out|picking out",
              "choose": "chose|choosing"}


def _verb_forms(verb: str) -> list[str]:
    if verb in _IRREGULAR:
        return [verb, *_IRREGULAR[verb].split("|")]
    stem = verb.removesuffix("e")
    return [verb, stem + "ed", stem + "ing"]


def _alternation(phrases: Iterable[str]) -> str:
    # Longest first, so "trench coat" wins over "coat" and "come up with" over "come".
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(set(phrases), key=len, reverse=True))


_FORM_TO_VERB = {form: verb for verb in MAKE_VERBS for form in _verb_forms(verb)}
VERB = rf"(?P<verb>{_alternation(_FORM_TO_VERB)})"
BASE_VERB = rf"(?P<verb>{_alternation(MAKE_VERBS)})"
YOU = r"(?:you|u|ya)"
SOFTENER = r"(?:(?:please|pls|plz|maybe|possibly|just|also|kindly|perhaps|ever|actually|still|quickly)\s+)*"

# "I'd love", "we really want", "would love": a wish, with its subject ("a designer like you" wishes nothing).
WISHING = r"(?:\b(?:i|we)\s+(?:would\s+|really\s+|so\s+|just\s+|also\s+)*(?:love|like|want|need|adore|appreciate|wish)|(?:^|[.!?,]\s*|\b(?:would|really)\s+)(?:really\s+)?(?:love|adore|appreciate|need|want))"

# Where a make-verb is a request to her and not a statement about someone ("my sister designs dresses")
# or a question about her ("how long does it take you to design a dress?").
REQUEST_FRAMES = [
    # imperative at the start of a clause: "design me a dress", "hey haeun!! write a song"
    rf"(?:^|[.!?;:,)(\n]\s*|\b(?:and|so|ok|okay|hey|hi|hello|also|now|then|oh|haeun|unnie|eonni)\s+|\b(?:please|pls|plz|pretty\s+please)\s+){SOFTENER}{BASE_VERB}\b(?!\s+(?:you|u|sure)\b)",
    # "could you (please) sketch me an outfit"
    rf"\b(?:can|could|would|will|wanna|wo\s*not|would\s+not|will\s+not){SOFTENER}\s*{YOU}\s+{SOFTENER}{BASE_VERB}\b",
    # "any chance you could …", "is it possible for you to …", "would you mind making …"
    rf"\b(?:any\s+chance|is\s+it\s+possible|possible)\s+(?:that\s+)?(?:you|u)\s+(?:could|would|can|might)\s+{SOFTENER}{VERB}\b",
    rf"\b(?:is\s+it\s+possible|possible)\s+for\s+{YOU}\s+to\s+{SOFTENER}{BASE_VERB}\b",
    rf"\b(?:mind|consider)\s+{VERB}\b",
    # "I'd love it if you made me …", "I want you to design …", "I'd really like you to design …"
    rf"{WISHING}(?:\s+it)?(?:\s+if)?\s+{YOU}\s+(?:to\s+|would\s+|could\s+)?{SOFTENER}{VERB}\b",
    # "let's make a song together"
    rf"\blet\s*(?:'s|us|s)\s+{SOFTENER}{BASE_VERB}\b",
    # "how about you make …"
    rf"\b(?:how|what)\s+about\s+{YOU}\s+{VERB}\b",
    # "write me a song", "dress me for a picnic": a make-verb for the fan, unless someone else does it ("my mom used to sing me lullabies")
    rf"(?<!\bto\s)(?<!\bi\s)(?<!\bhe\s)(?<!\bshe\s)(?<!\bwe\s)(?<!\bthey\s)(?<!\bit\s)\b{BASE_VERB}\s+(?:me|us|for\s+me|for\s+us)\b",
]
# Wishes for the thing itself: "I'd love a song about missing home", "how about a print with persimmons?"
WISH_FRAMES = [
    rf"{WISHING}\s+(?:to\s+(?:have|get|see|hear)\s+)?(?:a|an|one|some|another|something|my\s+own)\b",
    r"\b(?:how|what)\s+about\s+(?:a|an|one|some|something)\b",
    r"\b(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:request|get|have|ask\s+for|commission|order)\b",
    r"\brequest(?:ing)?\b",
]
# A question about what she is making now, or a wish to see it.
SHOW_WORK_RULES = [
    rf"\bwhat\s+(?:are|r|is)\s+{YOU}\s+(?:currently\s+|busy\s+|secretly\s+)?(?:working\s+on|making|designing|composing|writing|creating|sketching|drawing|recording|cooking\s+up|up\s+to\s+in\s+the\s+studio)\b",
    rf"\b(?:are\s+{YOU}\s+)?(?:working|workin)\s+on\s+(?:anything|something)\b",
    rf"\b(?:show|share|send)\s+(?:me|us)\s+(?:what\s+{YOU}|your\s+(?:latest|newest|new|current|recent)|the\s+new|some\s+of\s+(?:your|the)\s+(?:new|latest))\b",
    rf"\b(?:show|share)\s+(?:me\s+|us\s+)?(?:your\s+)?(?:current|latest|newest|ongoing)\s+(?:project|work|sketches|designs|pieces|stuff)\b",
    r"\b(?:can|could|may)\s+(?:i|we)\s+(?:see|hear|have\s+a\s+look\s+at|peek\s+at)\s+(?:your\s+(?:latest|new|newest|current|recent)|what|some\s+of\s+(?:your|the)\s+new)\b",
    r"\b(?:let\s+me|lemme|let\s+us)\s+(?:see|hear)\s+(?:what|your\s+(?:latest|new|current))\b",
    r"\bsneak\s*-?\s*peeks?\b",
    r"\bwhat\s*(?:is|'s|s)?\s+on\s+your\s+(?:desk|table|easel|drawing\s+board|sketchbook|workbench)\b",
]
KOREAN_REQUEST = r"(?:해\s*줘|해\s*주|줘|주세요|주실|줄래|줄\s*수|주라|주면|주시|부탁|해\s*봐|해\s*보자|하자|만들자|원해|갖고\s*싶)"
KOREAN_MAKE = r"(?:만들|디자인|작곡|써|쓰|그려|그리|짜|골라|추천해|부탁|작업해|제작)"
KOREAN_SHOW_WORK = [
    r"(?:요즘|지금|최근|이번\s*주)\s*(?:무슨|뭐|어떤)\s*(?:작업|만들|디자인|작곡)",
    r"작업\s*(?:중인|하는|하고\s*있는)\s*(?:거|것|곡|옷|작품|디자인)?\s*.{0,12}(?:보여|들려|공개|알려)",
    r"(?:뭐|무슨\s*작업)\s*(?:하고|만들고)\s*있",
]

# "Would you ever wear neon?", "can you tell me about …": questions to her, not requests.
ABOUT_HER = r"(?:ever|rather|like|believe|tell|explain|remember|recommend|imagine|wear|be|say|prefer|describe|think|help\s+me\s+(?:choose|pick|decide))\b"

# A clause that asks her for something at all; without one the message is none.
REQUEST_CUES = [
    rf"\b(?:can|could|would|will|wanna){SOFTENER}\s*{YOU}\b(?!\s+{SOFTENER}{ABOUT_HER})",
    r"\b(?:please|pls|plz|pleaseee*|pretty\s+please)\b",
    rf"{WISHING}\s+(?:it\s+if\s+)?(?:a|an|one|some|another|something|you|u|my\s+own|to\s+have)\b",
    r"\bfor\s+(?:me|us|my|our)\b",
    rf"(?:^|[.!?;:,]\s*)(?:{_alternation(MAKE_VERBS)})\b(?!\s+(?:you|u|sure)\b)",
    rf"\b(?:{_alternation(MAKE_VERBS)})\s+(?:me|us)\b",
    r"\b(?:any\s+chance|is\s+it\s+possible|how\s+about|what\s+about|mind\s+\w+ing|request|commission|let\s*(?:'s|us))\b",
    r"\b(?:would|it\s+would)\s+(?:be|mean)\s+(?:so\s+)?(?:lovely|amazing|nice|great|cool|awesome|so\s+much|a\s+lot|the\s+world)\b",
    KOREAN_REQUEST,
]
SHOW_WORK_CUES = [
    rf"\b(?:you|u|your|ur|ya)\b.*\b(?:these\s+days|lately|right\s+now|at\s+the\s+moment|this\s+(?:week|month)|currently|current|today|nowadays|in\s+progress|new\s+stuff|next\s+collection|new\s+collection|latest|project|working)\b",
    r"\b(?:peek|preview|teaser|wip|work[-\s]in[-\s]progress|in\s+progress|new\s+stuff|behind\s+the\s+scenes)\b",
    r"(?:요즘|지금|작업|최근)",
]


# --- text handling -----------------------------------------------------------------------------

SPELLED_OUT = [  # curly apostrophes, contractions and chat shorthand, spelled out before any rule reads the text
    (r"[\u2018\u2019\u02bc`]", "'"),
    (r"\b(i|you|we|they|u)'d\b", r"\1 would"),
    (r"\b(you|we|they)'re\b", r"\1 are"),
    (r"\b(you|they)re\b", r"\1 are"),  # not "were"
    (r"\bi'm\b|\bim\b", "i am"),
    (r"\b(i|you|we|they)'ll\b", r"\1 will"),
    (r"\bid\s+(love|like|adore|appreciate)\b", r"i would \1"),
    (r"\bwon't\b|\bwont\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bur\b", "your"),
    (r"\bw/", "with "),
    (r"\bpleaseee+\b", "please"),
    (r"\s+", " "),
]
_SPELLED_OUT = [(re.compile(pattern), replacement) for pattern, replacement in SPELLED_OUT]


def _spelling_fixes(words: Iterable[str]) -> dict[str, str]:
    """Typos of the words that matter, one slip away (a letter dropped or two swapped):
    "desing" -> "design", "compse" -> "compose". Short words are left alone: their slips are words."""
    fixes: dict[str, str] = {}
    for word in words:
        if len(word) < 6 or " " in word:
            continue
        variants = {word[:i] + word[i + 1 :] for i in range(len(word))}
        variants |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
        for variant in variants - {word}:
            if len(variant) >= 5:
                fixes.setdefault(variant, word)
    return fixes


_KEY_WORDS = {word for phrases in KIND_NOUNS.values() for word in phrases} | set(_FORM_TO_VERB)
# One slip from a key word yet words themselves ("a short melody" is not "shorts"): the slips
# that are whole words in MiniLM's vocabulary (tests/test_intents.py keeps this list complete).
NOT_TYPOS = frozenset({
    "blaze", "crate", "crete", "ewing", "laying", "lyric", "overall", "pained", "panted", "panting", "paying", "racks",
    "seater", "short", "shots", "signing", "sorts", "swing", "tuned", "tuning", "turing",
})
SPELLING = {typo: word for typo, word in _spelling_fixes(_KEY_WORDS).items() if typo not in _KEY_WORDS | NOT_TYPOS}
_WORD = re.compile(r"[a-z]+")


def normalise(text: str) -> str:
    """Lower case, contractions spelled out, one space between words, known typos fixed."""
    text = text.lower()
    for pattern, replacement in _SPELLED_OUT:
        text = pattern.sub(replacement, text)
    return _WORD.sub(lambda word: SPELLING.get(word.group(), word.group()), text).strip()


def _compile(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(pattern) for pattern in patterns]


_REQUEST_FRAMES = _compile(REQUEST_FRAMES)
_WISH_FRAMES = _compile(WISH_FRAMES)
_SHOW_WORK_RULES = _compile(SHOW_WORK_RULES + KOREAN_SHOW_WORK)
_REQUEST_CUES = _compile(REQUEST_CUES)
_SHOW_WORK_CUES = _compile(SHOW_WORK_CUES)
_NOUNS = {kind: re.compile(rf"(?<![\w-])(?:{_alternation(nouns)})(?![\w-])") for kind, nouns in KIND_NOUNS.items()}
_KOREAN_NOUNS = {kind: re.compile("|".join(nouns)) for kind, nouns in KOREAN_NOUNS.items()}
_KOREAN_REQUEST = re.compile(rf"{KOREAN_MAKE}[^.!?]{{0,8}}?{KOREAN_REQUEST}|{KOREAN_REQUEST}")
_CLAUSE_END = re.compile(r"[.!?\n]")
OBJECT_WINDOW = 60  # characters after the verb in which its object is looked for (about eight words)
# Her existing work, not a new piece: "could you play your rain song?"
_HER_WORK = re.compile(r"\b(?:your|yours|you\s+made|you\s+wrote|you\s+did)\b")
_HER_NAMED_WORK = re.compile(rf"\b(?:your|yours)\s+(?:[\w'-]+\s+){{0,2}}?(?:{_alternation(n for nouns in KIND_NOUNS.values() for n in nouns)})\b")


def _first_kind_in(text: str) -> tuple[IntentKind, int] | None:
    found = [(match.start(), kind) for kind, pattern in _NOUNS.items() if (match := pattern.search(text))]
    if not found:
        return None
    start, kind = min(found)
    return kind, start


def _object_kind(text: str, after: int) -> IntentKind | None:
    """The kind named first after a request verb, within its clause; not her own work."""
    window = text[after : after + OBJECT_WINDOW]
    if end := _CLAUSE_END.search(window):
        window = window[: end.start()]
    found = _first_kind_in(window)
    if found is None:
        return None
    kind, start = found
    return None if _HER_WORK.search(window[:start]) else kind


def _has_object(text: str, after: int) -> bool:
    """ "compose something for me" asks for a song; "can you sing?" asks about her; "sing your song" is her work."""
    window = text[after : after + OBJECT_WINDOW]
    clause = window[: end.start()] if (end := _CLAUSE_END.search(window)) else window
    return bool(clause.strip()) and not _HER_WORK.search(clause) and not re.match(r"\s*(?:you|yourself|u)\b", clause)


def explicit_kind(text: str) -> IntentKind | None:
    """The kind of a clear request in `text` (normalised), or None when the rules cannot tell."""
    if any(rule.search(text) for rule in _SHOW_WORK_RULES):
        return "show_work"
    for frame in _REQUEST_FRAMES:
        for match in frame.finditer(text):
            kind = _object_kind(text, match.end())
            if kind is None and _has_object(text, match.end()):
                kind = VERB_KIND.get(_FORM_TO_VERB.get(re.sub(r"\s+", " ", match.group("verb")), ""))
            if kind:
                return kind
    for frame in _WISH_FRAMES:
        for match in frame.finditer(text):
            if kind := _object_kind(text, match.end()):
                return kind
    return _korean_kind(text)


def _korean_kind(text: str) -> IntentKind | None:
    """'노래 만들어 줘': the work named last before the request ending is the one asked for."""
    for request in _KOREAN_REQUEST.finditer(text):
        before = text[max(0, request.start() - 40) : request.start() + len(request.group())]
        named = [(match.start(), kind) for kind, pattern in _KOREAN_NOUNS.items() for match in pattern.finditer(before)]
        named += [(match.start(), kind) for kind, pattern in _NOUNS.items() for match in pattern.finditer(before)]
        if named:
            return max(named)[1]
    return None


def cued_kinds(text: str) -> set[IntentKind]:
    """The kinds the message could be asking for at all, from how it is phrased (normalised)."""
    kinds: set[IntentKind] = set()
    if any(cue.search(text) for cue in _REQUEST_CUES):
        kinds |= set(MAKE_KINDS)
    if any(cue.search(text) for cue in _SHOW_WORK_CUES):
        kinds.add("show_work")
    return kinds


def named_kinds(text: str) -> set[IntentKind]:
    kinds = {kind for kind, pattern in _NOUNS.items() if pattern.search(text)}
    return kinds | {kind for kind, pattern in _KOREAN_NOUNS.items() if pattern.search(text)}


# --- prototypes --------------------------------------------------------------------------------

# Phrases the message is compared with when the rules cannot tell. The "none" ones are near
# misses: they share the requests' topics but ask her for nothing new.
PROTOTYPES: dict[IntentKind, tuple[str, ...]] = {
    "look": (
        "could you design an outfit for me",
        "make me something to wear to a wedding",
        "I need a look for a party, can you help",
        "design clothes for me to wear on stage",
        "please create a dress I could wear",
        "would you style a whole look for me",
        "a jacket designed by you for me please",
        "what should I wear, can you put an outfit together for me",
        "an outfit for my trip, made by you",
        "sew me a coat for winter",
    ),
    "print": (
        "could you make a print for me",
        "design a pattern with flowers for my fabric",
        "create a textile pattern inspired by the sea",
        "a repeating motif for my scarf please",
        "make a pattern out of my favourite fruit",
        "I'd love a print for my tote bag",
        "turn this idea into a fabric print",
        "a seamless pattern for wrapping paper, please",
    ),
    "song": (
        "could you write a song for me",
        "compose some music about the rain",
        "make me a song for my birthday",
        "I'd love a melody to fall asleep to",
        "a track for my workout please",
        "write a little tune about my dog",
        "please make a song about my hometown",
        "a beat for my study sessions",
        "sing me a song about the night",
        "music for my best friend's wedding, please",
    ),
    "show_work": (
        "what are you working on these days",
        "show me what you are making right now",
        "can I see your work in progress",
        "any previews of your next collection",
        "what's new in your studio this week",
        "share a peek at your current project",
        "what are you composing lately, can I hear it",
        "what are you designing at the moment",
    ),
    "none": (
        "I love your last song",
        "your new collection is beautiful",
        "could you tell me about your last collection",
        "what inspired your song",
        "can you recommend a playlist",
        "do you like designing dresses",
        "how long does it take you to write a song",
        "my friend designs clothes",
        "I made a dress for my daughter",
        "I write songs too",
        "I would love to see your show someday",
        "can you help me choose between these two dresses",
        "please take care of yourself",
        "would you ever wear this colour",
        "I want to learn to sew",
        "can you believe the weather today",
        "what's your favourite pattern",
        "I'm listening to your album",
        "could you tell me more about your studio",
        "can you remember my cat's name",
        "I need a new job",
        "make sure you get some rest",
        "thank you for the song, I loved it",
        "do you take commissions",
        "which of your songs should I listen to first",
        "good morning, how are you",
        "can you sing",
        "can you draw",
    ),
}


# --- the readers -------------------------------------------------------------------------------


class IntentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_confidence: float = Field(default=0.95, ge=0.0, le=1.0, description="an explicit rule's request")
    uncued_confidence: float = Field(default=0.9, ge=0.0, le=1.0, description="none because nothing is asked for")
    named_bonus: float = Field(default=0.1, ge=0.0, le=1.0, description="added to a kind's similarity when the message names that kind of work")
    floor: float = Field(default=0.4, ge=0.0, le=1.0, description="a request's prototype must be at least this similar")
    temperature: float = Field(default=0.05, gt=0.0, description="softmax temperature turning similarities into a confidence")


class IntentReader:
    """``IntentReader(embedder).read(message, vector)`` -> ``Intent``. Build it once: the
    prototypes are embedded here."""

    def __init__(self, embedder: Embedder, prototypes: dict[IntentKind, tuple[str, ...]] = PROTOTYPES, settings: IntentSettings = IntentSettings()):
        self.embedder = embedder
        self.settings = settings
        phrases = [(kind, phrase) for kind, kind_phrases in prototypes.items() for phrase in kind_phrases]
        missing = [kind for kind in (*REQUEST_KINDS, "none") if kind not in prototypes or not prototypes[kind]]
        if missing:
            raise ValueError(f"intent prototypes: no phrases for {', '.join(missing)}")
        self.kinds: tuple[IntentKind, ...] = (*REQUEST_KINDS, "none")
        self.prototype_kinds = np.array([self.kinds.index(kind) for kind, _ in phrases])
        self.prototype_vectors = np.ascontiguousarray(embedder.embed([phrase for _, phrase in phrases]), dtype=np.float32)

    def read(self, text: str, vector: np.ndarray | None = None) -> Intent:
        """The request in `text`, if any. `vector`: the message's embedding when the caller has
        it already (the chat turn embeds it for memory recall); without it the message is
        embedded here, and only when the rules leave it open."""
        brief = text.strip()
        if not brief:
            return Intent(kind="none", confidence=1.0, source="rule")
        normalised = normalise(brief)
        if kind := explicit_kind(normalised):
            return Intent(kind=kind, brief=brief, confidence=self.settings.rule_confidence, source="rule")
        cued = cued_kinds(normalised)
        if _HER_NAMED_WORK.search(normalised):
            cued -= set(MAKE_KINDS)  # "can you play your rain song for me?" is about a song she has made
        if not cued:
            return Intent(kind="none", confidence=self.settings.uncued_confidence, source="rule")
        return self.by_embedding(brief, normalised, cued, vector)

    def by_embedding(self, brief: str, normalised: str, cued: set[IntentKind], vector: np.ndarray | None) -> Intent:
        scores = self.scores(self._vector(brief, vector))
        named = named_kinds(normalised)
        settings = self.settings
        candidates = [kind for kind in self.kinds if kind == "none" or kind in cued]
        boosted = np.array([scores[kind] + (settings.named_bonus if kind in named else 0.0) for kind in candidates])
        probabilities = np.exp((boosted - boosted.max()) / settings.temperature)
        probabilities /= probabilities.sum()
        admissible = [i for i, kind in enumerate(candidates) if kind != "none" and scores[kind] >= settings.floor]
        best = int(np.argmax(boosted))
        if best in admissible:
            return Intent(kind=candidates[best], brief=brief, confidence=round(float(probabilities[best]), 4), source="embedding")
        # none: the share of belief not on a request that clears the floor
        return Intent(kind="none", confidence=round(1.0 - float(probabilities[admissible].sum()), 4), source="embedding")

    def scores(self, vector: np.ndarray) -> dict[IntentKind, float]:
        """Each kind's similarity: its nearest prototype's cosine with the message."""
        similarities = self.prototype_vectors @ vector
        best = np.full(len(self.kinds), -1.0, dtype=np.float32)
        np.maximum.at(best, self.prototype_kinds, similarities)
        return {kind: float(best[index]) for index, kind in enumerate(self.kinds)}

    def _vector(self, text: str, vector: np.ndarray | None) -> np.ndarray:
        if vector is None:
            return self.embedder.embed([text])[0]
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.prototype_vectors.shape[1],):
            raise ValueError(f"intent vector: expected {self.prototype_vectors.shape[1]} numbers (the message's embedding), got shape {np.shape(vector)}")
        return vector


# --- the tool-call reader -------------------------------------------------------------------------

# The functions the server must call one of. The brief parameter makes the model say what was
# asked for, so a call that names a kind but no request is malformed (and read by the embedding).
_BRIEF = {"type": "object", "properties": {"brief": {"type": "string", "description": "what the fan asks for, in their words"}}, "required": ["brief"]}
_NOTHING = {"type": "object", "properties": {}}
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "make_look", "description": "The fan asks her to design clothes for them: an outfit, a dress, a jacket, a look.", "parameters": _BRIEF}},
    {"type": "function", "function": {"name": "make_print", "description": "The fan asks her for a textile print or a repeating pattern.", "parameters": _BRIEF}},
    {"type": "function", "function": {"name": "make_song", "description": "The fan asks her to write or compose music for them: a song, a melody, a beat.", "parameters": _BRIEF}},
    {"type": "function", "function": {"name": "show_work", "description": "The fan asks to see or hear what she is working on now.", "parameters": _NOTHING}},
    {"type": "function", "function": {"name": "no_request", "description": "Anything else: chat, compliments, questions about her songs or collections, the fan's own clothes or music.", "parameters": _NOTHING}},
]
TOOL_KINDS: dict[str, IntentKind] = {"make_look": "look", "make_print": "print", "make_song": "song", "show_work": "show_work", "no_request": "none"}
TOOL_SYSTEM_PROMPT = """You read one message that a fan sent to {persona}, and call exactly one function.
make_look: the fan asks her to design clothes for them ("design me a dress for my graduation").
make_print: the fan asks her for a print or pattern ("make a print with cherry blossoms").
make_song: the fan asks her to write or compose music ("write me a song about the first snow").
show_work: the fan asks what she is working on now ("what are you working on?").
no_request: anything else ("I love your last song", "my sister designs dresses", "what's your favourite print?", "do you like writing songs?")."""


# The tool calls vLLM itself demands for tool_choice="required": a list of {"name", "parameters"}.
TOOL_CALL_SCHEMA: dict[str, Any] = {
    "type": "array", "minItems": 1, "maxItems": 1,
    "items": {"type": "object", "anyOf": [
        {"properties": {"name": {"type": "string", "enum": [tool["function"]["name"]]}, "parameters": tool["function"]["parameters"]}, "required": ["name", "parameters"]}
        for tool in TOOLS
    ]},
}


class ToolCallIntentReader:
    """Reads a message with one chat completion on an OpenAI-compatible server (vLLM): the
    five functions in TOOLS with ``tool_choice="required"``, which vLLM enforces with
    structured outputs. The explicit rules run first (``rules_first``); a failed request, or
    an absent or malformed call, is read by the embedded reader instead. ``outcomes`` counts
    what decided each message. Blocking: from async code, run ``read`` in a thread.

    vLLM 0.32 refuses ``tool_choice="required"`` unless the server was started with
    ``--enable-auto-tool-choice --tool-call-parser NAME`` (HTTP 400 naming the flag). The reader then asks the same server
    the same question, tools included, with vLLM's own schema for a required call as the
    response format, and reads the call from the reply's content; it remembers that the
    server needs this.
    """

    def __init__(self, fallback: IntentReader, base_url: str, model: str, api_key: str | None = None,
                 timeout_s: float = 30.0, connect_timeout_s: float = 5.0, confidence: float = 0.8, max_tokens: int = 100,
                 rules_first: bool = True, persona: str = "Haeun, a Seoul fashion designer who also composes music"):
        self.fallback = fallback
        self.system_prompt = TOOL_SYSTEM_PROMPT.format(persona=persona)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.confidence = confidence  # the server gives no probability for its choice
        self.max_tokens = max_tokens  # a call takes 30 to 60 tokens; a small model looping in whitespace stops here
        self.rules_first = rules_first
        self.calls_in_content = False  # set when the server has no tool-call parser
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))
        self.outcomes: Counter[str] = Counter()

    @classmethod
    def from_config(cls, fallback: IntentReader, config: DialogueConfig) -> ToolCallIntentReader:
        """The server, model and key the dialogue already uses (dialogue.base_url, .model, .api_key)."""
        return cls(fallback, config.base_url, config.model, config.api_key, config.timeout_s, config.connect_timeout_s)

    def request_body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": text}],
            "tools": TOOLS,
            "tool_choice": "required",
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
        }
        if self.calls_in_content:
            body["tool_choice"] = "none"
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "tool_call", "schema": TOOL_CALL_SCHEMA, "strict": True}}
        return body

    def read(self, text: str, vector: np.ndarray | None = None) -> Intent:
        brief = text.strip()
        if not brief:
            return Intent(kind="none", confidence=1.0, source="rule")
        if self.rules_first and (kind := explicit_kind(normalise(brief))):
            self.outcomes["rule"] += 1
            return Intent(kind=kind, brief=brief, confidence=self.fallback.settings.rule_confidence, source="rule")
        try:
            response = self._ask(brief)
        except httpx.HTTPError as error:
            return self._fall_back("server_error", f"{self.base_url} could not be asked ({error!r})", text, vector)
        if response.status_code >= 400:
            return self._fall_back("server_error", f"{self.base_url} answered HTTP {response.status_code}: {response.text[:200]}", text, vector)
        kind, problem = parse_tool_call(response, in_content=self.calls_in_content)
        if kind is None:
            return self._fall_back("absent" if problem == "no tool call" else "malformed", problem, text, vector)
        self.outcomes["tool_call"] += 1
        return Intent(kind=kind, brief=brief if kind != "none" else "", confidence=self.confidence, source="tool_call")

    def _ask(self, brief: str) -> httpx.Response:
        response = self.client.post("/chat/completions", json=self.request_body(brief))
        if response.status_code == 400 and not self.calls_in_content and "tool-call-parser" in response.text:
            log.info("intent: %s has no tool-call parser; tool calls are read from constrained content", self.base_url)
            self.calls_in_content = True
            response = self.client.post("/chat/completions", json=self.request_body(brief))
        return response

    def _fall_back(self, outcome: str, why: str, text: str, vector: np.ndarray | None) -> Intent:
        self.outcomes[outcome] += 1
        log.debug("intent: the embedded reader decides (%s)", why)
        return self.fallback.read(text, vector)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ToolCallIntentReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def parse_tool_call(response: httpx.Response, in_content: bool = False) -> tuple[IntentKind | None, str]:
    """The kind from the first tool call of a chat completion (or, `in_content`, from the
    reply's text holding vLLM's [{"name", "parameters"}]), or None and what was wrong."""
    try:
        choice = response.json()["choices"][0]
        message = choice["message"]
        calls = message.get("tool_calls") or []
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, f"not a chat completion: {response.text[:200]!r}"
    if choice.get("finish_reason") == "length":
        return None, "cut off at max_tokens"  # vLLM returns no call for JSON it could not finish
    if not calls and in_content and message.get("content"):
        try:
            written = json.loads(message["content"])
        except json.JSONDecodeError:
            return None, f"content is not JSON: {message['content'][:200]!r}"
        if isinstance(written, list) and written and isinstance(written[0], dict):
            calls = [{"function": {"name": written[0].get("name"), "arguments": json.dumps(written[0].get("parameters", {}))}}]
    if not calls:
        return None, "no tool call"
    function = calls[0].get("function") if isinstance(calls[0], dict) else None
    name = (function or {}).get("name")
    if name not in TOOL_KINDS:
        return None, f"unknown function {name!r}"
    try:
        arguments = json.loads((function or {}).get("arguments") or "{}")
    except (json.JSONDecodeError, TypeError):
        return None, f"{name}: arguments are not JSON"
    kind = TOOL_KINDS[name]
    if kind in MAKE_KINDS and not (isinstance(arguments, dict) and isinstance(arguments.get("brief"), str) and arguments["brief"].strip()):
        return None, f"{name}: no brief"
    return kind, ""


# --- labelled messages and their scores (tests and bench/intents.py) ----------------------------


class LabelledMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    kind: IntentKind
    split: Literal["tuning", "held_out"]


def load_labelled(path: str | Path) -> list[LabelledMessage]:
    """One JSON object a line: {"text": ..., "kind": ..., "split": "tuning" | "held_out"}."""
    messages = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.append(LabelledMessage.model_validate_json(line))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in error.errors())
            raise ValueError(f"{path}, line {number}: {problems} (expected {{\"text\": str, \"kind\": one of {', '.join((*REQUEST_KINDS, 'none'))}, \"split\": tuning|held_out}})") from None
    return messages


class IntentScores(BaseModel):
    """Requests are the positives: a request read as another kind is a false positive of
    that kind and a miss of its own."""

    messages: int
    precision: float
    recall: float
    confusion: dict[str, dict[str, int]] = Field(description="expected kind -> kind read -> count")
    mistakes: list[dict[str, str]] = []


def score(expected: list[IntentKind], read: list[IntentKind], texts: list[str] | None = None) -> IntentScores:
    true_positive = sum(e == r != "none" for e, r in zip(expected, read))
    read_requests = sum(r != "none" for r in read)
    requests = sum(e != "none" for e in expected)
    confusion: dict[str, dict[str, int]] = {kind: {} for kind in (*REQUEST_KINDS, "none")}
    for e, r in zip(expected, read):
        confusion[e][r] = confusion[e].get(r, 0) + 1
    mistakes = [{"text": t, "expected": e, "read": r} for t, e, r in zip(texts or [""] * len(expected), expected, read) if e != r]
    return IntentScores(
        messages=len(expected),
        precision=true_positive / read_requests if read_requests else 1.0,
        recall=true_positive / requests if requests else 1.0,
        confusion=confusion,
        mistakes=mistakes if texts is not None else [],
    )
