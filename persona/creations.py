"""What she makes for a fan: a song, a look or a print, from the fan's words, her DNA and what
she remembers of that fan.

A fan asks in chat ("could you write me a song for my rainy commute?") and a background job
calls one of the three makers with her card, the fan's words, the facts she keeps about that
fan and a fresh scratch folder. The pipelines do the work (pipelines/music, pipelines/fashion);
this module decides what to ask them for and assembles the result:

    facts = FanFacts(name="Minji", notes=["favourite colour is teal", "has a dog called Bori"])
    song = make_song(card, "could you write me a song for my rainy commute?", facts, scratch, seed=7)
    song.title        # 'Bori's Rainy Commute'
    song.description  # her message about it, every fact in it taken from song.summary
    song.files        # preview.ogg, master.wav, the MIDI, piano-roll.png and the bundle's zip

The description is filled in from the summary with one of a few templates in her voice (the
seed picks), never written freely, so everything it states is true of what was made;
`untrue_facts` reads a description back and lists what is not. A fan's facts are read only
from the FanFacts given to that call, and `provenance["facts"]` records each one used and how.
A maker builds in a hidden folder inside `out_dir` and moves the files into place only at the
end, so an error or a cancelled job (a `progress` callback that raises) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import random
import re
import secrets
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipelines.colour import hex_to_rgb
from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.brief import DesignBrief, PersonaStyle, ProceduralDesigner, cue_for
from pipelines.fashion.flats import draw_flats, flat_to_png
from pipelines.fashion.lookbook import PRINT_TILE_PX, print_tile
from pipelines.fashion.metadata import procedural_parameters, save_png
from pipelines.fashion.palette import CSS_COLORS, delta_e, srgb_to_lab
from pipelines.fashion.prints import SEAMLESS_LIMIT, VARIANTS, keywords, make_tile, print_variant, seam_ratio, tile_preview
from pipelines.fashion.spec import DesignSpec, PaletteColor, Print
from pipelines.music.bundle import GENERATED_LICENCE, MANIFEST_FORMAT, export_bundle
from pipelines.music.composer import compose
from pipelines.music.plan import MODES, CompositionPlan
from pipelines.music.planner import SOUNDS, MusicBrief, ProceduralPlanner, alias_matches, name_words
from pipelines.music.preview import write_audio_preview
from pipelines.music.signature import SignatureCatalogue, SignatureReport
from pipelines.style import MusicDNA, NamedColor

if TYPE_CHECKING:
    from persona.card import PersonaCard

Kind = Literal["song", "look", "print"]
Progress = Callable[[str, float], None]

MAX_BRIEF_CHARS = 2000  # what the pipelines' briefs accept
SONG_SECONDS = (5.0, 600.0)
CANDIDATES = 12  # designs drawn for one look or print: enough to find one that answers the brief
FLAT_PX = 1200
REPEAT_TILES = 2  # the print's preview: 2 × 2 tiles, to see it repeat
# palette.py: about ΔE 10 still reads as the same colour from another dye lot; beyond, another colour.
OFF_PALETTE_DELTA_E = 10.0
SAME_COLOUR_DELTA_E = 5.0  # a fan's colour this close to one already in the palette is already there
PROCEDURAL_FASHION = "procedural (Atelier's flats and print tiles, no model)"
PAIRS = frozenset(("trousers", "jeans", "shorts", "culottes", "joggers", "leggings"))  # "a pair of", not "a"


# --- what she makes, and what she knows of the fan ---------------------------------------------


@dataclass(frozen=True)
class Creation:
    """One thing she made for a fan: its files, her message about it, and the facts behind both."""

    kind: Kind
    title: str
    description: str  # her message about it, filled in from `summary`
    summary: dict[str, Any]  # the facts of what was made: key and tempo, garment and colours, motif and repeat
    files: list[Path]  # every file, all inside the out_dir given
    preview: str  # the file name of the image to show first (one of `files`)
    provenance: dict[str, Any]  # the brief, the fan's facts used and how, seed, renderer and licence, versions
    fingerprint: dict[str, Any]  # how close it is to her DNA, with `drift`: warnings where it strays

    @property
    def preview_path(self) -> Path:
        return next(path for path in self.files if path.name == self.preview)


@dataclass(frozen=True)
class FanFacts:
    """What she knows of this fan that may help: their name and remembered facts as short
    sentences ("favourite colour is teal", "has a dog called Bori", "lives in Busan")."""

    name: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FanFact:
    """One thing read from one of the fan's notes."""

    note: str  # the note, as remembered
    value: str  # what was read from it: 'teal', 'Bori', 'Busan'
    hex: str = ""  # for a colour


@dataclass(frozen=True)
class FanDetails:
    """The fan's facts a creation can use, each with the note it came from."""

    name: str = ""
    colour: FanFact | None = None  # a favourite colour
    pet: FanFact | None = None  # a pet's name
    city: FanFact | None = None  # where they live or come from


# Colour words a fan may use, with the hex she reads them as (a wearable version of each).
COLOUR_WORDS: dict[str, str] = {
    "red": "#C8102E", "crimson": "#A51C30", "burgundy": "#7A1F2B", "maroon": "#6D1A2A", "pink": "#F4A7B9",
    "hot pink": "#E0457B", "coral": "#F27C5C", "orange": "#F28C28", "peach": "#F6B48F", "apricot": "#F7B27A",
    "yellow": "#F2C94C", "mustard": "#D4A72C", "gold": "#C9A227", "cream": "#F3EBD3", "ivory": "#F5F0E1",
    "beige": "#D9C7A7", "tan": "#C4A484", "camel": "#C19A6B", "brown": "#7B5137", "chocolate": "#5A3A29",
    "olive": "#6B7A3A", "khaki": "#A8A072", "green": "#3A7D44", "forest green": "#2E4B35", "emerald": "#1F8A5B",
    "sage": "#9CAF88", "mint": "#A8E0C8", "lime": "#A4C639", "teal": "#008080", "turquoise": "#30B5B0",
    "aqua": "#6CCFCF", "sky blue": "#8CC7E8", "baby blue": "#A9CCE3", "light blue": "#AFCFE6", "blue": "#2F6DB5",
    "cobalt": "#1F4E9E", "royal blue": "#2A4BA0", "navy": "#1F2A56", "indigo": "#3B3F8C", "denim": "#4A6A8F",
    "periwinkle": "#9AA5E0", "lavender": "#B9A7D6", "lilac": "#C6A4CF", "purple": "#6E3E8C", "violet": "#7F56A8",
    "plum": "#6B3358", "mauve": "#B08A9E", "magenta": "#C2327A", "white": "#F7F7F4", "black": "#1A1A1A",
    "grey": "#8C8C8C", "gray": "#8C8C8C", "charcoal": "#3A3D42", "silver": "#C0C4C8",
}
KOREAN_COLOUR_WORDS: dict[str, str] = {  # -> the English word above, which names the colour
    "빨간색": "red", "빨강": "red", "주황색": "orange", "주황": "orange", "노란색": "yellow", "노랑": "yellow",
    "초록색": "green", "초록": "green", "녹색": "green", "청록색": "teal", "민트색": "mint", "민트": "mint",
    "하늘색": "sky blue", "파란색": "blue", "파랑": "blue", "남색": "navy", "보라색": "purple", "보라": "purple",
    "분홍색": "pink", "분홍": "pink", "핑크": "pink", "흰색": "white", "하얀색": "white", "검은색": "black",
    "검정": "black", "회색": "grey", "갈색": "brown", "베이지": "beige",
}
_LIKING = re.compile(r"favou?rite|\blov(?:e|es|ing)\b|\blikes?\b|\badores?\b|obsessed|좋아|최애", re.IGNORECASE)
_ENGLISH_COLOUR = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, COLOUR_WORDS), key=len, reverse=True)) + r")(?![\w-])", re.IGNORECASE)
_KOREAN_COLOUR = re.compile("(" + "|".join(sorted(KOREAN_COLOUR_WORDS, key=len, reverse=True)) + ")")

