"""A designer's brief into many candidate DesignSpecs, on-brand and varied.

Designers give a few words ("flowers on Venus", "rainy Seoul night, hopeful") and want dozens
to thousands of candidates to curate. The procedural designer maps the brief's keywords and
the persona's fashion DNA onto the spec vocabulary with a seeded random generator: candidate
``i`` depends only on the brief, its seed and ``i``, so asking for more never reshuffles the
ones already seen. A dialogue backend that can answer under a JSON schema drafts candidates
too; what it gets wrong is dropped and the procedural designer fills the gap.

    brief = DesignBrief(text="flowers on Venus", n=300, seed=7)
    specs = ProceduralDesigner(card.fashion, card.visual).design(brief)
    specs = await design_candidates(brief, card.fashion, card.visual, backend)
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import logging
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.dialogue import ChatMessage, DialogueBackend, DialogueError, GenerationParams
from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.palette import hex_to_rgb, lab_to_srgb, rgb_to_hex, srgb_to_lab
from pipelines.fashion.spec import Category, DesignSpec, Occasion, Season
from pipelines.style import HEX_COLOR, FashionDNA, NamedColor, VisualIdentity

log = logging.getLogger(__name__)

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


def singular(word: str) -> str:
    """Enough English to match 'flowers' with 'flower' and 'skies' with 'sky' ('dress' stays)."""
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# --- what fits each garment -------------------------------------------------------------------
# The spec's validator refuses the impossible; these tables keep candidates plausible too
# (no culotte in a mermaid shape, no hood on a blazer). Edits use them to step lengths, choose
# pockets and refit a garment that changes category.

_TOP_SHAPES = ("straight", "boxy", "oversized", "slim", "cocoon", "wrap", "a-line", "trapeze", "empire", "balloon")
_KNIT_SHAPES = ("straight", "boxy", "oversized", "slim", "cocoon", "balloon")
_TROUSER_SHAPES = ("wide-leg", "tapered", "straight", "slim", "bootcut", "balloon")
_SKIRT_SHAPES = ("a-line", "column", "mermaid", "wrap", "straight", "slim", "trapeze", "balloon", "tent")
_OUTER_SHAPES = ("straight", "cocoon", "boxy", "oversized", "wrap", "a-line", "trapeze", "slim", "balloon")
_DRESS_SHAPES = (
    "a-line", "sheath", "fit-and-flare", "shift", "empire", "column", "trapeze", "cocoon", "wrap",
    "mermaid", "ball-gown", "tent", "straight", "slim", "balloon",
)
SILHOUETTES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "tee": ("straight", "boxy", "oversized", "slim"), "blouse": _TOP_SHAPES, "shirt": ("straight", "boxy", "oversized", "slim"),
    "tank": ("straight", "slim", "boxy", "trapeze"), "sweater": _KNIT_SHAPES, "cardigan": _KNIT_SHAPES, "hoodie": _KNIT_SHAPES,
    "turtleneck": ("slim", "straight", "boxy", "oversized"), "top": _TOP_SHAPES,
    "skirt": _SKIRT_SHAPES, "trousers": _TROUSER_SHAPES, "jeans": ("wide-leg", "tapered", "straight", "slim", "bootcut"),
    "shorts": ("straight", "wide-leg", "slim", "balloon"), "culottes": ("wide-leg",), "joggers": ("tapered", "balloon", "straight"),
    "leggings": ("slim",),
    "jacket": _OUTER_SHAPES, "blazer": ("straight", "slim", "boxy", "oversized"), "coat": _OUTER_SHAPES + ("tent",),
    "parka": ("straight", "oversized", "cocoon", "boxy"), "bomber": ("boxy", "oversized", "balloon", "straight"),
    "cape": ("tent", "trapeze", "a-line", "cocoon", "oversized"), "kimono-jacket": ("straight", "wrap", "boxy", "oversized"),
    "trench": ("straight", "a-line", "oversized", "wrap", "slim"),
    "dress": _DRESS_SHAPES, "jumpsuit": ("wide-leg", "tapered", "straight", "slim", "wrap", "boxy"),
    "romper": ("straight", "wrap", "boxy", "a-line"), "shirtdress": ("shift", "straight", "a-line", "fit-and-flare", "oversized"),
    "kaftan": ("tent", "trapeze", "straight", "oversized"),
}

_UPPER_LENGTHS = ("cropped", "waist", "hip", "tunic")
LENGTHS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    **{category: _UPPER_LENGTHS for category in vocab.UPPER},
    "tee": ("cropped", "waist", "hip"), "tank": ("cropped", "waist", "hip"),
    "skirt": ("mini", "above-knee", "knee", "midi", "ankle", "floor"),
    "trousers": ("midi", "ankle", "floor"), "jeans": ("midi", "ankle", "floor"), "joggers": ("midi", "ankle"),
    "culottes": ("knee", "midi", "ankle"), "shorts": ("mini", "above-knee", "knee"), "leggings": ("midi", "ankle"),
    "jacket": ("cropped", "waist", "hip", "tunic"), "blazer": ("waist", "hip", "tunic"), "bomber": ("cropped", "waist", "hip"),
    "coat": ("hip", "knee", "midi", "ankle", "floor"), "trench": ("knee", "midi", "ankle"), "parka": ("hip", "tunic", "knee", "midi"),
    "cape": ("hip", "tunic", "knee", "midi", "ankle", "floor"), "kimono-jacket": ("hip", "tunic", "knee", "midi"),
    "dress": ("mini", "above-knee", "knee", "midi", "ankle", "floor"), "shirtdress": ("above-knee", "knee", "midi", "ankle"),
    "kaftan": ("knee", "midi", "ankle", "floor"), "jumpsuit": ("midi", "ankle", "floor"), "romper": ("mini", "above-knee"),
}

_LOWER_NONE = ("none",)
NECKLINES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "tee": ("crew", "v-neck", "scoop", "boat", "mock-neck"),
    "blouse": ("v-neck", "scoop", "square", "boat", "cowl", "off-shoulder", "stand-collar", "wrap", "collared", "sweetheart"),
    "shirt": ("collared", "stand-collar"), "tank": ("crew", "scoop", "square", "v-neck", "halter"),
    "sweater": ("crew", "v-neck", "boat", "mock-neck", "turtleneck", "cowl"), "cardigan": ("v-neck", "crew"),
    "hoodie": ("hooded",), "turtleneck": ("turtleneck", "mock-neck"),
    "top": ("crew", "v-neck", "scoop", "square", "boat", "sweetheart", "halter", "cowl", "off-shoulder", "wrap"),
    **{category: _LOWER_NONE for category in vocab.LOWER},
    "jacket": ("collared", "stand-collar", "lapel"), "blazer": ("lapel",), "coat": ("lapel", "collared", "stand-collar", "hooded"),
    "parka": ("hooded", "stand-collar"), "bomber": ("stand-collar",), "cape": ("hooded", "stand-collar", "collared"),
    "kimono-jacket": ("wrap", "v-neck"), "trench": ("lapel", "collared"),
    "dress": ("crew", "v-neck", "scoop", "square", "boat", "sweetheart", "halter", "cowl", "off-shoulder", "wrap", "mock-neck"),
    "jumpsuit": ("v-neck", "halter", "square", "wrap", "collared", "crew"), "romper": ("v-neck", "square", "halter", "off-shoulder", "crew"),
    "shirtdress": ("collared", "stand-collar"), "kaftan": ("v-neck", "boat", "crew"),
}

_ALL_SLEEVES = vocab.SLEEVE_LENGTHS
SLEEVE_LENGTHS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "tee": ("cap", "short", "elbow"), "blouse": _ALL_SLEEVES, "shirt": ("short", "three-quarter", "long"), "tank": ("sleeveless",),
    "sweater": ("three-quarter", "long"), "cardigan": ("three-quarter", "long"), "hoodie": ("long",),
    "turtleneck": ("sleeveless", "long"), "top": _ALL_SLEEVES,
    **{category: ("sleeveless",) for category in vocab.LOWER},
    **{category: ("three-quarter", "long") for category in vocab.OUTER},
    "cape": ("sleeveless",), "kimono-jacket": ("elbow", "three-quarter"),
    "dress": _ALL_SLEEVES, "jumpsuit": ("sleeveless", "short", "long"), "romper": ("sleeveless", "cap", "short"),
    "shirtdress": ("short", "elbow", "three-quarter", "long"), "kaftan": ("elbow", "three-quarter", "long"),
}
SLEEVE_TYPES_BY_LENGTH: dict[str, tuple[str, ...]] = {
    "sleeveless": ("none",),
    "cap": ("set-in", "puff"),
    "short": ("set-in", "raglan", "dolman", "drop-shoulder", "puff", "kimono"),
    "elbow": ("set-in", "raglan", "dolman", "drop-shoulder", "puff", "bell", "kimono"),
    "three-quarter": ("set-in", "raglan", "dolman", "drop-shoulder", "puff", "bishop", "bell", "kimono"),
    "long": ("set-in", "raglan", "dolman", "drop-shoulder", "puff", "bishop", "bell", "kimono"),
}

CLOSURES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "tee": ("pullover",), "tank": ("pullover",), "sweater": ("pullover",), "turtleneck": ("pullover",),
    "top": ("pullover", "zip-back", "wrap-tie"), "blouse": ("button-front", "pullover", "zip-back", "wrap-tie"),
    "shirt": ("button-front", "snap-front"), "cardigan": ("button-front", "snap-front", "wrap-tie"), "hoodie": ("pullover", "zip-front"),
    "skirt": ("side-zip", "zip-back", "wrap-tie", "button-front", "drawstring"),
    "trousers": ("fly-zip", "side-zip", "drawstring", "hook-and-eye"), "jeans": ("fly-zip", "button-front"),
    "shorts": ("fly-zip", "drawstring", "side-zip"), "culottes": ("side-zip", "fly-zip", "drawstring"),
    "joggers": ("drawstring",), "leggings": ("none",),
    "jacket": ("zip-front", "button-front", "snap-front", "wrap-tie"), "blazer": ("button-front",),
    "coat": ("button-front", "toggle", "wrap-tie", "zip-front", "hook-and-eye"), "parka": ("zip-front", "snap-front", "toggle"),
    "bomber": ("zip-front", "snap-front"), "cape": ("none", "button-front", "hook-and-eye", "toggle", "wrap-tie"),
    "kimono-jacket": ("wrap-tie", "none"), "trench": ("button-front", "wrap-tie"),
    "dress": ("zip-back", "side-zip", "button-front", "wrap-tie", "pullover"), "jumpsuit": ("zip-front", "zip-back", "button-front", "wrap-tie"),
    "romper": ("zip-back", "button-front", "wrap-tie"), "shirtdress": ("button-front",), "kaftan": ("pullover",),
}

_ALL_PARTS = frozenset(("upper", "lower", "outer", "full"))
DETAIL_PARTS: dict[str, frozenset[str]] = {
    **{detail: _ALL_PARTS for detail in vocab.DETAILS},
    "welt-pockets": frozenset(("lower", "outer", "full")), "side-pockets": frozenset(("lower", "outer", "full")),
    "cargo-pockets": frozenset(("lower", "outer", "full")), "flap-pockets": frozenset(("upper", "lower", "outer")),
    "inverted-pleats": frozenset(("lower", "outer", "full")), "gathers": frozenset(("upper", "lower", "full")),
    "ruffles": frozenset(("upper", "lower", "full")), "princess-seams": frozenset(("upper", "outer", "full")),
    "epaulettes": frozenset(("upper", "outer")),
    "back-slit": frozenset(("lower", "outer", "full")), "peplum": frozenset(("upper", "outer", "full")),
    "drawcord-hem": frozenset(("upper", "outer")), "hood": frozenset(("upper", "outer")),  # upper: hoodies and sweatshirts
    "smocking": frozenset(("upper", "lower", "full")), "bow": frozenset(("upper", "lower", "full")),
}
POCKET_DETAILS = tuple(detail for detail in vocab.DETAILS if detail.endswith("-pockets"))
_POCKET_BY_PART = {"upper": "patch-pockets", "lower": "side-pockets", "outer": "flap-pockets", "full": "side-pockets"}
_POCKET_BY_CATEGORY = {"blazer": "welt-pockets", "cape": "welt-pockets", "jeans": "patch-pockets", "parka": "cargo-pockets"}
_UNFIT_DETAILS: dict[str, frozenset[str]] = {
    "leggings": frozenset(DETAIL_PARTS) - {"topstitching", "raw-hem", "side-slit", "hand-stitching", "patchwork"},
    "tee": frozenset(("epaulettes", "hood", "peplum", "belt")), "tank": frozenset(("epaulettes", "hood", "cuffs", "drawcord-hem", "belt")),
    "hoodie": frozenset(("belt", "epaulettes")),
    "blazer": frozenset(("hood", "drawcord-hem")), "kimono-jacket": frozenset(("hood", "epaulettes")),
    "shirt": frozenset(("hood",)), "blouse": frozenset(("hood", "drawcord-hem")),
}


def pocket_for(category: str) -> str:
    """The pocket a garment of this kind usually has: patch on a shirt, side on trousers."""
    return _POCKET_BY_CATEGORY.get(category, _POCKET_BY_PART[vocab.body_part(category)])


def detail_fits(detail: str, category: str, sleeveless: bool = False) -> bool:
    part = vocab.body_part(category)
    if detail == "cuffs" and sleeveless and part != "lower":
        return False
    return part in DETAIL_PARTS[detail] and detail not in _UNFIT_DETAILS.get(category, ())


_KNITS = ("knit",)
_ANY_FABRIC = vocab.FABRIC_TYPES
_FLIMSY = ("chiffon", "tulle", "voile", "jersey")
FABRICS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    **{category: _ANY_FABRIC for category in vocab.CATEGORIES},
    **{category: tuple(f for f in _ANY_FABRIC if f not in _FLIMSY) for category in vocab.OUTER},
    "sweater": _KNITS, "cardigan": _KNITS, "turtleneck": ("knit", "jersey"), "hoodie": ("jersey", "knit", "cotton"),
    "tee": ("jersey", "cotton", "linen", "knit", "ramie"), "tank": ("jersey", "cotton", "linen", "silk", "knit", "satin", "ramie"),
    "jeans": ("denim",), "leggings": ("jersey", "knit", "nylon"), "joggers": ("jersey", "knit", "cotton", "nylon"),
    "trousers": ("cotton", "denim", "leather", "wool", "linen", "ramie", "satin", "silk", "crepe", "corduroy", "velvet", "tweed", "canvas", "nylon"),
    "parka": ("nylon", "cotton", "canvas", "wool"), "bomber": ("nylon", "satin", "leather", "wool", "cotton", "velvet"),
    "blazer": ("wool", "tweed", "linen", "cotton", "velvet", "crepe", "corduroy", "denim", "ramie"),
    "trench": ("cotton", "canvas", "nylon", "wool", "leather", "linen"),
}
_FABRICS_BY_FINISH: dict[str, tuple[str, ...]] = {
    "matte": _ANY_FABRIC, "sheen": _ANY_FABRIC,
    "metallic": ("silk", "satin", "organza", "tulle", "chiffon", "knit", "jersey", "nylon", "leather", "crepe", "velvet"),
    "iridescent": ("silk", "satin", "organza", "tulle", "chiffon", "nylon", "crepe"),
    "brushed": ("wool", "cotton", "knit", "denim", "tweed", "canvas", "leather"),
    "washed": ("cotton", "denim", "linen", "silk", "ramie", "canvas", "corduroy", "satin"),
    "quilted": ("cotton", "nylon", "silk", "voile", "satin", "velvet", "linen"),
    "crinkled": ("chiffon", "silk", "organza", "cotton", "ramie", "linen", "voile", "crepe", "nylon"),
    "waxed": ("cotton", "canvas", "denim", "linen"), "boiled": ("wool", "knit"),
    "coated": ("cotton", "nylon", "canvas", "denim", "linen", "leather"), "raw": ("denim", "silk", "linen", "canvas", "cotton", "ramie"),
}
FINISHES_BY_FABRIC: dict[str, tuple[str, ...]] = {
    fabric: tuple(finish for finish, fabrics in _FABRICS_BY_FINISH.items() if fabric in fabrics) for fabric in _ANY_FABRIC
}
WARM_FABRICS = frozenset(("wool", "tweed", "faux-fur", "velvet", "corduroy", "knit", "leather"))
AIRY_FABRICS = frozenset(("linen", "ramie", "voile", "chiffon", "organza", "cotton", "silk", "jersey"))


# --- colour ----------------------------------------------------------------------------------
# Lightness in CIE Lab (D65): perceptual, so "darker" darkens a yellow and a blue alike.

def hex_to_lab(hex_color: str) -> tuple[float, float, float]:
    l_star, a, b = srgb_to_lab(np.array(hex_to_rgb(hex_color), dtype=np.float64))
    return float(l_star), float(a), float(b)


def lab_to_hex(l_star: float, a: float, b: float) -> str:
    """The nearest sRGB colour (outside the gamut, chroma gives way before hue)."""
    return rgb_to_hex(lab_to_srgb(np.array([l_star, a, b])))


def lightness(hex_color: str) -> float:
    """Lab L*: 0 is black, 100 is white."""
    return hex_to_lab(hex_color)[0]


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
    Cue(("flower", "floral", "bloom", "blossom", "garden", "petal", "rose", "peony", "lily", "botanical", "spring", "orchid", "camellia", "꽃", "봄"),
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
    return _CUE_BY_WORD.get(word) or _CUE_BY_WORD.get(singular(word))


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
_WORD_SYNONYMS = {
    "stripe": ("print type", "stripes"), "striped": ("print type", "stripes"), "plaid": ("print type", "checks"),
    "check": ("print type", "checks"), "gingham": ("print type", "checks"), "tartan": ("print type", "checks"),
    "dot": ("print type", "polka-dot"), "polka": ("print type", "polka-dot"), "leopard": ("print type", "animal"),
    "zebra": ("print type", "animal"), "grid": ("print type", "geometric"), "woollen": ("fabric type", "wool"),
    "woolen": ("fabric type", "wool"), "fur": ("fabric type", "faux-fur"), "cord": ("fabric type", "corduroy"),
    "belted": ("detail", "belt"), "pocket": ("detail", "patch-pockets"), "ruffle": ("detail", "ruffles"), "frill": ("detail", "ruffles"),
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
    for candidate in (word, singular(word)):
        if candidate in _TERM_KIND:
            return _TERM_KIND[candidate], candidate
        if candidate in _WORD_SYNONYMS:
            return _WORD_SYNONYMS[candidate]
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


def request_seed(brief_seed: int, request: int) -> int:
    """The sampling seed of the model's ``request``-th batch, so a brief asks the same way twice."""
    digest = hashlib.blake2b(f"{brief_seed}:request:{request}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def slug(words: Sequence[str], limit: int = 40) -> str:
    """The first two keywords that can be spelled in an id: 'flower-venus'; 'design' when none can."""
    ascii_words = [re.sub(r"[^a-z0-9]+", "-", singular(word)).strip("-") for word in words]
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
        colour_words = frozenset(singular(word) for keyword in brief.keywords for word in keyword.split())
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
            if plan.colour_words & {singular(word) for word in colour.name.split()}:
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
            keyword = singular(idea.keyword) if re.fullmatch(r"[A-Za-z]{2,14}", idea.keyword) else ""
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


# --- the dialogue model as designer --------------------------------------------------------

MAX_MODEL_BATCH = 8


class CandidateBatch(BaseModel):
    """What the model answers: a batch of designs in the spec's vocabulary."""

    model_config = ConfigDict(extra="forbid")

    designs: list[DesignSpec] = Field(min_length=1, max_length=MAX_MODEL_BATCH)


def candidate_batch_schema() -> dict[str, Any]:
    """The JSON schema the model answers under: DesignSpec's vocabulary enums, without the
    fields the designer fills in itself (id, provenance), colours as '#RRGGBB' and short concepts."""
    schema = CandidateBatch.model_json_schema()
    spec = schema["$defs"]["DesignSpec"]
    for own in ("id", "provenance"):
        spec["properties"].pop(own, None)
    schema["$defs"].pop("Provenance", None)
    schema["$defs"]["PaletteColor"]["properties"]["hex"]["pattern"] = HEX_COLOR.pattern
    spec["properties"]["concept"].update(maxItems=6, items={"type": "string", "maxLength": 40})  # keywords, not essays
    return schema


CANDIDATE_SCHEMA = candidate_batch_schema()
INSTRUCTIONS = (
    "You are a fashion designer. Answer a brief with garment designs for the label whose style is described, "
    "in JSON: {\"designs\": [...]}. Use only the words the schema allows. Each design answers the brief and "
    "keeps to the label's silhouettes, fabrics, details, palette and motifs; vary garment, shape and colour "
    "between designs. A design's palette shares add up to 1."
)


class LLMDesigner:
    """Candidates drafted by a dialogue model under a JSON schema, a few batches of a few designs.
    Invalid drafts are dropped with the reason logged, a failed request drafts nothing, and the
    procedural designer fills every gap, so ``brief.n`` candidates always come back."""

    def __init__(self, backend: DialogueBackend, fashion: FashionDNA, visual: VisualIdentity, *,
                 max_designs: int = 16, batch_size: int = 4, timeout_s: float = 120.0, temperature: float = 0.8):
        if not backend.supports_json_schema:
            raise DialogueError(f"the {backend.name} backend cannot constrain a reply to a JSON schema")
        if not 1 <= batch_size <= MAX_MODEL_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_MODEL_BATCH}, got {batch_size}")
        self.backend = backend
        self.fashion, self.visual = fashion, visual
        self.procedural = ProceduralDesigner(fashion, visual)
        self.max_designs = max_designs
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.temperature = temperature

    def messages(self, brief: DesignBrief, count: int) -> list[ChatMessage]:
        example = self.procedural.candidate(brief, 0).model_dump(mode="json", exclude={"id", "provenance"})
        constraints = brief.constraints
        lines = [
            f"Brief: {brief.text}",
            f"Keywords: {', '.join(brief.keywords) or '(none)'}",
            *([f"Only these garments: {', '.join(constraints.categories)}"] if constraints.categories else []),
            *([f"Season: {constraints.season}"] if constraints.season else []),
            *([f"Occasion: {constraints.occasion}"] if constraints.occasion else []),
            "The label's style:",
            f"- silhouettes: {'; '.join(self.fashion.silhouettes) or '(open)'}",
            f"- fabrics: {'; '.join(self.fashion.fabrics) or '(open)'}",
            f"- signature details: {'; '.join(self.fashion.signature_details) or '(open)'}",
            f"- palette: {', '.join(f'{c.name} {c.hex}' for c in self.visual.palette)}",
            f"- motifs: {'; '.join(self.visual.motifs) or '(open)'}",
            f"- aesthetic: {'; '.join(self.visual.aesthetic) or '(open)'}",
            f"One design in this form: {json.dumps(example, ensure_ascii=False)}",
            f"Now answer with {count} new designs.",
        ]
        return [ChatMessage(role="system", content=INSTRUCTIONS), ChatMessage(role="user", content="\n".join(lines))]

    def params(self, brief: DesignBrief, request: int, count: int) -> GenerationParams:
        return GenerationParams(max_tokens=min(32768, 450 * count), temperature=self.temperature, top_p=0.95,
                                seed=request_seed(brief.seed, request), json_schema=CANDIDATE_SCHEMA)

    def parse(self, reply: str, brief: DesignBrief) -> list[DesignSpec]:
        """The valid designs of a reply; invalid ones are logged and dropped. Raises ValueError
        when the reply is not a batch of designs at all."""
        designs = []
        for position, item in enumerate(designs_in_reply(reply)):
            try:
                designs.append(self._checked(item, brief))
            except ValueError as error:
                log.info("dropped model design %d: %s", position, str(error).replace("\n", "; "))
        return designs

    def _checked(self, item: Any, brief: DesignBrief) -> DesignSpec:
        if not isinstance(item, dict):
            raise ValueError(f"expected a design object, got {type(item).__name__}")
        item = {key: value for key, value in item.items() if key not in ("id", "provenance")}
        spec = DesignSpec.from_data(_repaired(item), source="model design")
        allowed = brief.constraints.categories
        if allowed and spec.category not in allowed:
            raise ValueError(f"category {spec.category!r} is outside the brief's {', '.join(allowed)}")
        for kind in ("season", "occasion"):
            wanted = getattr(brief.constraints, kind)
            if wanted and getattr(spec, kind) != wanted:
                raise ValueError(f"{kind} {getattr(spec, kind)!r} is not the brief's {wanted!r}")
        return spec

    async def design(self, brief: DesignBrief | str | Sequence[str]) -> list[DesignSpec]:
        brief = DesignBrief.of(brief)
        wanted = min(brief.n, self.max_designs)
        counts = [min(self.batch_size, wanted - start) for start in range(0, wanted, self.batch_size)]
        batches = await asyncio.gather(*(self._draft(brief, request, count) for request, count in enumerate(counts)))
        drafted = [spec for batch in batches for spec in batch][:wanted]
        if len(drafted) < brief.n:
            log.info("the model drafted %d of %d designs; the procedural designer makes the rest", len(drafted), brief.n)
        plan = self.procedural.plan(brief)
        rest = await asyncio.to_thread(lambda: [self.procedural.compose(plan, i) for i in range(len(drafted), brief.n)])
        return [self._finished(spec, plan, i) for i, spec in enumerate(drafted)] + rest

    async def _draft(self, brief: DesignBrief, request: int, count: int) -> list[DesignSpec]:
        try:
            reply, _ = await asyncio.wait_for(self.backend.complete(self.messages(brief, count), self.params(brief, request, count)), self.timeout_s)
            return self.parse(reply, brief)[:count]
        except (DialogueError, ValueError, TimeoutError, asyncio.TimeoutError) as error:
            log.warning("model design request failed (%s); the procedural designer fills in", error)
            return []

    def _finished(self, spec: DesignSpec, plan: BriefPlan, index: int) -> DesignSpec:
        update: dict[str, Any] = {"id": f"{plan.slug}-{index + 1:04d}"}
        if not spec.concept:
            update["concept"] = plan.brief.keywords[:12]
        finished = spec.model_copy(update=update)
        return finished.with_provenance(backend="llm", model=model_name(self.backend), seed=candidate_seed(plan.brief.seed, index))


