"""What fits each garment: the shapes, lengths, necklines, sleeves, closures, details and
fabrics a category is usually made with, and the pocket it usually has.

The spec's validator refuses the impossible; these tables keep designs plausible too (no
culotte in a mermaid shape, no hood on a blazer). The procedural designer draws from them,
and edits use them to step lengths, choose pockets and refit a garment that changes category.
"""

from __future__ import annotations

from pipelines.fashion import vocabulary as vocab

# --- shapes, lengths, necklines, sleeves, closures -----------------------------------------------

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

# --- details and pockets ----------------------------------------------------------------------

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


# --- fabrics and finishes ---------------------------------------------------------------------

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
