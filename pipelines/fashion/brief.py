"""A designer's brief into many candidate DesignSpecs, on-brand and varied.

Designers give a few words ("flowers on Venus", "rainy Seoul night, hopeful") and want dozens
to thousands of candidates to curate. The procedural designer maps the brief's keywords and
the persona's fashion DNA onto the spec vocabulary with a seeded random generator: candidate
``i`` depends only on the brief, its seed and ``i``, so asking for more never reshuffles the
ones already seen. A dialogue backend that can answer under a JSON schema drafts candidates
too (llm_designer.py); what it gets wrong is dropped and the procedural designer fills the gap.
What fits each garment is in garments.py, the words the spec may use in vocabulary.py.

    brief = DesignBrief(text="flowers on Venus", n=300, seed=7)
    specs = ProceduralDesigner(card.fashion, card.visual).design(brief)
    specs = await design_candidates(brief, card.fashion, card.visual, backend)  # in llm_designer.py
"""

from __future__ import annotations

import difflib
import hashlib
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.garments import (
    AIRY_FABRICS,
    CLOSURES_BY_CATEGORY,
    FABRICS_BY_CATEGORY,
    FINISHES_BY_FABRIC,
    LENGTHS_BY_CATEGORY,
    NECKLINES_BY_CATEGORY,
    POCKET_DETAILS,
    SILHOUETTES_BY_CATEGORY,
    SLEEVE_LENGTHS_BY_CATEGORY,
    SLEEVE_TYPES_BY_LENGTH,
    WARM_FABRICS,
    detail_fits,
    pocket_for,
)
from pipelines.fashion.palette import lightness
from pipelines.fashion.spec import Category, DesignSpec, Occasion, Season
from pipelines.style import FashionDNA, NamedColor, VisualIdentity

MAX_CANDIDATES = 5000

# --- the brief --------------------------------------------------------------------------------

STOPWORDS = frozenset(
    "a an and the of on in at by for with from to into onto over under like as is are be it its "
    "this that these those my our your her his their some very more less but or not no so".split()
)


class BriefConstraints(BaseModel):
    """What every candidate must keep to; anything left empty is the designer's to discover."""

    model_config = ConfigDict(extra="forbid")

    categories: list[Category] = Field(default=[], description="only these garments (empty: all)")
    season: Season | None = None
    occasion: Occasion | None = None


class DesignBrief(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=2000, description="the designer's words, e.g. 'flowers on Venus'")
    keywords: list[str] = Field(default=[], max_length=24, description="read from the text when not given")
    n: int = Field(default=24, ge=1, le=MAX_CANDIDATES, description="how many candidates")
    seed: int = Field(default=0, ge=0, lt=2**32)
    constraints: BriefConstraints = BriefConstraints()

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(word.split()) for word in value]
        for word in cleaned:
            if len(word) > 40:
                raise ValueError(f"keyword {word[:40]!r}... is too long: keep keywords under 40 characters")
        return _unique_case_insensitive(word for word in cleaned if word)

    @model_validator(mode="after")
    def _keywords_from_text(self) -> DesignBrief:
        if not self.keywords:
            self.keywords = parse_keywords(self.text)[:24]
        if not self.text.strip():
            self.text = " ".join(self.keywords)
        return self

    @classmethod
    def of(cls, brief: DesignBrief | str | Sequence[str], **fields: Any) -> DesignBrief:
        """A brief from text ("flowers on Venus") or keywords (["flower", "Venus"])."""
        if isinstance(brief, DesignBrief):
            return cls.model_validate({**brief.model_dump(), **fields}) if fields else brief
        if isinstance(brief, str):
            return cls(text=brief, **fields)
        return cls(keywords=list(brief), **fields)


def parse_keywords(text: str) -> list[str]:
    """'Flowers on Venus, hopeful!' -> ['Flowers', 'Venus', 'hopeful']: the words that carry meaning."""
    words = re.findall(r"[^\W\d_][\w'-]*", text)
    return _unique_case_insensitive(w.strip("'-") for w in words if w.lower() not in STOPWORDS and (len(w) > 1 or not w.isascii()))