def model_name(backend: DialogueBackend) -> str:
    """The model that drafted a design ('smollm2', 'EXAONE-3.5-7.8B-Instruct') where the backend
    names one as text, otherwise the backend's own name."""
    served = getattr(backend, "model", None)
    return served if isinstance(served, str) and served else backend.name


def designs_in_reply(reply: str) -> list[Any]:
    """The reply's 'designs' list. A reply cut off by the token limit is not JSON, but the
    designs before the cut are whole: those are kept. Raises ValueError when there are none."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as error:
        whole = _whole_designs_before_the_cut(reply)
        if not whole:
            raise ValueError(f"the design reply is not JSON: {error.msg} ({reply[:120]!r})") from None
        log.info("the design reply was cut off; keeping the %d designs before the cut", len(whole))
        return whole
    if not isinstance(data, dict) or not isinstance(data.get("designs"), list):
        raise ValueError(f"the design reply has no 'designs' list ({reply[:120]!r})")
    return data["designs"]


def _whole_designs_before_the_cut(reply: str) -> list[Any]:
    start = re.match(r'\s*\{\s*"designs"\s*:\s*\[', reply)
    if start is None:
        return []
    decoder, position, designs = json.JSONDecoder(), start.end(), []
    while True:
        position = len(reply) - len(reply[position:].lstrip())
        try:
            design, position = decoder.raw_decode(reply, position)
        except json.JSONDecodeError:
            return designs
        designs.append(design)
        position = len(reply) - len(reply[position:].lstrip())
        if not reply.startswith(",", position):
            return designs
        position += 1


def _repaired(item: dict[str, Any]) -> dict[str, Any]:
    """Slips a model makes that have one obvious fix; anything else is left for validation to refuse.

    - palette shares that are all positive but do not add up to 1 are rescaled;
    - a length left out becomes one the garment usually has (the spec's default, 'hip', would not fit a skirt);
    - sleeves and a neckline on trousers or a skirt are dropped, as the spec itself would drop them.
    """
    item = dict(item)
    palette = item.get("palette")
    if isinstance(palette, list) and all(isinstance(c, dict) and isinstance(c.get("share"), (int, float)) for c in palette):
        total = sum(c["share"] for c in palette)
        if total > 0 and all(c["share"] > 0 for c in palette):
            item["palette"] = [{**c, "share": c["share"] / total} for c in palette]
    category = vocab.normalize(item["category"]) if isinstance(item.get("category"), str) else None
    if category in LENGTHS_BY_CATEGORY:
        lengths = LENGTHS_BY_CATEGORY[category]
        item.setdefault("length", lengths[len(lengths) // 2])
        if vocab.body_part(category) == "lower":
            item.pop("sleeve", None)
            item.pop("neckline", None)
    return item


# --- entry point -------------------------------------------------------------------------------

async def design_candidates(brief: DesignBrief | str | Sequence[str], fashion: FashionDNA, visual: VisualIdentity,
                            backend: DialogueBackend | None = None) -> list[DesignSpec]:
    """``brief.n`` candidates: drafted by ``backend`` when it can answer under a JSON schema,
    otherwise (and for whatever it cannot draft) by the procedural designer."""
    brief = DesignBrief.of(brief)
    if backend is not None and backend.supports_json_schema:
        return await LLMDesigner(backend, fashion, visual).design(brief)
    # Thousands of specs take a moment: keep the event loop free for chat meanwhile.
    return await asyncio.to_thread(ProceduralDesigner(fashion, visual).design, brief)
