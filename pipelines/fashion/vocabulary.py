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


# Words designers use that the vocabulary spells differently: word -> (kind, value). An edit
# ("make it woollen", "swap the print for dots") reads every one of them.
SYNONYMS: dict[str, tuple[str, str]] = {
    "vneck": ("neckline", "v-neck"), "crewneck": ("neckline", "crew"), "crew-neck": ("neckline", "crew"),
    "scoop-neck": ("neckline", "scoop"), "boat-neck": ("neckline", "boat"), "bateau": ("neckline", "boat"),
    "square-neck": ("neckline", "square"), "cowl-neck": ("neckline", "cowl"), "turtle-neck": ("neckline", "turtleneck"),
    "roll-neck": ("neckline", "turtleneck"), "polo-neck": ("neckline", "turtleneck"), "halter-neck": ("neckline", "halter"),
    "halterneck": ("neckline", "halter"), "collar": ("neckline", "collared"), "lapels": ("neckline", "lapel"),
    "stand-up-collar": ("neckline", "stand-collar"), "mandarin-collar": ("neckline", "stand-collar"), "funnel-neck": ("neckline", "mock-neck"),
    "woollen": ("fabric type", "wool"), "woolen": ("fabric type", "wool"), "fur": ("fabric type", "faux-fur"),
    "cord": ("fabric type", "corduroy"), "cords": ("fabric type", "corduroy"), "mosi": ("fabric type", "ramie"),
    "wax": ("fabric finish", "waxed"), "shiny": ("fabric finish", "sheen"), "glossy": ("fabric finish", "sheen"),
    "crinkle": ("fabric finish", "crinkled"), "crinkly": ("fabric finish", "crinkled"), "stonewashed": ("fabric finish", "washed"),
    "striped": ("print type", "stripes"), "stripe": ("print type", "stripes"), "stripy": ("print type", "stripes"),
    "pinstripes": ("print type", "stripes"), "pinstripe": ("print type", "stripes"), "check": ("print type", "checks"),
    "checked": ("print type", "checks"), "checkered": ("print type", "checks"), "plaid": ("print type", "checks"),
    "gingham": ("print type", "checks"), "tartan": ("print type", "checks"), "dot": ("print type", "polka-dot"),
    "dots": ("print type", "polka-dot"), "polka": ("print type", "polka-dot"), "polka-dots": ("print type", "polka-dot"),
    "spots": ("print type", "polka-dot"), "spotty": ("print type", "polka-dot"),
    "flowers": ("print type", "floral"), "flower": ("print type", "floral"), "florals": ("print type", "floral"),
    "flowery": ("print type", "floral"), "stars": ("print type", "celestial"), "moons": ("print type", "celestial"),
    "planets": ("print type", "celestial"), "leopard": ("print type", "animal"), "zebra": ("print type", "animal"),
    "ripples": ("print type", "ripple"), "waves": ("print type", "ripple"), "grid": ("print type", "geometric"),
    "colorblock": ("print type", "color-block"), "colour-block": ("print type", "color-block"), "colourblock": ("print type", "color-block"),
    "plain": ("print type", "solid"),
    "pleat": ("detail", "pleats"), "pleated": ("detail", "pleats"), "ruffle": ("detail", "ruffles"), "ruffled": ("detail", "ruffles"),
    "frill": ("detail", "ruffles"), "frills": ("detail", "ruffles"), "slit": ("detail", "side-slit"), "slits": ("detail", "side-slit"),
    "tie": ("detail", "ties"), "cuff": ("detail", "cuffs"), "cuffed": ("detail", "cuffs"), "epaulette": ("detail", "epaulettes"),
    "belted": ("detail", "belt"), "gathered": ("detail", "gathers"), "smocked": ("detail", "smocking"), "dart": ("detail", "darts"),
    "patches": ("detail", "patchwork"), "visible-mending": ("detail", "patchwork"), "hand-stitched": ("detail", "hand-stitching"),
    "running-stitch": ("detail", "hand-stitching"), "topstitched": ("detail", "topstitching"), "bows": ("detail", "bow"),
    "drawcord": ("detail", "drawcord-hem"), "pocket": ("detail", "patch-pockets"),
    "buttons": ("closure", "button-front"), "button": ("closure", "button-front"), "buttoned": ("closure", "button-front"),
    "zip": ("closure", "zip-front"), "zipper": ("closure", "zip-front"), "zipped": ("closure", "zip-front"),
    "toggles": ("closure", "toggle"), "snaps": ("closure", "snap-front"), "wrap-closure": ("closure", "wrap-tie"),
    "loose": ("fit", "relaxed"), "fitted": ("fit", "slim"), "baggy": ("fit", "oversized"), "tight": ("fit", "slim"),
    "maxi": ("length", "floor"), "full-length": ("length", "floor"), "crop": ("length", "cropped"),
    "aline": ("silhouette", "a-line"), "flared": ("silhouette", "fit-and-flare"), "pencil": ("silhouette", "slim"),
    "summer": ("season", "spring-summer"), "spring": ("season", "spring-summer"), "winter": ("season", "autumn-winter"),
    "autumn": ("season", "autumn-winter"), "fall": ("season", "autumn-winter"), "office": ("occasion", "work"),
    "party": ("occasion", "evening"), "wedding": ("occasion", "ceremony"), "sporty": ("occasion", "athleisure"),
    "t-shirt": ("category", "tee"), "tshirt": ("category", "tee"), "pants": ("category", "trousers"), "sweatshirt": ("category", "sweater"),
}
# The synonyms a description (a persona's DNA, a brief's keywords) is read with: other names for
# a print, a fabric or a detail. The rest would misread one: "ties instead of buttons" is not a
# button closure, and "flowers" or "summer" in a brief are themes its cues already read.
DESCRIPTION_SYNONYMS = frozenset((
    "stripe", "striped", "plaid", "check", "gingham", "tartan", "dot", "polka", "leopard", "zebra", "grid",
    "woollen", "woolen", "fur", "cord", "belted", "pocket", "ruffle", "frill",
))


class UnknownTerm(ValueError):
    """A word outside the vocabulary; the message suggests the nearest allowed one."""


def normalize(term: str) -> str:
    """'A-Line', 'a line' and 'a_line' are all 'a-line'."""
    return "-".join(term.strip().lower().replace("_", " ").replace("-", " ").split())


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