def _unique_case_insensitive(words: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(word.lower(), word)
    return list(seen.values())


# --- reading words: themes ------------------------------------------------------------------

@dataclass(frozen=True)
class Cue:
    """What one idea in a brief pulls a design towards. ``tone`` leans the palette dark (-1)
    or light (+1); ``titles`` name designs; ``motifs`` describe its prints."""

    words: tuple[str, ...]
    titles: tuple[str, ...]
    pulls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # vocabulary kind -> values
    motifs: tuple[str, ...] = ()
    tone: float = 0.0


CUES: tuple[Cue, ...] = (
    Cue(("flower", "floral", "bloom", "blossom", "garden", "petal", "rose", "peony", "lily", "botanical", "spring", "orchid", "camellia",
         "magnolia", "tulip", "daisy", "lotus", "wisteria", "lilac", "poppy", "sunflower", "jasmine", "hydrangea", "chrysanthemum",
         "azalea", "꽃", "봄", "목련", "벚꽃"),
        ("Bloom", "Petal", "Garden", "Blossom"),
        {"print type": ("floral",), "fabric type": ("chiffon", "organza", "voile", "silk"),
         "silhouette": ("a-line", "fit-and-flare", "wrap", "empire"), "detail": ("ruffles", "gathers", "bow"), "season": ("spring-summer",)},
        ("scattered blossoms", "pressed petals", "climbing flowers", "a single open bloom"), 0.2),
    Cue(("venus", "planet", "star", "moon", "galaxy", "cosmic", "cosmos", "space", "orbit", "lunar", "celestial", "astral",
         "comet", "eclipse", "universe", "nebula", "mars", "saturn", "jupiter", "constellation", "금성", "달", "별", "우주"),
        ("Orbit", "Eclipse", "Starlight", "Comet"),
        {"print type": ("celestial",), "fabric finish": ("metallic", "iridescent", "sheen"), "fabric type": ("satin", "silk", "velvet", "organza"),
         "silhouette": ("column", "sheath", "mermaid", "cocoon"), "occasion": ("evening", "stage")},
        ("orbit lines and tiny stars", "a crescent moon", "planet rings", "constellation dots"), -0.2),
    Cue(("night", "midnight", "dark", "dusk", "noir", "shadow", "nocturne", "evening", "twilight", "밤", "새벽"),
        ("Midnight", "Nocturne", "Dusk"),
        {"occasion": ("evening",), "fabric finish": ("sheen",), "fabric type": ("velvet", "satin")},
        ("streetlight halos", "long shadows"), -0.7),
    Cue(("rain", "rainy", "monsoon", "jangma", "storm", "drizzle", "umbrella", "wet", "puddle", "shower", "rainfall", "비", "장마"),
        ("Monsoon", "Rain", "Drizzle", "Puddle"),
        {"category": ("trench", "cape", "parka"), "fabric finish": ("waxed", "coated"), "fabric type": ("cotton", "nylon", "canvas"),
         "print type": ("ripple",), "detail": ("hood", "drawcord-hem", "flap-pockets")},
        ("rain streaks on glass", "puddle rings", "raindrops on a skylight"), -0.3),
    Cue(("ocean", "sea", "wave", "ripple", "tide", "river", "water", "lake", "current", "shore", "coast", "mulgyeol", "물결", "바다", "파도"),
        ("Tide", "Ripple", "Current", "Shore"),
        {"print type": ("ripple",), "silhouette": ("wrap", "trapeze"), "fabric type": ("silk", "chiffon", "linen"),
         "fabric finish": ("iridescent", "sheen", "washed")},
        ("concentric ripples", "tide lines", "wave crests"), 0.0),
    Cue(("city", "street", "urban", "seoul", "concrete", "subway", "metro", "downtown", "neon", "skyline", "alley", "rooftop", "seongsu", "서울", "도시", "성수"),
        ("Seoul", "Street", "Concrete", "Crosswalk"),
        {"occasion": ("street",), "category": ("bomber", "jeans", "hoodie", "parka", "joggers", "jacket"),
         "print type": ("graphic", "geometric", "color-block"), "fabric type": ("denim", "canvas", "nylon"), "fabric finish": ("raw", "washed")},
        ("rooftop skylines", "crosswalk stripes", "hand-painted market signs without legible text"), -0.1),
    Cue(("hopeful", "hope", "bright", "sunny", "sun", "joy", "joyful", "light", "dawn", "morning", "optimistic", "happy", "radiant", "glow", "희망", "햇살"),
        ("Dawn", "Hope", "Glow", "Daybreak"), {"season": ("spring-summer",)}, ("first light through paper",), 0.7),
    Cue(("winter", "cold", "snow", "frost", "ice", "frozen", "blizzard"),
        ("Frost", "Snowfall", "Winter"),
        {"season": ("autumn-winter",), "fabric type": ("wool", "knit", "tweed", "faux-fur"), "fabric finish": ("boiled", "brushed"),
         "category": ("coat", "sweater", "turtleneck")},
        ("frost crystals", "snow on a window"), 0.1),
    Cue(("summer", "beach", "heat", "holiday", "vacation", "island", "tropical", "sunshine"),
        ("Summer", "Island", "Heatwave"),
        {"season": ("spring-summer", "resort"), "fabric type": ("linen", "cotton", "voile", "ramie"), "category": ("tank", "shorts", "kaftan", "dress")},
        ("sunlight on water",), 0.3),
    Cue(("autumn", "fall", "harvest", "persimmon", "leaf", "maple", "orchard"),
        ("Harvest", "Persimmon", "Maple"),
        {"season": ("autumn-winter", "pre-fall"), "fabric type": ("wool", "corduroy", "tweed"), "fabric finish": ("crinkled", "brushed")},
        ("persimmons drying on a string", "falling leaves"), 0.0),
    Cue(("paper", "hanji", "fold", "origami", "crease", "letter", "한지"),
        ("Hanji", "Fold", "Letter"),
        {"detail": ("pleats", "inverted-pleats"), "fabric finish": ("crinkled",), "silhouette": ("boxy", "trapeze"), "print type": ("geometric",)},
        ("folded hanji paper", "creased paper planes"), 0.2),
    Cue(("hanbok", "goreum", "tradition", "traditional", "heritage", "korea", "korean", "joseon", "한복", "고름"),
        ("Goreum", "Heritage"),
        {"closure": ("wrap-tie",), "detail": ("ties",), "category": ("kimono-jacket", "skirt"), "silhouette": ("wrap", "a-line", "empire")},
        ("celadon crackle glaze",), 0.0),
    Cue(("office", "work", "tailored", "tailoring", "suit", "business", "minimal", "minimalism", "clean", "modernism", "quiet"),
        ("Atelier", "Studio", "Quiet"),
        {"occasion": ("work",), "category": ("blazer", "trousers", "shirt", "coat"), "silhouette": ("straight", "slim", "column"),
         "detail": ("darts", "welt-pockets"), "print type": ("solid",)},
        (), 0.0),
    Cue(("party", "gala", "ceremony", "wedding", "celebration", "glamour", "ball", "festive"),
        ("Gala", "Soiree", "Toast"),
        {"occasion": ("evening", "ceremony"), "fabric type": ("satin", "velvet", "tulle", "silk"), "silhouette": ("ball-gown", "mermaid", "sheath")},
        (), 0.0),
    Cue(("stage", "concert", "music", "song", "performance", "show", "sound", "melody"),
        ("Encore", "Stage", "Refrain"), {"occasion": ("stage",), "fabric finish": ("metallic", "sheen")}, ("sound waves",), 0.0),
    Cue(("sport", "sporty", "active", "athletic", "run", "gym", "training", "yoga"),
        ("Sprint", "Motion"),
        {"occasion": ("athleisure",), "fabric type": ("jersey", "nylon"), "category": ("joggers", "leggings", "hoodie", "bomber")}, (), 0.1),
    Cue(("mend", "mending", "patch", "handmade", "craft", "handwork", "stitch", "sew", "sewing", "thread", "imperfect", "tactile"),
        ("Mended", "Handmade", "Stitch"),
        {"detail": ("patchwork", "hand-stitching", "topstitching", "raw-hem"), "fabric finish": ("raw", "washed")},
        ("visible running stitches",), 0.0),
    Cue(("forest", "tree", "moss", "mountain", "earth", "stone", "wood", "soil"),
        ("Moss", "Forest", "Stone"),
        {"print type": ("abstract",), "fabric type": ("linen", "wool", "ramie")}, ("bark and moss textures",), -0.2),
    Cue(("glass", "ceramic", "celadon", "crackle", "porcelain", "glaze", "pottery"),
        ("Glaze", "Crackle", "Celadon"), {"print type": ("abstract",), "fabric finish": ("sheen",)}, ("celadon crackle glaze",), 0.1),
    Cue(("market", "food", "lantern", "festival", "tteokbokki", "warmth", "warm"),
        ("Lantern", "Market"),
        {"print type": ("graphic",), "fabric finish": ("boiled",), "fabric type": ("wool",)},
        ("hand-painted market signs without legible text", "paper lanterns"), 0.1),
    Cue(("dream", "cloud", "soft", "gentle", "calm", "whisper", "mist", "fog"),
        ("Cloud", "Hush", "Mist"),
        {"fabric type": ("chiffon", "organza", "tulle"), "fabric finish": ("matte",), "silhouette": ("cocoon", "trapeze")},
        ("drifting clouds",), 0.4),
)
_CUE_BY_WORD: dict[str, Cue] = {word: cue for cue in CUES for word in cue.words}


def cue_for(word: str) -> Cue | None:
    word = word.lower()
    return _CUE_BY_WORD.get(word) or _CUE_BY_WORD.get(vocab.singular(word))


# --- reading words: garments -----------------------------------------------------------------
# Free text such as "cocoon coat with dropped shoulders" or "washed linen" becomes vocabulary:
# phrases the vocabulary has no word for first, then the words it has, then near misses.

_PHRASES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (r"drop(?:ped)?[\s-]shoulders?", (("sleeve type", "drop-shoulder"),)),
    (r"baerae|curved sleeves?", (("sleeve type", "bishop"),)),  # hanbok's curved sleeve: full, narrowing at the cuff
    (r"running[\s-]stitch\w*|hand[\s-]?stitch\w*|visible stitch\w*|sashiko", (("detail", "hand-stitching"),)),
    (r"goreum\w*", (("detail", "ties"), ("closure", "wrap-tie"))),
    (r"inverted[\s-]pleats?", (("detail", "inverted-pleats"),)),
    (r"pleat(?:ed|s)?", (("detail", "pleats"),)),
    (r"(?:walking |side )?slits?", (("detail", "side-slit"),)),
    (r"raw (?:selvedge )?edges?|selvedges?", (("detail", "raw-hem"),)),
    (r"mending|patch(?:es)?", (("detail", "patchwork"),)),
    (r"inside pockets?", (("detail", "welt-pockets"),)),
    (r"ties\b|tied\b", (("detail", "ties"),)),
    (r"nubi", (("detail", "quilting"),)),
    (r"mosi", (("fabric type", "ramie"),)),
    (r"maxi", (("length", "floor"),)),
    (r"\blong\b", (("length", "long"),)),  # the longer lengths of whatever garment it turns out to be
)
_PHRASE_PATTERNS = tuple((re.compile(rf"\b(?:{pattern})", re.IGNORECASE), found) for pattern, found in _PHRASES)
_READ_KINDS = ("category", "silhouette", "length", "sleeve type", "detail", "closure", "fabric type", "fabric finish", "print type", "neckline")
# A word two kinds share ("oversized", "wrap") goes to the kind listed first.
_TERM_KIND: dict[str, str] = {
    term: kind for kind in reversed(_READ_KINDS) for term in vocab.VOCABULARY[kind] if term != "none"
}

