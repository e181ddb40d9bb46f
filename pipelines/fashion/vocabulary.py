"""The words a DesignSpec may use, grounded in public fashion datasets.

Categories follow DeepFashion's Category and Attribute Prediction benchmark (its 50 garment
categories, trimmed to those a flat can draw), sleeve and lower-garment lengths, necklines and
fabrics follow DeepFashion-MultiModal's shape and fabric annotations, and print types extend
its pattern annotations (floral, graphic, striped, lattice, pure colour, colour block) with
the motifs designers ask for. FashionIQ's attribute types (texture, fabric, shape, part,
style) are how the fields are grouped: print = texture, fabric = fabric, silhouette/fit/length
= shape, neckline/sleeve/closure/details = part, season/occasion/concept = style.

Every list is the complete set of allowed values; `check_term` turns anything else into an
error that names the field, suggests the nearest word and lists the allowed ones.
"""

from __future__ import annotations

import difflib

# What kind of garment, and which part of the body it dresses (flats draw by body part).
UPPER = ("tee", "blouse", "shirt", "tank", "sweater", "cardigan", "hoodie", "turtleneck", "top")
LOWER = ("skirt", "trousers", "jeans", "shorts", "culottes", "joggers", "leggings")
OUTER = ("jacket", "blazer", "coat", "parka", "bomber", "cape", "kimono-jacket", "trench")
FULL_BODY = ("dress", "jumpsuit", "romper", "shirtdress", "kaftan")
CATEGORIES = UPPER + LOWER + OUTER + FULL_BODY

SILHOUETTES = (
    "a-line", "sheath", "fit-and-flare", "shift", "empire", "column", "trapeze", "cocoon",
    "boxy", "oversized", "straight", "wrap", "mermaid", "ball-gown", "tent", "wide-leg",
    "tapered", "bootcut", "slim", "balloon",
)
FITS = ("slim", "regular", "relaxed", "oversized")
# Upper garments end at cropped/waist/hip/tunic; lower and full-body ones from mini down.
LENGTHS = ("cropped", "waist", "hip", "tunic", "mini", "above-knee", "knee", "midi", "ankle", "floor")
NECKLINES = (
    "crew", "v-neck", "scoop", "square", "boat", "sweetheart", "halter", "turtleneck",
    "mock-neck", "cowl", "off-shoulder", "collared", "lapel", "stand-collar", "hooded",
    "wrap", "none",
)
SLEEVE_LENGTHS = ("sleeveless", "cap", "short", "elbow", "three-quarter", "long")
SLEEVE_TYPES = ("set-in", "raglan", "dolman", "drop-shoulder", "puff", "bishop", "bell", "kimono", "none")
CLOSURES = (
    "none", "pullover", "button-front", "zip-front", "zip-back", "wrap-tie", "snap-front",
    "toggle", "hook-and-eye", "drawstring", "side-zip", "fly-zip",
)
DETAILS = (
    "patch-pockets", "welt-pockets", "side-pockets", "flap-pockets", "pleats", "inverted-pleats",
    "gathers", "ruffles", "darts", "princess-seams", "belt", "yoke", "epaulettes", "cuffs",
    "side-slit", "back-slit", "peplum", "bow", "topstitching", "quilting", "patchwork",
    "raw-hem", "drawcord-hem", "hood", "ties", "hand-stitching", "smocking", "cargo-pockets",
)
FABRIC_TYPES = (
    "cotton", "denim", "leather", "chiffon", "knit", "silk", "wool", "linen", "ramie", "satin",
    "organza", "tulle", "velvet", "jersey", "tweed", "faux-fur", "voile", "corduroy", "nylon",
    "canvas", "crepe",
)
FABRIC_FINISHES = (
    "matte", "sheen", "metallic", "iridescent", "brushed", "washed", "quilted", "crinkled",
    "waxed", "boiled", "coated", "raw",
)
PRINT_TYPES = (
    "solid", "floral", "celestial", "geometric", "stripes", "checks", "abstract", "polka-dot",
    "animal", "paisley", "graphic", "color-block", "ripple",
)
PRINT_SCALES = ("small", "medium", "large")
PRINT_REPEATS = ("block", "half-drop", "brick", "mirror")
SEASONS = ("spring-summer", "autumn-winter", "resort", "pre-fall", "all-season")
OCCASIONS = ("everyday", "work", "evening", "street", "resort", "ceremony", "stage", "athleisure")

VOCABULARY: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "silhouette": SILHOUETTES,
    "fit": FITS,
    "length": LENGTHS,
    "neckline": NECKLINES,
    "sleeve length": SLEEVE_LENGTHS,
    "sleeve type": SLEEVE_TYPES,
    "closure": CLOSURES,
    "detail": DETAILS,
    "fabric type": FABRIC_TYPES,
    "fabric finish": FABRIC_FINISHES,
    "print type": PRINT_TYPES,
    "print scale": PRINT_SCALES,
    "print repeat": PRINT_REPEATS,
    "season": SEASONS,
    "occasion": OCCASIONS,
}


class UnknownTerm(ValueError):
    """A word outside the vocabulary; the message suggests the nearest allowed one."""


def normalize(term: str) -> str:
    """'A-Line', 'a line' and 'a_line' are all 'a-line'."""
    return "-".join(term.strip().lower().replace("_", " ").replace("-", " ").split())


def suggest(term: str, allowed: tuple[str, ...]) -> str | None:
    close = difflib.get_close_matches(normalize(term), allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def check_term(kind: str, term: str) -> str:
    """The normalised term, or UnknownTerm naming the kind, the nearest word and every allowed word."""
    allowed = VOCABULARY[kind]
    word = normalize(term)
    if word in allowed:
        return word
    nearest = suggest(term, allowed)
    hint = f"; did you mean {nearest!r}?" if nearest else ""
    raise UnknownTerm(f"unknown {kind} {term!r}{hint} Allowed: {', '.join(allowed)}")


def body_part(category: str) -> str:
    """'upper', 'lower', 'outer' or 'full': which template a flat starts from."""
    for part, members in (("upper", UPPER), ("lower", LOWER), ("outer", OUTER), ("full", FULL_BODY)):
        if category in members:
            return part
    raise UnknownTerm(f"unknown category {category!r}")