_ANIMALS = r"dog|puppy|cat|kitten|kitty|rabbit|bunny|hamster|parrot|budgie|bird|turtle|tortoise|goldfish|fish|ferret|hedgehog|guinea pig|pet"
_KOREAN_ANIMALS = "강아지|고양이|반려견|반려묘|토끼|햄스터|앵무새"
_PET_PATTERNS = (
    # "has a dog called Bori", "her cat is named mochi", "a puppy whose name is Kong"
    re.compile(rf"\b(?i:{_ANIMALS})s?\b[^.;]{{0,30}}?\b(?i:called|named|name is|name's)\s+(?P<name>[^\W\d_][\w'-]*)"),
    # "has a cat Bori", "walks her dog Kong every morning"
    re.compile(rf"\b(?i:{_ANIMALS})\s+(?P<name>[A-Z][\w'-]*)"),
    # "강아지 이름은 보리야"
    re.compile(rf"(?:{_KOREAN_ANIMALS})\s*이름(?:은|이)?\s*[\"'“]?(?P<name>[가-힣A-Za-z]+?)[\"'”]?\s*(?:이에요|예요|이야|야|입니다|이다|다|임)?\s*[.!~]*$"),
    # "보리라는 강아지를 키워"
    re.compile(rf"(?P<name>[가-힣A-Za-z]+?)(?:이)?라는\s*(?:{_KOREAN_ANIMALS})"),
)
_CITY_PATTERNS = (
    # "lives in Busan", "moved to New York", "is from Daegu", "based in Jeju"
    re.compile(r"\b(?i:lives|living|live|based|moved|grew up|is from|comes from|came from|originally from)\s+(?:(?i:in|to)\s+)?"
               r"(?P<name>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})"),
    re.compile(r"\b(?i:hometown|home town|home city)\s+(?i:is)\s+(?P<name>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})"),
    # "부산에 살아", "대구 출신"
    re.compile(r"(?P<name>[가-힣]{2,8}?)(?:에서|에)\s*(?:살아|살고|산다|삽니다|살아요|사는)"),
    re.compile(r"(?P<name>[가-힣]{2,8}?)\s*출신"),
)
_NOT_NAMES = frozenset("a an the and or who which that is was has his her their my our your me him them it its this one".split())


def read_fan_facts(facts: FanFacts) -> FanDetails:
    """A favourite colour, a pet's name and a city read from the fan's notes (the first note
    that says each); nothing else, and nothing that is not in `facts`."""
    notes = [" ".join(str(note).split()) for note in facts.notes if str(note).strip()]
    return FanDetails(
        name=" ".join(facts.name.split()),
        colour=next(filter(None, map(_favourite_colour, notes)), None),
        pet=next(filter(None, (_named(note, _PET_PATTERNS) for note in notes)), None),
        city=next(filter(None, (_named(note, _CITY_PATTERNS) for note in notes)), None),
    )


def _favourite_colour(note: str) -> FanFact | None:
    """A colour the note says the fan likes ("favourite colour is teal", "좋아하는 색은 하늘색");
    a colour merely mentioned ("has a red bike") is not a favourite."""
    if not _LIKING.search(note):
        return None
    english = _ENGLISH_COLOUR.search(note)
    korean = _KOREAN_COLOUR.search(note)
    word = english[1].lower() if english else KOREAN_COLOUR_WORDS[korean[1]] if korean else None
    return FanFact(note, word, COLOUR_WORDS[word]) if word else None


def _named(note: str, patterns: Sequence[re.Pattern[str]]) -> FanFact | None:
    for pattern in patterns:
        match = pattern.search(note)
        if match and match["name"].lower() not in _NOT_NAMES and len(match["name"]) <= 30:
            name = match["name"]
            return FanFact(note, name[:1].upper() + name[1:] if name.islower() else name)
    return None


def fact_used(fact: FanFact | str, used_as: str, value: str) -> dict[str, str]:
    """One entry of provenance["facts"]["used"]: the note (or "name"), what it became, and how."""
    return {"fact": fact if isinstance(fact, str) else fact.note, "as": used_as, "value": value}


# --- reading the fan's words ------------------------------------------------------------------

# Words that open a request rather than say what it is about: "could you write me a song".
_OPENING_WORDS = frozenset("""
    hey hi hello oh so ok okay haeun 하은아 하은 unnie eonni please pls plz could can would will you u maybe
    i i'd id i'm im we we'd love like want wanted need wondering if to write compose make making design
    draw create sew give do me us a an some one new little quick short song songs track tune melody
    piece music beat look outfit print pattern something kind sort custom own
""".split())
# Words that name what is asked for; they are not what it is about ("a slow song" is slow).
_REQUEST_NOUNS = frozenset("song songs track tune melody piece music beat look outfit print pattern something".split())
_CONNECTORS = ("for", "about", "of", "with", "inspired by")
_CONNECTOR = re.compile(r"(?<![\w'])(" + "|".join(_CONNECTORS) + r")\s+", re.IGNORECASE)
_KOREAN_REQUEST = re.compile(
    r"\s*(?:(?:을|를|로|으로)?\s*위한\s*)?(?:노래|곡|음악|옷|룩|프린트|패턴|디자인)?\s*(?:을|를|하나)?\s*"
    r"(?:만들어|써|디자인해|그려|작곡해)\s*(?:줘|줄래|주세요|줄\s*수\s*있어)\s*[?!.~]*\s*$"
)
_SECOND_PERSON = {"my": "your", "me": "you", "mine": "yours", "i": "you", "i'm": "you're", "our": "your",
                  "ours": "yours", "we": "you", "us": "you", "myself": "yourself"}
_DETERMINERS = frozenset("my our your his her their the a an".split())
_SMALL_WORDS = frozenset("a an the and or of in on to for with at by from over under into near".split())
_CONNECTOR_REACH = 40  # characters after the asking within which a "for"/"about" still starts the subject


@dataclass(frozen=True)
class Request:
    """The fan's words, read: what the piece is, what it is about, and what it is for in her words to them."""

    text: str  # the brief as given
    describing: str  # the words before the subject: "slow" in "a slow song about ...", "cosy winter coat"
    subject: str  # what it is about: "my rainy commute" (empty when the brief only asks)
    made_for: str  # "for your rainy commute", "about the first snow", or empty

    @property
    def topic(self) -> str:
        """What the pipelines read for mood and theme: the describing words and the subject."""
        return ", ".join(part for part in (self.describing, self.subject) if part) or self.text