@dataclass
class GarmentWords:
    """The vocabulary a piece of free text names, kind -> values in the order they appear."""

    found: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, value: str) -> None:
        values = self.found.setdefault(kind, [])
        if value not in values:
            values.append(value)

    def first(self, kind: str) -> str | None:
        values = self.found.get(kind)
        return values[0] if values else None

    def last(self, kind: str) -> str | None:
        values = self.found.get(kind)
        return values[-1] if values else None


def read_garment_words(text: str) -> GarmentWords:
    """'cocoon coat with dropped shoulders' -> category coat, silhouette cocoon, sleeve type drop-shoulder."""
    words = GarmentWords()
    remaining = text.lower().replace("(", " ").replace(")", " ")
    for pattern, found in _PHRASE_PATTERNS:
        if pattern.search(remaining):
            for kind, value in found:
                words.add(kind, value)
            remaining = pattern.sub(" ", remaining)
    tokens = re.findall(r"[a-z]+(?:-[a-z]+)*", remaining)
    # "ramie-and-hanji yarn knit": the parts of a hyphenated word too, in reading order
    pieces = [piece for token in tokens for piece in ([token, *token.split("-")] if "-" in token else [token])]
    for first, second in zip(tokens, tokens[1:]):
        pair = vocab.normalize(f"{first} {second}")
        if pair in _TERM_KIND:
            words.add(_TERM_KIND[pair], pair)
    for token in pieces:
        term = _term_for_word(token)
        if term is not None:
            words.add(*term)
    return words


def _term_for_word(word: str) -> tuple[str, str] | None:
    for candidate in (word, vocab.singular(word)):
        if candidate in _TERM_KIND:
            return _TERM_KIND[candidate], candidate
        if candidate in vocab.DESCRIPTION_SYNONYMS:
            return vocab.SYNONYMS[candidate]
    if len(word) >= 5:  # a near miss ("organsa") but not a short word that merely looks alike
        close = difflib.get_close_matches(word, _TERM_KIND, n=1, cutoff=0.85)
        if close:
            return _TERM_KIND[close[0]], close[0]
    return None


# --- leanings: how strongly each source pulls each value ----------------------------------------

Leaning = dict[str, dict[str, float]]  # vocabulary kind -> value -> pull


def _lean(leaning: Leaning, kind: str, values: Iterable[str], pull: float) -> None:
    into = leaning.setdefault(kind, {})
    for value in values:
        into[value] = into.get(value, 0.0) + pull


def _merged(*weighted: tuple[Leaning, float]) -> Leaning:
    total: Leaning = {}
    for leaning, scale in weighted:
        for kind, pulls in leaning.items():
            into = total.setdefault(kind, {})
            for value, pull in pulls.items():
                into[value] = into.get(value, 0.0) + pull * scale
    return total


def _cue_leaning(cue: Cue) -> Leaning:
    leaning: Leaning = {}
    for kind, values in cue.pulls.items():
        _lean(leaning, kind, values, 1.0)
    return leaning


def _words_leaning(words: GarmentWords) -> Leaning:
    leaning: Leaning = {}
    for kind, values in words.found.items():
        _lean(leaning, kind, values, 1.0)
    return leaning


@dataclass(frozen=True)
class GarmentHint:
    """One of the persona's signature garments, kept whole: a cocoon coat with dropped shoulders."""

    text: str
    category: str
    fields: Mapping[str, str]
    details: tuple[str, ...]
    long: bool


@dataclass(frozen=True)
class FabricHint:
    """A fabric with its finish, kept together: washed linen, boiled wool."""

    text: str
    type: str
    finish: str | None


@dataclass(frozen=True)
class MotifHint:
    text: str
    print_type: str | None


@dataclass(frozen=True)
class PersonaStyle:
    """The persona's fashion DNA and visual identity, read into vocabulary once."""

    garments: tuple[GarmentHint, ...]
    fabrics: tuple[FabricHint, ...]
    details: tuple[str, ...]
    closures: tuple[str, ...]
    motifs: tuple[MotifHint, ...]
    leaning: Leaning
    palette: tuple[NamedColor, ...]
    palette_lightness: tuple[float, ...]

    @classmethod
    def read(cls, fashion: FashionDNA, visual: VisualIdentity) -> PersonaStyle:
        leaning: Leaning = {}
        garments = _read_garments(fashion.silhouettes, leaning)
        fabrics = _read_fabrics(fashion.fabrics, leaning)
        details, closures = _read_details(fashion.signature_details, leaning)
        motifs = tuple(MotifHint(text, _print_type_of(text)) for text in visual.motifs)
        _lean(leaning, "print type", [m.print_type for m in motifs if m.print_type], 0.6)
        leaning = _merged((leaning, 1.0), (_mood_leaning(visual.aesthetic), 0.5))
        return cls(garments, fabrics, details, closures, motifs, leaning,
                   tuple(visual.palette), tuple(lightness(color.hex) for color in visual.palette))


def _read_garments(silhouettes: list[str], leaning: Leaning) -> tuple[GarmentHint, ...]:
    """'cocoon coat with dropped shoulders' is kept whole; a phrase without a garment
    ('curved baerae sleeve') only leans the fields it names."""
    garments = []
    for text in silhouettes:
        words = read_garment_words(text)
        for kind in ("category", "silhouette", "sleeve type", "detail", "closure"):
            _lean(leaning, kind, words.found.get(kind, []), 1.0)
        category = words.first("category")
        if category is None:
            continue
        fields = {kind: words.first(kind) for kind in ("silhouette", "sleeve type", "closure") if words.first(kind)}
        lengths = words.found.get("length", [])
        fields.update({"length": length for length in lengths[:1] if length != "long"})
        garments.append(GarmentHint(text, category, fields, tuple(words.found.get("detail", [])), "long" in lengths))
    return tuple(garments)