def read_request(brief: str) -> Request:
    """A request read: the asking ("could you write me a song") set aside, then the describing
    words, and a "for ...", "about ...", "of ..." or "with ..." up to the end of the sentence."""
    if not isinstance(brief, str) or not brief.strip():
        raise ValueError("brief: expected the fan's words, e.g. 'a song for my rainy commute', got an empty brief")
    if len(brief) > MAX_BRIEF_CHARS:
        raise ValueError(f"brief: at most {MAX_BRIEF_CHARS} characters, got {len(brief)}")
    text = unicodedata.normalize("NFC", " ".join(brief.split()))
    rest = text
    while match := re.match(r"^[\s,!?.:;~-]*([\w'’]+)[\s,!?.:;~-]*", rest):
        if match[1].lower().replace("’", "'") not in _OPENING_WORDS:
            break
        rest = rest[match.end():]
    rest = _clause(rest)
    describing, connector = "", ""
    found = _CONNECTOR.search(rest[:_CONNECTOR_REACH])
    if found:
        describing = " ".join(word for word in rest[:found.start()].split() if word.lower().strip(",") not in _REQUEST_NOUNS)
        connector, rest = found[1].lower(), rest[found.end():]
    elif rest.split() and rest.split()[-1].lower() in _REQUEST_NOUNS:  # "a slow song": all describing
        describing, rest = " ".join(rest.split()[:-1]), ""
    subject = re.sub(r"[\s,]+(?:please|pls|plz|thanks|thank you)\W*$", "", rest, flags=re.IGNORECASE).strip(" ,:'\"“”")
    purpose = subject.split(",")[0].strip()  # "for a summer night market", not "..., in linen"
    made_for = f"{connector} {_second_person(purpose)}" if purpose and connector in ("for", "about") else ""
    return Request(text, describing.strip(" ,"), subject, made_for)


def _clause(text: str) -> str:
    """Up to the end of the first sentence, without a Korean request's ending ("... 만들어줘")."""
    return _KOREAN_REQUEST.sub("", re.split(r"[.?!;]|\s[-–—]\s", text, maxsplit=1)[0]).strip()


def _second_person(text: str) -> str:
    """The fan's "my sister's wedding" as she says it back: "your sister's wedding"."""
    return re.sub(r"(?<![\w'])([A-Za-z']+)(?![\w'])", lambda m: _SECOND_PERSON.get(m[1].lower(), m[1]), text)


def subject_title(subject: str, words: int = 5, chars: int = 40) -> str:
    """'my sister's wedding, something in silk' -> "Sister's Wedding"; '' when nothing is left."""
    head = subject.split(",")[0].split()
    while head and head[0].lower() in _DETERMINERS:
        head = head[1:]
    head = head[:words]
    while head and (head[-1].lower() in _SMALL_WORDS | _DETERMINERS or len(" ".join(head)) > chars):
        head = head[:-1]
    return " ".join(
        word if any(c.isupper() for c in word) or not word[:1].isalpha()
        else word.lower() if index and word.lower() in _SMALL_WORDS
        else word[:1].upper() + word[1:]
        for index, word in enumerate(head)
    )


# --- a song -----------------------------------------------------------------------------------


def make_song(
    card: PersonaCard, brief: str, facts: FanFacts, out_dir: Path, *, seconds: float = 60, soundfont: Path | None = None,
    seed: int | None = None, progress: Progress | None = None,
) -> Creation:
    """A song about `seconds` long for the fan: planned from her music DNA and the brief,
    composed, exported as a DAW bundle and previewed as Ogg/Opus.

    out_dir gets preview.ogg, master.wav, <title>.mid, piano-roll.png and <title>.zip (the
    whole bundle: MIDI, stems, master, manifest). A known pet's name (else the fan's city)
    goes into the title. `progress(step, fraction)` is called between steps; if it raises,
    the exception propagates and out_dir is left as it was.
    """
    report = progress or _quiet
    request = read_request(brief)
    if not SONG_SECONDS[0] <= seconds <= SONG_SECONDS[1]:
        raise ValueError(f"seconds: expected {SONG_SECONDS[0]:g} to {SONG_SECONDS[1]:g}, got {seconds}")
    if soundfont is not None and not Path(soundfont).is_file():
        raise ValueError(f"soundfont: {soundfont} is not a file; give a General MIDI .sf2 or None for the system's")
    seed = _seed(seed)
    details = read_fan_facts(facts)

    report("plan", 0.0)
    # The planner's shortest piece is a quarter of a minute: a shorter ask gets one short chorus.
    asked = music_asked(request.text)
    music_brief = MusicBrief(text=request.topic, minutes=max(seconds / 60, 0.25), seed=seed, **asked)
    plan = ProceduralPlanner(card.music, persona=card.name).plan(music_brief)
    title, used = song_title(subject_title(request.subject), details, plan, seed)
    plan = CompositionPlan.from_data({**plan.model_dump(mode="json"), "title": title}, source="song plan")

    report("compose", 0.05)
    score = compose(plan)
    report("signature", 0.1)
    signature = _catalogue(card.music.model_dump_json(), card.name).report(score)

    with _building(out_dir) as work:
        bundle = export_bundle(score, work / "bundle", soundfont=soundfont,
                               progress=lambda step, fraction: report(step, 0.15 + 0.7 * fraction))
        stem = _safe_stem(title, "song")
        names = ["preview.ogg", "master.wav", f"{stem}.mid", "piano-roll.png", f"{stem}.zip"]
        os.replace(bundle.master, work / "master.wav")
        os.replace(bundle.midi, work / f"{stem}.mid")
        os.replace(bundle.piano_roll, work / "piano-roll.png")
        os.replace(bundle.archive, work / f"{stem}.zip")
        shutil.rmtree(work / "bundle")  # the rest of it (stems, manifest) is in the zip
        report("preview", 0.9)
        write_audio_preview(work / "master.wav", work, name="preview", format="ogg")
        report("done", 1.0)
        files = _publish(work, out_dir, names)

    summary = song_summary(plan, bundle.manifest, request, details, used)
    manifest = bundle.manifest
    return Creation(
        kind="song", title=title, description=describe_song(summary, seed), summary=summary, files=files, preview="piano-roll.png",
        provenance={
            **_provenance_basics(card, request, details, used, seed),
            "asked": asked,
            "planner": "procedural",
            "renderer": manifest["renderer"]["name"],
            "licence": manifest["renderer"]["licence"],
            "renderer_fallback": manifest["renderer"]["fallback"],
            "commercial_use": manifest["commercial_use"],
            "loudness_lufs": manifest["loudness"]["integrated_lufs"],
            "versions": {**_versions(), "bundle": MANIFEST_FORMAT},
        },
        fingerprint=song_fingerprint(signature),
    )


def music_asked(text: str) -> dict[str, Any]:
    """A key or tempo the fan named ("a 90 bpm track in D dorian"), as MusicBrief fields."""
    asked: dict[str, Any] = {}
    key = _KEY.search(text)
    if key:
        asked["key"] = f"{key[1]} {key[2]}"
    bpm = re.search(r"\b(\d{2,3}(?:\.\d+)?)\s*bpm\b", text, re.IGNORECASE)
    if bpm and 40 <= float(bpm[1]) <= 240:
        asked["bpm"] = float(bpm[1])
    return asked