def _read_fabrics(texts: list[str], leaning: Leaning) -> tuple[FabricHint, ...]:
    fabrics = []
    for text in texts:
        words = read_garment_words(text)
        fabric = words.last("fabric type")  # the head noun: "silk organza" is organza
        if fabric is not None:
            finish = words.first("fabric finish")
            fabrics.append(FabricHint(text, fabric, finish if finish in FINISHES_BY_FABRIC[fabric] else None))
            _lean(leaning, "fabric type", [fabric], 1.0)
        _lean(leaning, "detail", words.found.get("detail", []), 1.0)
    return tuple(fabrics)


def _read_details(texts: list[str], leaning: Leaning) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Signature details as details and closures: 'goreum-inspired ties' gives ties and wrap-tie."""
    details: list[str] = []
    closures: list[str] = []
    for text in texts:
        words = read_garment_words(text)
        details += [d for d in words.found.get("detail", []) if d not in details]
        closures += [c for c in words.found.get("closure", []) if c not in closures]
        _lean(leaning, "print type", words.found.get("print type", []), 0.5)
    return tuple(details), tuple(closures)


def _mood_leaning(aesthetic: list[str]) -> Leaning:
    """The aesthetic is a mood: it leans fabrics, finishes and shapes, not what the garment is or shows."""
    leaning: Leaning = {}
    for text in aesthetic:
        for word in parse_keywords(text):
            cue = cue_for(word)
            if cue is not None:
                mood = {kind: pulls for kind, pulls in _cue_leaning(cue).items() if kind not in ("category", "print type")}
                leaning = _merged((leaning, 1.0), (mood, 1.0))
    return leaning


def _print_type_of(text: str) -> str | None:
    """'concentric ripples' -> ripple; 'moon over Seongsu rooftops' -> celestial."""
    found = read_garment_words(text).first("print type")
    if found is not None:
        return found
    for word in parse_keywords(text):
        cue = cue_for(word)
        if cue is not None and cue.pulls.get("print type"):
            return cue.pulls["print type"][0]
    return None


# --- the procedural designer ----------------------------------------------------------------

BRIEF_FOCUS_PULL = 8.0  # the ideas a candidate is about
BRIEF_OTHER_PULL = 2.0  # the brief's other ideas, still in the air
BRIEF_WORD_PULL = 6.0  # vocabulary the designer named outright ("linen", "cape")
PERSONA_PULL = 1.5
PERSONA_GARMENT_CHANCE = 0.35  # how often a candidate starts from one of her signature garments
PARTS = ("upper", "lower", "outer", "full")
_PARTS_OF = {"upper": vocab.UPPER, "lower": vocab.LOWER, "outer": vocab.OUTER, "full": vocab.FULL_BODY}

# Base weights: how often a value turns up when nothing pulls towards it.
_BASE = {
    "fit": {"regular": 3.0, "relaxed": 2.0, "slim": 1.0, "oversized": 1.0},
    "season": {"all-season": 2.0, "spring-summer": 1.0, "autumn-winter": 1.0, "pre-fall": 0.4, "resort": 0.3},
    "occasion": {"everyday": 2.0, "work": 0.8, "street": 0.8, "evening": 0.5, "resort": 0.2, "ceremony": 0.2, "stage": 0.3, "athleisure": 0.3},
    "print type": {"solid": 1.5},
    "print scale": {"small": 1.0, "medium": 1.5, "large": 1.0},
}
_BASE_DEFAULT = {"print type": 0.2, "fabric finish": 0.5, "detail": 0.3}
_NAMED_SILHOUETTES = frozenset(vocab.SILHOUETTES) - {"straight", "ball-gown"}
_REPEAT_FOR_PRINT = {"floral": "half-drop", "celestial": "half-drop", "stripes": "block", "checks": "block",
                     "geometric": "mirror", "polka-dot": "brick", "ripple": "half-drop", "animal": "half-drop", "paisley": "mirror"}


def candidate_seed(brief_seed: int, index: int) -> int:
    """The seed of candidate ``index``: independent of how many candidates were asked for."""
    digest = hashlib.blake2b(f"{brief_seed}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def slug(words: Sequence[str], limit: int = 40) -> str:
    """The first two keywords that can be spelled in an id: 'flower-venus'; 'design' when none can."""
    ascii_words = [re.sub(r"[^a-z0-9]+", "-", vocab.singular(word)).strip("-") for word in words]
    text = "-".join([word for word in ascii_words if word][:2])[:limit].strip("-")
    return text or "design"


def title_word(text: str) -> str:
    """'a-line' -> 'A-Line', 'kimono-jacket' -> 'Kimono Jacket', 'fit-and-flare' -> 'Fit-and-Flare'."""
    if text == "kimono-jacket":
        return "Kimono Jacket"
    return "-".join(part if part == "and" else part[:1].upper() + part[1:] for part in text.split("-"))


@dataclass(frozen=True)
class Idea:
    """One brief keyword that a theme recognised."""

    keyword: str
    cue: Cue
    leaning: Leaning


@dataclass(frozen=True)
class BriefPlan:
    """Everything about a brief that is the same for every candidate, worked out once."""

    brief: DesignBrief
    ideas: tuple[Idea, ...]
    unmatched: tuple[str, ...]
    named: Leaning  # vocabulary the brief names outright
    colour_words: frozenset[str]
    parts: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]  # part -> categories the constraints allow
    slug: str


class ProceduralDesigner:
    """Seeded, deterministic candidates from the brief's words and the persona's DNA."""

    name = "procedural"

    def __init__(self, fashion: FashionDNA, visual: VisualIdentity):
        self.style = PersonaStyle.read(fashion, visual)

    def design(self, brief: DesignBrief | str | Sequence[str]) -> list[DesignSpec]:
        plan = self.plan(DesignBrief.of(brief))
        return [self.compose(plan, index) for index in range(plan.brief.n)]

    def candidate(self, brief: DesignBrief | str | Sequence[str], index: int) -> DesignSpec:
        """Candidate ``index`` alone: the same spec ``design`` returns at that position."""
        return self.compose(self.plan(DesignBrief.of(brief)), index)

    def plan(self, brief: DesignBrief) -> BriefPlan:
        ideas, unmatched = [], []
        named = GarmentWords()
        for keyword in brief.keywords:
            cue = cue_for(keyword)
            if cue is not None:
                ideas.append(Idea(keyword, cue, _cue_leaning(cue)))
            words = read_garment_words(keyword)
            for kind, values in words.found.items():
                for value in values:
                    if value != "long":
                        named.add(kind, value)
            if cue is None and not words.found:
                unmatched.append(keyword)
        allowed = set(brief.constraints.categories) or set(vocab.CATEGORIES)
        categories = {part: tuple(c for c in _PARTS_OF[part] if c in allowed) for part in PARTS}
        colour_words = frozenset(vocab.singular(word) for keyword in brief.keywords for word in keyword.split())
        return BriefPlan(brief, tuple(ideas), tuple(unmatched), _words_leaning(named), colour_words,
                         tuple(part for part in PARTS if categories[part]), categories, slug(brief.keywords))

    # One candidate, field by field; each choice sees the ones before it.
    def compose(self, plan: BriefPlan, index: int) -> DesignSpec:
        seed = candidate_seed(plan.brief.seed, index)
        rng = random.Random(seed)
        focus = self._focus(rng, plan)
        leaning = _merged(
            *((idea.leaning, BRIEF_FOCUS_PULL if idea in focus else BRIEF_OTHER_PULL) for idea in plan.ideas),
            (plan.named, BRIEF_WORD_PULL),
            (self.style.leaning, PERSONA_PULL),
        )
        part = plan.parts[(index + plan.brief.seed) % len(plan.parts)]  # every body part in turn
        garment = self._signature_garment(rng, plan, part)
        category = garment.category if garment else _pick(rng, plan.categories[part], leaning, "category", 1.0)
        hint = dict(garment.fields) if garment else {}

        constraints = plan.brief.constraints
        season = constraints.season or _pick(rng, vocab.SEASONS, leaning, "season")
        occasion = constraints.occasion or _pick(rng, vocab.OCCASIONS, leaning, "occasion")
        silhouette = _hinted(hint, "silhouette", SILHOUETTES_BY_CATEGORY[category]) or _pick(rng, SILHOUETTES_BY_CATEGORY[category], leaning, "silhouette", 1.0)
        length = _hinted(hint, "length", LENGTHS_BY_CATEGORY[category]) or self._length(rng, category, leaning, garment)
        neckline = self._neckline(rng, category, silhouette, leaning)
        sleeve = self._sleeve(rng, category, neckline, season, leaning, hint)
        fabric = self._fabric(rng, category, season, leaning)
        details = self._details(rng, category, sleeve["length"] == "sleeveless", leaning, garment)
        closure = self._closure(rng, category, silhouette, details, leaning, hint)
        print_ = self._print(rng, plan, focus, leaning)
        palette = self._palette(rng, plan, focus)
        concept = [idea.keyword for idea in focus] + [word for word in plan.unmatched if print_["motif"]]
        data = {
            "id": f"{plan.slug}-{index + 1:04d}",
            "name": self._name(rng, plan, focus, category, silhouette, palette),
            "category": category,
            "silhouette": silhouette,
            "fit": self._fit(rng, silhouette, leaning),
            "length": length,
            "neckline": neckline,
            "sleeve": sleeve,
            "closure": closure,
            "details": details,
            "fabric": fabric,
            "print": print_,
            "palette": palette,
            "layers": self._layers(rng, part, leaning),
            "concept": concept[:12],
            "season": season,
            "occasion": occasion,
            "provenance": {"backend": "procedural", "seed": seed},
        }
        return DesignSpec.model_validate(data)

    def _focus(self, rng: random.Random, plan: BriefPlan) -> tuple[Idea, ...]:
        """The brief ideas this candidate is mostly about: some lean on 'flower', some on 'Venus'."""
        if not plan.ideas:
            return ()
        chosen = tuple(idea for idea in plan.ideas if rng.random() < 0.6)
        return chosen or (rng.choice(plan.ideas),)

    def _signature_garment(self, rng: random.Random, plan: BriefPlan, part: str) -> GarmentHint | None:
        fitting = [g for g in self.style.garments if g.category in plan.categories[part]]
        if fitting and rng.random() < PERSONA_GARMENT_CHANCE:
            return rng.choice(fitting)
        return None

    def _length(self, rng: random.Random, category: str, leaning: Leaning, garment: GarmentHint | None) -> str:
        lengths = LENGTHS_BY_CATEGORY[category]
        if garment is not None and garment.long:
            return rng.choice(lengths[-2:])
        return _pick(rng, lengths, leaning, "length", 1.0)

    def _neckline(self, rng: random.Random, category: str, silhouette: str, leaning: Leaning) -> str:
        necklines = NECKLINES_BY_CATEGORY[category]
        if silhouette == "wrap" and "wrap" in necklines:
            return "wrap"
        return _pick(rng, necklines, leaning, "neckline", 1.0)

    def _sleeve(self, rng: random.Random, category: str, neckline: str, season: str, leaning: Leaning, hint: Mapping[str, str]) -> dict[str, str]:
        lengths = SLEEVE_LENGTHS_BY_CATEGORY[category]
        if neckline == "halter" or len(lengths) == 1:
            length = "sleeveless" if neckline == "halter" else lengths[0]
        else:
            warm = season in ("spring-summer", "resort")

            def seasonal(value: str) -> float:
                bare = value in ("sleeveless", "cap", "short")
                return (2.0 if bare else 1.0) if warm else (0.5 if bare else 2.0)

            length = rng.choices(lengths, [seasonal(value) for value in lengths])[0]
        types = SLEEVE_TYPES_BY_LENGTH[length]
        hinted = hint.get("sleeve type")
        sleeve_type = hinted if hinted in types else _pick(rng, types, leaning, "sleeve type", {"set-in": 3.0})
        return {"length": length, "type": sleeve_type}

    def _fabric(self, rng: random.Random, category: str, season: str, leaning: Leaning) -> dict[str, str]:
        fabrics = FABRICS_BY_CATEGORY[category]
        cold = season in ("autumn-winter", "pre-fall")
        warm = season in ("spring-summer", "resort")

        def seasonal(fabric: str) -> float:
            if cold:
                return 2.0 if fabric in WARM_FABRICS else 0.4 if fabric in ("voile", "chiffon", "linen") else 1.0
            if warm:
                return 2.0 if fabric in AIRY_FABRICS else 0.2 if fabric in WARM_FABRICS else 1.0
            return 1.0

        signature = [hint for hint in self.style.fabrics if hint.type in fabrics and seasonal(hint.type) >= 1.0]
        if signature and rng.random() < 0.4:  # her own fabrics, finish and all
            hint = rng.choice(signature)
            return {"type": hint.type, "finish": hint.finish or _pick(rng, FINISHES_BY_FABRIC[hint.type], leaning, "fabric finish", {"matte": 2.0})}

        fabric = _pick(rng, fabrics, leaning, "fabric type", 0.5, factor=seasonal)
        finish = _pick(rng, FINISHES_BY_FABRIC[fabric], leaning, "fabric finish", {"matte": 2.0, "sheen": 0.8})
        return {"type": fabric, "finish": finish}

    def _details(self, rng: random.Random, category: str, sleeveless: bool, leaning: Leaning, garment: GarmentHint | None) -> list[str]:
        fitting = [d for d in vocab.DETAILS if detail_fits(d, category, sleeveless)]
        details = [d for d in (garment.details if garment else ()) if d in fitting]
        signature = [d for d in self.style.details if d in fitting]
        details += rng.sample(signature, min(len(signature), rng.choice((0, 1, 1, 2))))
        if rng.random() < 0.6:
            details.append(_pick(rng, fitting, leaning, "detail"))
        if rng.random() < 0.3 and not any(d in POCKET_DETAILS for d in details) and detail_fits(pocket_for(category), category):
            details.append(pocket_for(category))
        return list(dict.fromkeys(details))[:4]  # quiet at a distance: a few details, not all of them

    def _closure(self, rng: random.Random, category: str, silhouette: str, details: list[str], leaning: Leaning, hint: Mapping[str, str]) -> str:
        closures = CLOSURES_BY_CATEGORY[category]
        wanted = [hint.get("closure")] + (["wrap-tie"] if silhouette == "wrap" or "ties" in details else [])
        wanted += [c for c in self.style.closures if rng.random() < 0.3]
        for closure in wanted:
            if closure in closures:
                return closure
        return _pick(rng, closures, leaning, "closure", 1.0)

    def _fit(self, rng: random.Random, silhouette: str, leaning: Leaning) -> str:
        if silhouette == "oversized":
            return "oversized"
        if silhouette in ("cocoon", "boxy", "tent", "trapeze", "balloon"):
            return rng.choice(("relaxed", "oversized"))
        if silhouette in ("slim", "sheath", "mermaid"):
            return "slim"
        return _pick(rng, vocab.FITS, leaning, "fit")

    def _print(self, rng: random.Random, plan: BriefPlan, focus: Sequence[Idea], leaning: Leaning) -> dict[str, str]:
        print_type = _pick(rng, vocab.PRINT_TYPES, leaning, "print type")
        if print_type == "solid":
            return {"type": "solid", "motif": "", "scale": "medium", "repeat": "block"}
        usual_repeat = _REPEAT_FOR_PRINT.get(print_type)
        return {
            "type": print_type,
            "motif": self._motif(rng, plan, focus, print_type),
            "scale": _pick(rng, vocab.PRINT_SCALES, leaning, "print scale"),
            "repeat": usual_repeat if usual_repeat and rng.random() < 0.7 else rng.choice(vocab.PRINT_REPEATS),
        }

    def _motif(self, rng: random.Random, plan: BriefPlan, focus: Sequence[Idea], print_type: str) -> str:
        """The brief's own words first, then an image from the theme or from her motifs."""
        head = plan.brief.text.strip()
        if len(head) > 60 or not head:
            head = " and ".join(plan.brief.keywords[:4])
        images = [motif for idea in focus for motif in idea.cue.motifs]
        hers = [m.text for m in self.style.motifs if m.print_type == print_type]
        if hers and (rng.random() < 0.5 or not images):
            images = hers
        elif not images:
            images = [m.text for m in self.style.motifs] or [print_type]
        tail = rng.choice(images)
        return (f"{head}: {tail}" if head else tail)[:120]

    def _palette(self, rng: random.Random, plan: BriefPlan, focus: Sequence[Idea]) -> list[dict[str, Any]]:
        """2-4 of her colours; the brief's mood leans them dark or light, named colours come first."""
        colours, lightnesses = self.style.palette, self.style.palette_lightness
        tone = max(-1.0, min(1.0, sum(i.cue.tone for i in focus) + 0.5 * sum(i.cue.tone for i in plan.ideas if i not in focus)))
        weights = []
        for colour, light in zip(colours, lightnesses):
            weight = math.exp(2.2 * tone * (light - 55) / 45)
            if plan.colour_words & {vocab.singular(word) for word in colour.name.split()}:
                weight *= 6.0
            weights.append(weight)
        count = min(len(colours), rng.choices((2, 3, 4), (3, 4, 2))[0])
        chosen = _weighted_sample(rng, range(len(colours)), weights, count)
        shares = _shares(rng, count)
        return [{"hex": colours[i].hex, "name": colours[i].name, "share": share} for i, share in zip(chosen, shares)]

    def _layers(self, rng: random.Random, part: str, leaning: Leaning) -> dict[str, str | None]:
        """What it is worn with in a look."""
        layers: dict[str, str | None] = {}
        wanted = {"upper": ("lower",), "lower": ("upper",), "outer": ("upper", "lower"), "full": ("outer",)}[part]
        for layer in wanted:
            if rng.random() < (0.3 if layer == "outer" else 0.7):
                layers[layer] = _pick(rng, _PARTS_OF[layer], leaning, "category", 1.0)
        return layers

    def _name(self, rng: random.Random, plan: BriefPlan, focus: Sequence[Idea], category: str, silhouette: str, palette: list[dict[str, Any]]) -> str:
        """'Venus Bloom Wrap Dress': words from the brief, then the garment."""
        words: list[str] = []
        for idea in focus:
            keyword = vocab.singular(idea.keyword) if re.fullmatch(r"[A-Za-z]{2,14}", idea.keyword) else ""
            options = ((keyword[:1].upper() + keyword[1:],) if keyword else ()) + idea.cue.titles
            word = rng.choice(options)
            if word not in words:
                words.append(word)
        rng.shuffle(words)
        words = words[:2]
        colour = palette[0]["name"]
        if not words or (rng.random() < 0.15 and not set(colour.split()) & set(words)):
            words = words[:1] + [colour]
        garment = title_word(category)
        if silhouette in _NAMED_SILHOUETTES and rng.random() < 0.6 and silhouette != category:
            garment = f"{title_word(silhouette)} {garment}"
        return " ".join(words + [garment])[:80]