def song_title(subject: str, details: FanDetails, plan: CompositionPlan, seed: int) -> tuple[str, list[dict[str, str]]]:
    """The song's title from the brief's subject, with a pet's name (else the fan's city) in it."""
    rng = random.Random(f"song-title:{seed}")
    used: list[dict[str, str]] = []
    if details.pet is not None:
        pet = details.pet.value
        with_subject = subject and not _named_in(subject, details.pet)  # not "Bori's Dog Bori"
        title = rng.choice([f"{subject} for {pet}", f"{pet}'s {subject}"] if with_subject else [f"A Song for {pet}", f"{pet}'s Song"])
        used.append(fact_used(details.pet, "title", pet))
    elif _named_in(subject, details.city):
        title = subject  # "Rainy Night in Busan" names it already
    elif details.city is not None:
        city = details.city.value
        title = rng.choice([f"{subject} in {city}", f"{city} {subject}"] if subject else [f"{city} Sketch", f"A Song for {city}"])
        used.append(fact_used(details.city, "title", city))
    else:
        title = subject or f"Sketch in {plan.key}"
    return title[:80].strip(), used


def _named_in(subject: str, fact: FanFact | None) -> bool:
    return fact is not None and fact.value.lower() in subject.lower()


def song_summary(plan: CompositionPlan, manifest: dict[str, Any], request: Request, details: FanDetails,
                 used: list[dict[str, str]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "kind": "song",
        "title": plan.title,
        "key": str(plan.key),
        "tonic": plan.key.tonic,
        "mode": plan.key.mode,
        "bpm": plan.bpm,
        "time_signature": manifest["time_signature"],
        "duration_s": round(plan.duration_s, 1),
        "genre": plan.genre,
        "instruments": [part.name for part in plan.instruments],
        "roles": {part.name: part.role for part in plan.instruments},
        "sections": [section.name for section in plan.sections],
    }
    return _add_personal(summary, request, details, used)


def song_fingerprint(report: SignatureReport) -> dict[str, Any]:
    """Her signature report (studio/music_tab.py shows the same), summarised."""
    return {
        "similarity": report.similarity,
        "nearest": report.nearest,
        "mean_similarity": report.mean_similarity,
        "catalogue_size": report.catalogue_size,
        "shapes": report.shapes,
        "pitch_class_entropy": report.pitch_class_entropy.model_dump(),
        "scale_consistency": report.scale_consistency.model_dump(),
        "groove_consistency": report.groove_consistency.model_dump(),
        "summary": report.summary(),
        "on_signature": report.on_signature,
        "drift": list(report.drift),
    }


@lru_cache(maxsize=8)
def _catalogue(music_json: str, persona: str) -> SignatureCatalogue:
    """Her reference pieces, composed once per music DNA (about half a second)."""
    return SignatureCatalogue.from_dna(MusicDNA.model_validate_json(music_json), persona=persona)


# --- a look -----------------------------------------------------------------------------------


def make_look(card: PersonaCard, brief: str, facts: FanFacts, out_dir: Path, *, seed: int | None = None,
              progress: Progress | None = None) -> Creation:
    """One garment for the fan, designed the way `atelier design` designs candidates (her
    fashion DNA and the brief), the one that answers the brief best; the fan's favourite
    colour joins its palette as the second colour (the trims and the print's main ink).

    out_dir gets front.png, back.png, front.svg, back.svg, print.png when it has a print, and
    spec.json; the preview is front.png.
    """
    report = progress or _quiet
    request = read_request(brief)
    seed = _seed(seed)
    details = read_fan_facts(facts)

    report("design", 0.0)
    spec = _best_design(card, request, seed)
    spec, used = _with_fan_colour(spec, details, card.visual.palette)
    report("print", 0.3)
    tile = print_tile(spec)  # None for a solid

    with _building(out_dir) as work:
        for step, (view, svg) in enumerate(draw_flats(spec, tile).items()):
            report(f"{view} flat", 0.4 + 0.25 * step)
            (work / f"{view}.svg").write_text(svg, encoding="utf-8")
            save_png(flat_to_png(svg, width=FLAT_PX), work / f"{view}.png", spec, procedural_parameters(spec, f"technical flat, {view}"))
        if tile is not None:
            save_png(tile, work / "print.png", spec, procedural_parameters(spec, f"{spec.print.type} print tile"))
        (work / "spec.json").write_text(spec.model_dump_json(indent=2) + "\n", encoding="utf-8")
        report("done", 1.0)
        names = ["front.png", "back.png", "front.svg", "back.svg", *(["print.png"] if tile is not None else []), "spec.json"]
        files = _publish(work, out_dir, names)

    summary = look_summary(spec, tile is not None, request, details, used)
    return Creation(
        kind="look", title=spec.name, description=describe_look(summary, seed), summary=summary, files=files, preview="front.png",
        provenance={**_provenance_basics(card, request, details, used, seed), **_fashion_provenance(spec)},
        fingerprint=fashion_fingerprint(spec, card, summary),
    )


def look_summary(spec: DesignSpec, has_print: bool, request: Request, details: FanDetails, used: list[dict[str, str]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "kind": "look",
        "name": spec.name,
        "garment": spec.category,
        "silhouette": spec.silhouette,
        "fit": spec.fit,
        "length": spec.length,
        "neckline": spec.neckline,
        "sleeve": {"length": spec.sleeve.length, "type": spec.sleeve.type},
        "closure": spec.closure,
        "details": list(spec.details),
        "fabric": {"type": spec.fabric.type, "finish": spec.fabric.finish},
        "colours": _colour_entries(spec, details),
        "print": _print_entry(spec) if has_print else None,
        "season": spec.season,
        "occasion": spec.occasion,
    }
    return _add_personal(summary, request, details, used)


# --- a print ----------------------------------------------------------------------------------


def make_print(card: PersonaCard, brief: str, facts: FanFacts, out_dir: Path, *, seed: int | None = None,
               progress: Progress | None = None) -> Creation:
    """A seamless print tile for the fan, from the brief's words, her motifs and palette, and
    the fan's favourite colour as its main ink; a known pet's name (else the fan's city) names it.

    out_dir gets print.png (one tile, print resolution), print-repeat.png (2 × 2 tiles) and
    print.json (the spec it was drawn from, with what was drawn); the preview is print.png.
    """
    report = progress or _quiet
    request = read_request(brief)
    seed = _seed(seed)
    details = read_fan_facts(facts)

    report("design", 0.0)
    spec = _best_design(card, request, seed, patterned=True)
    spec, used = _with_fan_colour(spec, details, card.visual.palette)
    drawn = print_variant(spec.print, spec.provenance.seed)
    name, named_by = print_title(subject_title(request.subject), details, drawn, seed)
    spec = DesignSpec.model_validate({**spec.model_dump(mode="json"), "name": name})
    used += named_by

    report("tile", 0.2)
    tile = make_tile(spec.print, spec.palette, spec.provenance.seed, PRINT_TILE_PX)
    report("repeat", 0.6)
    repeat = tile_preview(tile, REPEAT_TILES)
    seam = round(seam_ratio(tile), 3)

    with _building(out_dir) as work:
        parameters = procedural_parameters(spec, f"{spec.print.type} print tile")
        save_png(tile, work / "print.png", spec, parameters)
        report("repeat", 0.75)
        save_png(repeat, work / "print-repeat.png", spec, parameters.replace("print tile", f"print, {REPEAT_TILES} × {REPEAT_TILES} repeat"))
        record = {"spec": spec.model_dump(mode="json"), "drawn": drawn, "tile_px": PRINT_TILE_PX, "seam_ratio": seam, "seed": spec.provenance.seed}
        (work / "print.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        report("done", 1.0)
        files = _publish(work, out_dir, ["print.png", "print-repeat.png", "print.json"])

    summary = print_summary(spec, drawn, seam, request, details, used)
    return Creation(
        kind="print", title=name, description=describe_print(summary, seed), summary=summary, files=files, preview="print.png",
        provenance={**_provenance_basics(card, request, details, used, seed), **_fashion_provenance(spec)},
        fingerprint={**fashion_fingerprint(spec, card, summary), "seam_ratio": seam},
    )


# What each variant of a print draws, in words (pipelines/fashion/prints.py VARIANTS).
DRAWN_WORDS: dict[str, str] = {
    "plain": "one plain colour", "flowers": "open flowers", "foliage": "leaves", "fruit": "round fruit",
    "fruit-on-string": "fruit on a string", "moonlit": "crescent moons", "starfield": "scattered stars",
    "constellation": "constellations", "sunlit": "small suns", "diamond": "diamonds", "fold": "folded-paper triangles",
    "square": "squares", "chevron": "chevrons", "stitch": "running stitches", "horizontal": "horizontal stripes",
    "vertical": "vertical stripes", "diagonal": "diagonal stripes", "gingham": "gingham", "tartan": "tartan",
    "windowpane": "windowpane checks", "blobs": "soft pebble shapes", "marble": "marbling", "brush": "brushstrokes",
    "terrazzo": "terrazzo chips", "classic": "polka dots", "duo": "two-colour dots", "confetti": "confetti dots",
    "leopard": "leopard spots", "zebra": "zebra stripes", "boteh": "paisley", "poster": "poster shapes",
    "crescent": "bold crescents", "star": "bold stars", "sun": "bold suns", "flower": "bold flowers", "leaf": "bold leaves",
    "drop": "bold drops", "sign": "hand-painted signs without legible text", "blocks": "colour blocks",
    "pond": "concentric ripples", "seigaiha": "overlapping waves", "raindrops": "raindrop rings",
}
DRAWN_NAMES: dict[str, str] = {  # the same, as the last word of a print's name
    "plain": "Plain", "flowers": "Flowers", "foliage": "Leaves", "fruit": "Fruit", "fruit-on-string": "Strings",
    "moonlit": "Moons", "starfield": "Stars", "constellation": "Constellations", "sunlit": "Suns", "diamond": "Diamonds",
    "fold": "Folds", "square": "Squares", "chevron": "Chevrons", "stitch": "Stitches", "horizontal": "Stripes",
    "vertical": "Stripes", "diagonal": "Stripes", "gingham": "Gingham", "tartan": "Tartan", "windowpane": "Windowpane",
    "blobs": "Pebbles", "marble": "Marbling", "brush": "Brushstrokes", "terrazzo": "Terrazzo", "classic": "Dots",
    "duo": "Dots", "confetti": "Confetti", "leopard": "Spots", "zebra": "Stripes", "boteh": "Paisley", "poster": "Poster",
    "crescent": "Crescents", "star": "Stars", "sun": "Suns", "flower": "Flowers", "leaf": "Leaves", "drop": "Drops",
    "sign": "Signs", "blocks": "Blocks", "pond": "Ripples", "seigaiha": "Waves", "raindrops": "Raindrops",
}


def print_title(subject: str, details: FanDetails, drawn: str, seed: int) -> tuple[str, list[dict[str, str]]]:
    """'Bori's Ripples', 'Busan Raindrops', 'Rainy Commute Ripples': who or what it is for, then what it draws."""
    noun = DRAWN_NAMES.get(drawn, drawn.title())
    if details.pet is not None:
        return f"{details.pet.value}'s {noun}"[:80], [fact_used(details.pet, "title", details.pet.value)]
    if details.city is not None and not _named_in(subject, details.city):
        return f"{details.city.value} {noun}"[:80], [fact_used(details.city, "title", details.city.value)]
    if not subject:
        return random.Random(f"print-title:{seed}").choice([f"{noun} for You", f"Little {noun}"]), []
    # "Moons over Seoul" already names a motif; "Mum's Birthday" gets "Raindrops" after it
    return (subject if keywords(subject) or noun.lower() in subject.lower() else f"{subject} {noun}")[:80], []


def print_summary(spec: DesignSpec, drawn: str, seam: float, request: Request, details: FanDetails,
                  used: list[dict[str, str]]) -> dict[str, Any]:
    entry = _print_entry(spec)
    summary: dict[str, Any] = {
        "kind": "print",
        "name": spec.name,
        **{key: entry[key] for key in ("motif", "drawn", "variant", "repeat", "scale")},
        "print_type": entry["type"],
        "colours": _colour_entries(spec, details),
        "tile_px": PRINT_TILE_PX,
        "seamless": seam <= SEAMLESS_LIMIT,
    }
    return _add_personal(summary, request, details, used)


# --- designing: shared by looks and prints ------------------------------------------------------


def _best_design(card: PersonaCard, request: Request, seed: int, patterned: bool = False) -> DesignSpec:
    """The candidate (as `atelier design` makes them) that answers most of the brief's words,
    then one whose print draws what the brief asks for ("moons": crescent moons), then one whose
    print draws a motif of hers, then the first; for a print, only patterned ones (a plain one
    takes her ripple, as `atelier prints` does), and what it draws before the words."""
    brief = DesignBrief(text=request.topic, n=CANDIDATES, seed=seed)
    candidates = ProceduralDesigner(card.fashion, card.visual).design(brief)
    if patterned:
        candidates = [spec for spec in candidates if spec.print.type != "solid"] or [
            spec.model_copy(update={"print": spec.print.model_copy(update={"type": "ripple", "motif": "concentric ripples"})})
            for spec in candidates[:1]
        ]
    wanted = {word.lower() for word in brief.keywords}
    style = PersonaStyle.read(card.fashion, card.visual)
    scores = [(len(wanted & {word.lower() for word in spec.concept}), _draws(spec, brief.text), bool(_her_motifs_drawn(spec, style)))
              for spec in candidates]
    if patterned:  # for a print, what it draws comes first: "magnolias at dusk" wants flowers more than dusk's colours
        asked = {kind for word in brief.keywords if (cue := cue_for(word)) for kind in cue.pulls.get("print type", ())}
        scores = [(spec.print.type in asked, draws, words, hers) for spec, (words, draws, hers) in zip(candidates, scores)]
    return candidates[scores.index(max(scores))]


def _with_fan_colour(spec: DesignSpec, details: FanDetails, hers: Sequence[NamedColor]) -> tuple[DesignSpec, list[dict[str, str]]]:
    """The spec with the fan's favourite colour as its second colour: what trims take on a flat
    and the main ink of a print. Already in the palette (within ΔE 5), it is left as it is."""
    if details.colour is None:
        return spec, []
    colour = details.colour
    labs = _labs([entry.hex for entry in spec.palette])
    distances = delta_e(labs, _labs([colour.hex])[0])
    if distances.min() <= SAME_COLOUR_DELTA_E:
        existing = spec.palette[int(np.argmin(distances))]
        return spec, [fact_used(colour, "palette accent", f"{existing.name} {existing.hex}, already in the palette")]
    kept = sorted(spec.palette, key=lambda entry: -entry.share)[:7]  # a spec holds at most 8 colours
    second = kept[1].share / sum(entry.share for entry in kept) if len(kept) > 1 else 0.0
    share = round(min(max(second / (1 + second) + 0.02, 0.12), 0.3), 2)  # just above the palette's second colour
    shares = _rounded([entry.share for entry in kept], 1 - share)
    palette = [entry.model_copy(update={"share": new}) for entry, new in zip(kept, shares)]
    palette.append(PaletteColor(name=colour.value.title(), hex=colour.hex, share=share))
    spec = DesignSpec.model_validate({**spec.model_dump(mode="json"), "palette": [entry.model_dump() for entry in palette]})
    return spec, [fact_used(colour, "palette accent", f"{colour.value.title()} {colour.hex}")]


def _rounded(shares: Sequence[float], total: float) -> list[float]:
    """`shares` scaled to add up to `total`, in hundredths (the largest takes the rounding)."""
    scaled = [max(round(total * share / sum(shares), 2), 0.01) for share in shares]
    largest = scaled.index(max(scaled))
    scaled[largest] = round(scaled[largest] + total - sum(scaled), 2)
    return scaled


def _colour_entries(spec: DesignSpec, details: FanDetails) -> list[dict[str, Any]]:
    fan_hex = details.colour.hex if details.colour else None
    return [{"name": entry.name, "hex": entry.hex, "share": entry.share, "for_fan": entry.hex == fan_hex}
            for entry in sorted(spec.palette, key=lambda entry: -entry.share)]


def _print_entry(spec: DesignSpec) -> dict[str, Any]:
    variant = print_variant(spec.print, spec.provenance.seed)
    return {"type": spec.print.type, "motif": spec.print.motif, "variant": variant, "drawn": DRAWN_WORDS.get(variant, variant),
            "repeat": spec.print.repeat, "scale": spec.print.scale}


def _fashion_provenance(spec: DesignSpec) -> dict[str, Any]:
    return {"designer": "procedural", "design_seed": spec.provenance.seed, "candidates": CANDIDATES, "spec_id": spec.id,
            "renderer": PROCEDURAL_FASHION, "licence": GENERATED_LICENCE, "versions": _versions()}


def fashion_fingerprint(spec: DesignSpec, card: PersonaCard, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """How close a look or print is to her DNA: each colour's ΔE (CIE76) to the nearest of her
    palette, whether the print draws one of her motifs, her fabrics and details; `drift` says
    where it strays (naming a fan's favourite colour as such, given the piece's `summary`)."""
    hers = card.visual.palette
    her_labs = _labs([entry.hex for entry in hers])
    colours = []
    for entry in sorted(spec.palette, key=lambda entry: -entry.share):
        distances = delta_e(her_labs, _labs([entry.hex])[0])
        nearest = int(np.argmin(distances))
        colours.append({"name": entry.name, "hex": entry.hex, "share": entry.share, "nearest": hers[nearest].name,
                        "delta_e": round(float(distances[nearest]), 2)})
    style = PersonaStyle.read(card.fashion, card.visual)
    motifs = _her_motifs_drawn(spec, style)
    fans = {entry["hex"] for entry in (summary or {}).get("colours", []) if entry.get("for_fan")}
    drift = [
        f"{colour['name']} ({colour['hex']}) is ΔE {colour['delta_e']:.1f} from her nearest colour, {colour['nearest']}: "
        f"outside her palette" + (" (the fan's favourite colour)" if colour["hex"] in fans else "")
        for colour in colours if colour["delta_e"] > OFF_PALETTE_DELTA_E
    ]
    if spec.print.type != "solid" and not motifs:
        drift.append(f"the print draws {DRAWN_WORDS.get(print_variant(spec.print, spec.provenance.seed), spec.print.type)}, "
                     f"none of her motifs ({', '.join(m.text for m in style.motifs[:3])}...)")
    values = [colour["delta_e"] for colour in colours]
    return {
        "mean_delta_e": round(float(np.mean(values)), 2),
        "weighted_delta_e": round(sum(colour["delta_e"] * colour["share"] for colour in colours), 2),
        "max_delta_e": round(max(values), 2),
        "colours": colours,
        "her_motifs": motifs,
        "uses_her_motifs": bool(motifs),
        "her_fabric": spec.fabric.type in {fabric.type for fabric in style.fabrics},
        "her_details": [detail for detail in spec.details if detail in style.details],
        "drift": drift,
    }


def _her_motifs_drawn(spec: DesignSpec, style: PersonaStyle) -> list[str]:
    """Her motifs the print is made from and that the tile shows: in the print's words, and
    asking, whatever the seed, for the variant it draws (her "moon over Seongsu rooftops" in a
    celestial print draws crescent moons; in a striped one, stripes that owe it nothing)."""
    if spec.print.type == "solid":
        return []
    words = spec.print.motif.lower()
    return [motif.text for motif in style.motifs if motif.text.lower() in words and _draws(spec, motif.text)]


def _draws(spec: DesignSpec, text: str) -> bool:
    """Whether `text` as the print's motif asks, whatever the seed, for the variant the tile draws
    (a print type with one variant draws it whatever the words ask)."""
    if len(VARIANTS[spec.print.type]) < 2 or not keywords(text):
        return False
    drawn = print_variant(spec.print, spec.provenance.seed)
    return all(print_variant(Print(type=spec.print.type, motif=text), seed) == drawn for seed in range(8))


def _labs(hexes: Iterable[str]) -> np.ndarray:
    return srgb_to_lab(np.array([hex_to_rgb(value) for value in hexes], dtype=np.float64))


# --- shared: the personal part of a summary, provenance, seeds ----------------------------------


def _add_personal(summary: dict[str, Any], request: Request, details: FanDetails, used: list[dict[str, str]]) -> dict[str, Any]:
    """Who and what it is for, and what is named after the fan's pet or city, where any."""
    if request.made_for:
        summary["made_for"] = request.made_for
    if details.name:
        summary["recipient"] = details.name
    named_after = [entry["value"] for entry in used if entry["as"] == "title"]
    if named_after:
        summary["named_after"] = named_after[0]
    return summary


def _provenance_basics(card: PersonaCard, request: Request, details: FanDetails, used: list[dict[str, str]], seed: int) -> dict[str, Any]:
    used = list(used) + ([fact_used("name", "greeting", details.name)] if details.name else [])
    return {
        "brief": request.text,
        "read_as": {"describing": request.describing, "subject": request.subject, "made_for": request.made_for},
        "facts": {"used": used},
        "seed": seed,
        "persona": card.id,
    }


def _versions() -> dict[str, str]:
    try:
        return {"atelier": importlib.metadata.version("atelier")}
    except importlib.metadata.PackageNotFoundError:
        return {}


def _seed(seed: int | None) -> int:
    """The seed given, or a fresh one (recorded in provenance, so the piece can be made again)."""
    if seed is None:
        return secrets.randbelow(2**32)
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected a whole number from 0 to {2**32 - 1}, got {seed!r}")
    return seed


def _quiet(step: str, fraction: float) -> None:
    pass


# --- her words about it -------------------------------------------------------------------------

SONG_CLOSERS = ("Tell me where you hear it first.", "Play it once with the window open.", "들어봐, and tell me if it fits the way there.")
LOOK_CLOSERS = ("Let's see how it moves.", "Tell me what you'd wear it with.", "조금만 더, and it's yours: tell me if anything should change.")
PRINT_CLOSERS = ("Tell me what you'd print it on.", "Every thread has a sound, and this one hums.", "Tell me if it should be bigger or smaller.")


def describe_song(summary: dict[str, Any], seed: int) -> str:
    """Her message about a song, filled in from its summary (the seed picks the template)."""
    rng = random.Random(f"describe:song:{seed}")
    title, key, bpm = f"“{summary['title']}”", summary["key"], f"{summary['bpm']:g} BPM"
    duration = spoken_duration(summary["duration_s"])
    lead, backing, band = _band(summary)
    templates = [
        f"Here it is: {title}, {duration} in {key} at {bpm}, {lead} over {joined(backing)}.",
        (f"I wrote {title} for you: {summary['genre'] or 'a sketch'} in {key} at {bpm}, {duration} long. "
         f"{_capitalised(lead)} carries the melody, with {joined(backing)} underneath."),
        f"{title} is finished: {duration} at {bpm} in {key}, with {joined(band)}.",
    ]
    return _message(summary, rng.choice(templates), SONG_CLOSERS, rng)


def describe_look(summary: dict[str, Any], seed: int) -> str:
    """Her message about a look, filled in from its summary."""
    rng = random.Random(f"describe:look:{seed}")
    name, garment, fabric = f"“{summary['name']}”", garment_words(summary), fabric_words(summary["fabric"])
    made_for = f" {summary['made_for']}" if summary.get("made_for") else ""
    colours = joined([entry["name"] for entry in summary["colours"] if not entry["for_fan"]][:3])
    templates = [
        f"Here's {name}{made_for}: {article(garment)} {garment} in {fabric}, {colours}.",
        f"I drew {name}{made_for}, {article(garment)} {garment} cut in {fabric}, in {colours}.",
        f"{name} is ready{made_for}: {article(garment)} {garment} in {colours}, made in {fabric}.",
    ]
    extras = _accent_sentences(summary)
    if summary.get("print"):
        extras.append(f"The print is {summary['print']['drawn']}, in a {summary['print']['repeat']} repeat.")
    return _message(summary, rng.choice(templates), LOOK_CLOSERS, rng, extras, mention_purpose=False)


def describe_print(summary: dict[str, Any], seed: int) -> str:
    """Her message about a print, filled in from its summary."""
    rng = random.Random(f"describe:print:{seed}")
    name, drawn, repeat = f"“{summary['name']}”", summary["drawn"], summary["repeat"]
    made_for = f" {summary['made_for']}" if summary.get("made_for") else ""
    colours = [entry["name"] for entry in summary["colours"]]
    seamless = " that tiles without a seam" if summary["seamless"] else ""
    templates = [
        f"Here's {name}{made_for}: {drawn} in {joined(colours[:4])}, in a {repeat} repeat{seamless}.",
        f"I made {name}{made_for}: {drawn} on {colours[0]}" + (f", with {joined(colours[1:4])}" if len(colours) > 1 else "") + f", set in a {repeat} repeat.",
    ]
    return _message(summary, rng.choice(templates), PRINT_CLOSERS, rng, _accent_sentences(summary), mention_purpose=False)


def _message(summary: dict[str, Any], body: str, closers: Sequence[str], rng: random.Random, extras: Sequence[str] = (),
             mention_purpose: bool = True) -> str:
    """The body, what it is for and named after, then a closing line while there is room (three sentences at most)."""
    sentences = [body, *extras]
    if mention_purpose:
        purpose, named_after = summary.get("made_for"), summary.get("named_after")
        if purpose and named_after:
            sentences.append(f"It's {purpose}, and I named it after {named_after}.")
        elif purpose or named_after:
            sentences.append(f"It's {purpose}." if purpose else f"I named it after {named_after}.")
    elif summary.get("named_after"):
        sentences.append(f"I named it after {summary['named_after']}.")
    text = sentences[0]
    for sentence in sentences[1:]:  # a body may be two sentences itself: count sentences, not parts
        if _sentence_count(f"{text} {sentence}") > 3:
            break
        text += " " + sentence
    if _sentence_count(text) < 3:
        text += " " + rng.choice(closers)
    recipient = summary.get("recipient")
    if recipient:
        first = text.split(" ", 1)[0]
        text = f"{recipient}, {text if first in ('I', 'I’m') or not text[:1].isalpha() else text[:1].lower() + text[1:]}"
    return text


def _accent_sentences(summary: dict[str, Any]) -> list[str]:
    return [f"The {entry['name']} accent is for you; it's your colour." for entry in summary["colours"] if entry["for_fan"]]


def _band(summary: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """The melody's instrument, what plays under it (chords or pad, then drums), and up to four parts."""
    def by_role(*wanted: str) -> list[str]:
        return [name for name in summary["instruments"] if summary["roles"][name] in wanted]

    lead = (by_role("melody") or summary["instruments"])[0]
    backing = (by_role("chords", "pad")[:1] + by_role("drums", "bass")[:1]) or [name for name in summary["instruments"] if name != lead][:1]
    band = list(dict.fromkeys([lead, *backing, *summary["instruments"]]))[:4]
    return lead, backing or [lead], band


def garment_words(summary: dict[str, Any]) -> str:
    """'A-line skirt', 'wide-leg trousers', 'kimono jacket'; the plain 'straight' is not said."""
    garment = summary["garment"].replace("-", " ")
    silhouette = summary["silhouette"]
    if silhouette in ("straight", summary["garment"]):
        return garment
    return f"{'A-line' if silhouette == 'a-line' else silhouette} {garment}"


def fabric_words(fabric: dict[str, str]) -> str:
    kind = fabric["type"].replace("-", " ")
    return kind if fabric["finish"] == "matte" else f"{fabric['finish']} {kind}"


def article(words: str) -> str:
    if words.split()[-1] in PAIRS:
        return "a pair of"
    return "an" if words[:1].lower() in "aeiou" else "a"


def joined(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence_count(text: str) -> int:
    return len([part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part])


def spoken_duration(seconds: float) -> str:
    """'58 seconds' under a minute and a half, else '2:05'."""
    whole = round(seconds)
    return f"{whole} seconds" if whole < 90 else f"{whole // 60}:{whole % 60:02d}"


# --- reading a description back ------------------------------------------------------------------

_KEY = re.compile(r"(?<![\w#])([A-G](?:#|b)?)\s+(" + "|".join(sorted(MODES, key=len, reverse=True)) + r")\b")
_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*BPM\b")
_SECONDS = re.compile(r"\b(\d+)\s+seconds?\b")
_CLOCK = re.compile(r"\b(\d+):(\d{2})\b")
_GENRE_WORDS = ("ambient", "city pop", "pop", "neo-soul", "soul", "lo-fi", "chamber", "downtempo", "electronica", "gugak",
                "fusion", "jazz", "rock", "hip-hop", "ballad", "folk", "classical", "house", "techno", "r&b")
_FASHION_KINDS = {"garment": vocab.CATEGORIES, "silhouette": vocab.SILHOUETTES, "fabric": vocab.FABRIC_TYPES,
                  "finish": vocab.FABRIC_FINISHES, "print_type": vocab.PRINT_TYPES, "repeat": vocab.PRINT_REPEATS}


def facts_stated(description: str, summary: dict[str, Any], *, colour_names: Iterable[str] = ()) -> dict[str, list[Any]]:
    """The facts a description states, read back from its words: quoted titles, keys, tempos,
    durations, instruments, genres, colours, garments, silhouettes, fabrics, finishes, print
    types and repeats. Words the summary supplies whole (the title, what it is for, the
    recipient, what the print draws) are read as such and not searched again; `colour_names`
    adds colour names (her palette's, say) to the ones looked for."""
    text = description
    stated: dict[str, list[Any]] = {"title": re.findall(r"“([^”]+)”", text)}
    text = re.sub(r"“[^”]*”", " § ", text)
    for phrase in (summary.get("made_for"), summary.get("recipient"), summary.get("named_after"), _print_facts(summary).get("drawn")):
        text = _masked(text, phrase)

    stated["key"] = [f"{tonic} {mode}" for tonic, mode in _KEY.findall(text)]
    stated["bpm"] = [float(value) for value in _BPM.findall(text)]
    stated["duration_s"] = [int(value) for value in _SECONDS.findall(text)] + [int(m) * 60 + int(s) for m, s in _CLOCK.findall(text)]
    for pattern in (_KEY, _BPM, _SECONDS, _CLOCK):
        text = pattern.sub(" § ", text)

    stated["instruments"], text = _found_whole(text, summary.get("instruments", []))
    stated["genre"], text = _found_whole(text, [summary["genre"]] if summary.get("genre") else [])
    if summary.get("kind") == "song":  # in a look, 'brushed' is a finish, not a kit
        words = name_words(text)
        stated["instruments"] += sorted({alias for sound in SOUNDS for alias in sound.names if alias_matches(alias, words)})
        stated["genre"] += [word for word in _GENRE_WORDS if _contains(text, word)]

    names = [entry["name"] for entry in summary.get("colours", [])]
    stated["colours"], text = _found_whole(text, names)
    for kind, terms in _FASHION_KINDS.items():  # before the colours: linen is a fabric here, not a CSS colour
        stated[kind], text = _found_whole(text, terms)
    known = {*COLOUR_WORDS, *(name.lower() for name, _ in CSS_COLORS), *(name.lower() for name in colour_names)}
    others, text = _found_whole(text, known - {name.lower() for name in names})  # "Monsoon Indigo" once, not "Indigo" too
    stated["colours"] += others
    return stated


def untrue_facts(description: str, summary: dict[str, Any], *, colour_names: Iterable[str] = ()) -> list[str]:
    """What the description states that the summary does not say: empty when every fact is true."""
    stated = facts_stated(description, summary, colour_names=colour_names)
    title = summary.get("title") or summary.get("name")
    printed = _print_facts(summary)
    fabric = summary.get("fabric") or {}
    expected: dict[str, Callable[[Any], bool]] = {
        "title": lambda value: value == title,
        "key": lambda value: value.lower() == str(summary.get("key", "")).lower(),
        "bpm": lambda value: summary.get("bpm") is not None and abs(value - summary["bpm"]) < 0.5,
        "duration_s": lambda value: summary.get("duration_s") is not None and abs(value - summary["duration_s"]) <= 1,
        "instruments": lambda value: value.lower() in {name.lower() for name in summary.get("instruments", [])},
        "genre": lambda value: value.lower() == str(summary.get("genre", "")).lower(),
        "colours": lambda value: value.lower() in {entry["name"].lower() for entry in summary.get("colours", [])},
        "garment": lambda value: value == summary.get("garment"),
        "silhouette": lambda value: value == summary.get("silhouette"),
        "fabric": lambda value: value == fabric.get("type"),
        "finish": lambda value: value == fabric.get("finish"),
        "print_type": lambda value: value == printed.get("type"),
        "repeat": lambda value: value == printed.get("repeat"),
    }
    return [f"{kind}: {value!r} is not what the summary says" for kind, values in stated.items() for value in values if not expected[kind](value)]


def _print_facts(summary: dict[str, Any]) -> dict[str, Any]:
    if summary.get("kind") == "print":
        return {"type": summary.get("print_type"), "repeat": summary.get("repeat"), "drawn": summary.get("drawn")}
    return summary.get("print") or {}


def _pattern(phrase: str) -> re.Pattern[str]:
    """The phrase as whole words, case-insensitive, a hyphen or a space between its parts."""
    parts = [re.escape(part) for part in re.split(r"[\s-]+", phrase.strip()) if part]
    return re.compile(r"(?<![\w-])" + r"[\s-]+".join(parts) + r"(?![\w-])", re.IGNORECASE)


def _contains(text: str, phrase: str) -> bool:
    return bool(phrase.strip()) and _pattern(phrase).search(text) is not None


def _masked(text: str, phrase: str | None) -> str:
    return _pattern(phrase).sub(" § ", text) if phrase and phrase.strip() else text


def _found_whole(text: str, phrases: Iterable[str]) -> tuple[list[str], str]:
    """Which of `phrases` the text says (longest first), and the text with them taken out."""
    found = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        if _contains(text, phrase):
            found.append(phrase)
            text = _masked(text, phrase)
    return found, text


# --- files --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _building(out_dir: Path) -> Iterator[Path]:
    """A hidden folder inside out_dir to make the files in; removed whatever happens, so only
    what `_publish` moved out of it stays."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".making-", dir=out_dir))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish(work: Path, out_dir: Path, names: Sequence[str]) -> list[Path]:
    """Move the finished files into out_dir, all or none; a name already there is refused."""
    out_dir = Path(out_dir)
    taken = [name for name in names if (out_dir / name).exists()]
    if taken:
        raise FileExistsError(f"{out_dir} already holds {', '.join(taken)}; give each creation a fresh folder")
    moved: list[Path] = []
    try:
        for name in names:
            os.rename(work / name, out_dir / name)
            moved.append(out_dir / name)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    return moved


def _safe_stem(title: str, default: str) -> str:
    """A file name any store accepts (ASCII letters, digits, '-'): 'Bori's Rainy Commute' -> 'bori-s-rainy-commute'."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].strip("-")
    return stem or default