def _hinted(hint: Mapping[str, str], kind: str, allowed: Sequence[str]) -> str | None:
    value = hint.get(kind)
    return value if value in allowed else None


def _pick(rng: random.Random, allowed: Sequence[str], leaning: Leaning, kind: str,
          base: float | Mapping[str, float] | None = None, factor: Callable[[str], float] | None = None) -> str:
    """One value of ``allowed``, weighted by its base weight plus every pull towards it
    (times ``factor``, e.g. how well a fabric suits the season)."""
    if base is None:
        base = _BASE.get(kind, _BASE_DEFAULT.get(kind, 1.0))
    if not isinstance(base, Mapping):
        base = dict.fromkeys(allowed, base)
    otherwise = _BASE_DEFAULT.get(kind, 0.3)
    pulls = leaning.get(kind, {})
    weights = [(base.get(value, otherwise) + pulls.get(value, 0.0)) * (factor(value) if factor else 1.0) for value in allowed]
    return rng.choices(allowed, weights)[0]


def _weighted_sample(rng: random.Random, items: Iterable[int], weights: Sequence[float], count: int) -> list[int]:
    pool, pool_weights, chosen = list(items), list(weights), []
    for _ in range(count):
        i = rng.choices(range(len(pool)), pool_weights)[0]
        chosen.append(pool.pop(i))
        pool_weights.pop(i)
    return chosen


def _shares(rng: random.Random, count: int) -> list[float]:
    """A main colour of 45-70 %, the rest split unevenly; two decimals that add up to exactly 1."""
    if count == 1:
        return [1.0]
    main = round(rng.uniform(0.45, 0.7), 2)
    rest = [rng.uniform(1.0, 2.0) for _ in range(count - 1)]
    rest = sorted((round((1 - main) * r / sum(rest), 2) for r in rest), reverse=True)
    rest[-1] = round(1 - main - sum(rest[:-1]), 2)
    return [main, *rest]
