"""Palettes: take one from an image, name its colours, pull it toward the persona's palette,
make colourways of it, and recolour a print tile from one palette to another.

Distances between colours are CIE76 ΔE in CIELAB (D65 white), so "close" means close to the
eye: under about 2 two swatches look the same side by side, around 10 they read as the same
colour from a different dye lot.

    palette = extract_palette(Image.open("moodboard.jpg"), k=5, names=persona.visual.palette)
    palette = harmonize(palette, persona.visual.palette, strength=0.4)
    for colorway in colorways(palette, persona.visual.palette, k=4, seed=7):
        preview = recolor_tile(tile, palette, colorway)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from pipelines.colour import hex_to_rgb
from pipelines.fashion.spec import PaletteColor
from pipelines.style import NamedColor

# A persona colour within this ΔE lends its own name ("Persimmon" rather than "Coral").
PERSONA_NAME_RADIUS = 12.0
# k-means sees at most this many pixels: enough for shares to be right within about 1%.
SAMPLE_PIXELS = 65_536
# Larger images are box-reduced to about this size first, so sampling stays cheap.
REDUCE_ABOVE_PIXELS = 4_000_000
# Clusters smaller than this are edge blends and sensor noise, not colours of the design.
MIN_SHARE = 0.005
KMEANS_RESTARTS = 4
KMEANS_ITERATIONS = 60

# The CSS named colours (CSS Color Module Level 4), one name per colour: grey/gray,
# aqua/cyan and fuchsia/magenta are the same colours, so only one of each pair is kept.
CSS_COLORS: tuple[tuple[str, str], ...] = (
    ("Alice Blue", "#F0F8FF"),
    ("Antique White", "#FAEBD7"),
    ("Aquamarine", "#7FFFD4"),
    ("Azure", "#F0FFFF"),
    ("Beige", "#F5F5DC"),
    ("Bisque", "#FFE4C4"),
    ("Black", "#000000"),
    ("Blanched Almond", "#FFEBCD"),
    ("Blue", "#0000FF"),
    ("Blue Violet", "#8A2BE2"),
    ("Brown", "#A52A2A"),
    ("Burlywood", "#DEB887"),
    ("Cadet Blue", "#5F9EA0"),
    ("Chartreuse", "#7FFF00"),
    ("Chocolate", "#D2691E"),
    ("Coral", "#FF7F50"),
    ("Cornflower Blue", "#6495ED"),
    ("Cornsilk", "#FFF8DC"),
    ("Crimson", "#DC143C"),
    ("Cyan", "#00FFFF"),
    ("Dark Blue", "#00008B"),
    ("Dark Cyan", "#008B8B"),
    ("Dark Goldenrod", "#B8860B"),
    ("Dark Gray", "#A9A9A9"),
    ("Dark Green", "#006400"),
    ("Dark Khaki", "#BDB76B"),
    ("Dark Magenta", "#8B008B"),
    ("Dark Olive Green", "#556B2F"),
    ("Dark Orange", "#FF8C00"),
    ("Dark Orchid", "#9932CC"),
    ("Dark Red", "#8B0000"),
    ("Dark Salmon", "#E9967A"),
    ("Dark Sea Green", "#8FBC8F"),
    ("Dark Slate Blue", "#483D8B"),
    ("Dark Slate Gray", "#2F4F4F"),
    ("Dark Turquoise", "#00CED1"),
    ("Dark Violet", "#9400D3"),
    ("Deep Pink", "#FF1493"),
    ("Deep Sky Blue", "#00BFFF"),
    ("Dim Gray", "#696969"),
    ("Dodger Blue", "#1E90FF"),
    ("Firebrick", "#B22222"),
    ("Floral White", "#FFFAF0"),
    ("Forest Green", "#228B22"),
    ("Gainsboro", "#DCDCDC"),
    ("Ghost White", "#F8F8FF"),
    ("Gold", "#FFD700"),
    ("Goldenrod", "#DAA520"),
    ("Gray", "#808080"),
    ("Green", "#008000"),
    ("Green Yellow", "#ADFF2F"),
    ("Honeydew", "#F0FFF0"),
    ("Hot Pink", "#FF69B4"),
    ("Indian Red", "#CD5C5C"),
    ("Indigo", "#4B0082"),
    ("Ivory", "#FFFFF0"),
    ("Khaki", "#F0E68C"),
    ("Lavender", "#E6E6FA"),
    ("Lavender Blush", "#FFF0F5"),
    ("Lawn Green", "#7CFC00"),
    ("Lemon Chiffon", "#FFFACD"),
    ("Light Blue", "#ADD8E6"),
    ("Light Coral", "#F08080"),
    ("Light Cyan", "#E0FFFF"),
    ("Light Goldenrod Yellow", "#FAFAD2"),
    ("Light Gray", "#D3D3D3"),
    ("Light Green", "#90EE90"),
    ("Light Pink", "#FFB6C1"),
    ("Light Salmon", "#FFA07A"),
    ("Light Sea Green", "#20B2AA"),
    ("Light Sky Blue", "#87CEFA"),
    ("Light Slate Gray", "#778899"),
    ("Light Steel Blue", "#B0C4DE"),
    ("Light Yellow", "#FFFFE0"),
    ("Lime", "#00FF00"),
    ("Lime Green", "#32CD32"),
    ("Linen", "#FAF0E6"),
    ("Magenta", "#FF00FF"),
    ("Maroon", "#800000"),
    ("Medium Aquamarine", "#66CDAA"),
    ("Medium Blue", "#0000CD"),
    ("Medium Orchid", "#BA55D3"),
    ("Medium Purple", "#9370DB"),
    ("Medium Sea Green", "#3CB371"),
    ("Medium Slate Blue", "#7B68EE"),
    ("Medium Spring Green", "#00FA9A"),
    ("Medium Turquoise", "#48D1CC"),
    ("Medium Violet Red", "#C71585"),
    ("Midnight Blue", "#191970"),
    ("Mint Cream", "#F5FFFA"),
    ("Misty Rose", "#FFE4E1"),
    ("Moccasin", "#FFE4B5"),
    ("Navajo White", "#FFDEAD"),
    ("Navy", "#000080"),
    ("Old Lace", "#FDF5E6"),
    ("Olive", "#808000"),
    ("Olive Drab", "#6B8E23"),
    ("Orange", "#FFA500"),
    ("Orange Red", "#FF4500"),
    ("Orchid", "#DA70D6"),
    ("Pale Goldenrod", "#EEE8AA"),
    ("Pale Green", "#98FB98"),
    ("Pale Turquoise", "#AFEEEE"),
    ("Pale Violet Red", "#DB7093"),
    ("Papaya Whip", "#FFEFD5"),
    ("Peach Puff", "#FFDAB9"),
    ("Peru", "#CD853F"),
    ("Pink", "#FFC0CB"),
    ("Plum", "#DDA0DD"),
    ("Powder Blue", "#B0E0E6"),
    ("Purple", "#800080"),
    ("Rebecca Purple", "#663399"),
    ("Red", "#FF0000"),
    ("Rosy Brown", "#BC8F8F"),
    ("Royal Blue", "#4169E1"),
    ("Saddle Brown", "#8B4513"),
    ("Salmon", "#FA8072"),
    ("Sandy Brown", "#F4A460"),
    ("Sea Green", "#2E8B57"),
    ("Seashell", "#FFF5EE"),
    ("Sienna", "#A0522D"),
    ("Silver", "#C0C0C0"),
    ("Sky Blue", "#87CEEB"),
    ("Slate Blue", "#6A5ACD"),
    ("Slate Gray", "#708090"),
    ("Snow", "#FFFAFA"),
    ("Spring Green", "#00FF7F"),
    ("Steel Blue", "#4682B4"),
    ("Tan", "#D2B48C"),
    ("Teal", "#008080"),
    ("Thistle", "#D8BFD8"),
    ("Tomato", "#FF6347"),
    ("Turquoise", "#40E0D0"),
    ("Violet", "#EE82EE"),
    ("Wheat", "#F5DEB3"),
    ("White", "#FFFFFF"),
    ("White Smoke", "#F5F5F5"),
    ("Yellow", "#FFFF00"),
    ("Yellow Green", "#9ACD32"),
)


# --- sRGB <-> CIELAB -----------------------------------------------------------------------

# Linear sRGB -> CIE XYZ for the D65 white (IEC 61966-2-1), and the D65 white itself.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_DELTA = 6 / 29


def rgb_to_hex(rgb: Sequence[float]) -> str:
    red, green, blue = (int(np.clip(round(float(channel)), 0, 255)) for channel in rgb)
    return f"#{red:02X}{green:02X}{blue:02X}"


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0-255 (any shape ending in 3) -> CIELAB L*, a*, b*."""
    xyz = _srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _DELTA**3, np.cbrt(xyz), xyz / (3 * _DELTA**2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _WHITE
    return xyz @ _XYZ_TO_RGB.T


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> sRGB 0-255 floats; colours outside sRGB lose chroma (not hue) until they fit."""
    return _linear_to_srgb(_lab_to_linear(_fit_gamut(lab)))


def _in_gamut(lab: np.ndarray) -> np.ndarray:
    linear = _lab_to_linear(lab)
    return np.all((linear >= -1e-6) & (linear <= 1 + 1e-6), axis=-1)


def _fit_gamut(lab: np.ndarray) -> np.ndarray:
    """Reduce the chroma of out-of-gamut colours by bisection, keeping lightness and hue:
    clipping RGB instead would shift the hue (a saturated blue turns purple)."""
    lab = np.array(lab, dtype=np.float64)
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    inside = _in_gamut(lab)
    if inside.all():
        return lab
    low, high = np.zeros(inside.shape), np.ones(inside.shape)
    for _ in range(30):
        middle = (low + high) / 2
        fits = _in_gamut(lab * np.stack([np.ones_like(middle), middle, middle], axis=-1))
        low, high = np.where(fits, middle, low), np.where(fits, high, middle)
    chroma_scale = np.where(inside, 1.0, low)
    return lab * np.stack([np.ones_like(chroma_scale), chroma_scale, chroma_scale], axis=-1)


def hex_to_lab(hex_color: str) -> tuple[float, float, float]:
    l_star, a, b = srgb_to_lab(np.array(hex_to_rgb(hex_color), dtype=np.float64))
    return float(l_star), float(a), float(b)


def lab_to_hex(l_star: float, a: float, b: float) -> str:
    """The nearest sRGB colour (outside the gamut, chroma gives way before hue)."""
    return rgb_to_hex(lab_to_srgb(np.array([l_star, a, b])))


def lightness(hex_color: str) -> float:
    """Lab L*: 0 is black, 100 is white; perceptual, so "darker" darkens a yellow and a blue alike."""
    return hex_to_lab(hex_color)[0]


def delta_e(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """CIE76 colour difference between Lab colours (broadcasting)."""
    return np.linalg.norm(np.asarray(first) - np.asarray(second), axis=-1)


def _lab_of(colors: Sequence[PaletteColor | NamedColor]) -> np.ndarray:
    return srgb_to_lab(np.array([hex_to_rgb(color.hex) for color in colors], dtype=np.float64))


def _hex_of(lab: np.ndarray) -> str:
    return rgb_to_hex(lab_to_srgb(lab))


# --- names ---------------------------------------------------------------------------------

_CSS_LAB = srgb_to_lab(np.array([hex_to_rgb(hex_color) for _, hex_color in CSS_COLORS], dtype=np.float64))


def name_color(hex_color: str, names: Sequence[NamedColor] | None = None) -> str:
    """The persona's own name for the colour when one of hers is within PERSONA_NAME_RADIUS,
    else the nearest CSS colour name."""
    lab = srgb_to_lab(np.array(hex_to_rgb(hex_color), dtype=np.float64))
    if names:
        distances = delta_e(_lab_of(names), lab)
        nearest = int(np.argmin(distances))
        if distances[nearest] <= PERSONA_NAME_RADIUS:
            return names[nearest].name
    return CSS_COLORS[int(np.argmin(delta_e(_CSS_LAB, lab)))][0]


# --- extraction ----------------------------------------------------------------------------


def extract_palette(
    image: Image.Image, k: int = 5, seed: int = 0, names: Sequence[NamedColor] | None = None
) -> list[PaletteColor]:
    """At most k colours of the image with their shares of its visible area, largest first.

    k-means (k-means++ start, a few seeded restarts) runs in CIELAB on a sample of the
    pixels; fully transparent pixels are not part of the design and are ignored. An image
    with fewer distinct colours than k gives fewer colours back.
    """
    if not 1 <= k <= 16:
        raise ValueError(f"k must be between 1 and 16 colours, got {k}")
    rng = np.random.default_rng(seed)
    colors, counts = _unique_colors(_visible_pixels(image, rng))
    labs, weights = srgb_to_lab(colors), counts.astype(np.float64)
    # Cluster coarse colour bins (fast on photos with tens of thousands of colours), then
    # settle every exact colour on its nearest centre, so flat colours come back exactly.
    bins, bin_weights = _binned(labs, weights)
    centres, _ = _best_kmeans(bins, bin_weights, k, rng)
    centres, totals = _settled(labs, weights, centres)
    shares = totals / totals.sum()
    keep = shares >= MIN_SHARE
    return _palette_from(centres[keep], shares[keep], names)


def _settled(labs: np.ndarray, weights: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each colour assigned to its nearest centre, each centre moved to the weighted mean of
    its colours; centres left with no colour are dropped. Returns centres and their weights."""
    labels = _nearest_centre(labs, centres)
    totals = np.bincount(labels, weights=weights, minlength=len(centres))
    sums = np.stack([np.bincount(labels, weights=weights * labs[:, axis], minlength=len(centres)) for axis in range(3)], axis=1)
    used = totals > 0
    return sums[used] / totals[used, None], totals[used]


def _binned(labs: np.ndarray, weights: np.ndarray, step: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Lab colours pooled into cubes `step` ΔE wide (each cube at its weighted mean)."""
    # Lab lies within ±128, so cube indices lie within ±43: +128 keeps each in 10 positive bits.
    cube = np.floor(labs / step).astype(np.int64) + 128
    _, index = np.unique((cube[:, 0] << 20) | (cube[:, 1] << 10) | cube[:, 2], return_inverse=True)
    index = index.reshape(-1)
    totals = np.bincount(index, weights=weights)
    means = np.stack([np.bincount(index, weights=weights * labs[:, axis]) for axis in range(3)], axis=1) / totals[:, None]
    return means, totals


def _visible_pixels(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The image's visible pixels as an (n, 3) uint8 array, at most SAMPLE_PIXELS of them."""
    rgba = _reduced(image.convert("RGBA"))
    array = np.asarray(rgba).reshape(-1, 4)
    visible = array[array[:, 3] > 0, :3]
    if len(visible) == 0:
        raise ValueError("the image has no visible pixels: every pixel is fully transparent")
    if len(visible) > SAMPLE_PIXELS:
        visible = visible[rng.integers(0, len(visible), SAMPLE_PIXELS)]
    return visible


def _reduced(rgba: Image.Image) -> Image.Image:
    factor = int(np.ceil(np.sqrt(rgba.width * rgba.height / REDUCE_ABOVE_PIXELS)))
    if factor <= 1:
        return rgba
    # Averaging with premultiplied alpha, so transparent pixels lend no colour to their neighbours.
    return rgba.convert("RGBa").reduce(factor).convert("RGBA")


def _unique_colors(pixels: np.ndarray, return_inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The distinct colours of an (n, 3) uint8 array as floats, with their pixel counts (or,
    with return_inverse, the index of each pixel's colour). One int per colour sorts fast."""
    packed = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    values, extra = np.unique(packed, return_inverse=return_inverse, return_counts=not return_inverse)
    colors = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1)
    return colors.astype(np.float64), extra


def _best_kmeans(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means (points are colours, weights their pixel counts); the restart with the
    lowest within-cluster error wins. Returns the centres and each point's cluster."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(KMEANS_RESTARTS):
        centres = _kmeans_plus_plus(points, weights, k, rng)
        centres, labels = _lloyd(points, weights, centres)
        error = float(np.sum(weights * np.sum((points - centres[labels]) ** 2, axis=1)))
        if best is None or error < best[0] - 1e-9:
            best = (error, centres, labels)
    _, centres, labels = best
    return centres, labels


def _kmeans_plus_plus(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each new centre is drawn with probability proportional to weight × squared distance
    to the nearest centre so far; stops early when every point is already a centre."""
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    nearest = np.sum((points - centres[0]) ** 2, axis=1)
    while len(centres) < k:
        mass = weights * nearest
        if mass.sum() <= 0:
            break
        centre = points[rng.choice(len(points), p=mass / mass.sum())]
        centres.append(centre)
        nearest = np.minimum(nearest, np.sum((points - centre) ** 2, axis=1))
    return np.array(centres)


def _lloyd(points: np.ndarray, weights: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = _nearest_centre(points, centres)
    for _ in range(KMEANS_ITERATIONS):
        totals = np.bincount(labels, weights=weights, minlength=len(centres))
        sums = np.stack([np.bincount(labels, weights=weights * points[:, axis], minlength=len(centres)) for axis in range(3)], axis=1)
        # A centre that lost all its points stays where it was; it is dropped at the end.
        moved = np.where(totals[:, None] > 0, sums / np.maximum(totals, 1e-12)[:, None], centres)
        new_labels = _nearest_centre(points, moved)
        centres = moved
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centres, labels


def _nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # |p - c|² = |p|² - 2 p·c + |c|², and |p|² is the same for every centre. The dot product
    # is spelled out per axis: a (n, 3) @ (3, k) matmul is several times slower here.
    dots = sum(points[:, axis, None] * centres[None, :, axis] for axis in range(3))
    return np.argmin((centres**2).sum(axis=1)[None, :] - 2 * dots, axis=1)


def _palette_from(labs: np.ndarray, shares: np.ndarray, names: Sequence[NamedColor] | None) -> list[PaletteColor]:
    order = np.argsort(-shares, kind="stable")
    shares = _rounded_shares(shares[order] / shares.sum())
    palette: list[PaletteColor] = []
    for lab, share in zip(labs[order], shares):
        hex_color = _hex_of(lab)
        palette.append(PaletteColor(hex=hex_color, name=name_color(hex_color, names), share=share))
    return palette


def _rounded_shares(shares: np.ndarray) -> list[float]:
    """Four decimals that still add up to exactly 1 (the largest share absorbs the rounding)."""
    rounded = np.maximum(np.round(shares, 4), 0.0001)
    rounded[int(np.argmax(rounded))] += 1.0 - rounded.sum()
    return [round(float(share), 4) for share in rounded]


# --- harmonising and colourways ------------------------------------------------------------


def harmonize(palette: Sequence[PaletteColor], persona_palette: Sequence[NamedColor], strength: float = 0.5) -> list[PaletteColor]:
    """Move each colour toward its nearest persona colour in Lab: strength 0 leaves the
    palette as it is, 1 snaps every colour onto the persona's. Shares are kept."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    if not persona_palette:
        raise ValueError("the persona palette is empty: there is nothing to harmonise toward")
    if strength == 0.0:
        return [color.model_copy() for color in palette]
    labs, targets = _lab_of(palette), _lab_of(persona_palette)
    nearest = np.argmin(delta_e(labs[:, None, :], targets[None, :, :]), axis=1)
    result = []
    for color, lab, target in zip(palette, labs, nearest):
        if strength == 1.0:
            # Snapped: the persona's colour exactly, not a round trip through Lab.
            hex_color = persona_palette[target].hex
        else:
            hex_color = _hex_of(lab + strength * (targets[target] - lab))
        result.append(PaletteColor(hex=hex_color, name=name_color(hex_color, persona_palette), share=color.share))
    return result


def colorways(palette: Sequence[PaletteColor], persona_palette: Sequence[NamedColor], k: int, seed: int) -> list[list[PaletteColor]]:
    """k alternative palettes for the same design, all different from it and each other.

    Each keeps the shares slot by slot. Most recast the design in the persona's own colours
    (chosen so that what was darker than the ground stays darker, so motifs stay legible);
    every third one turns the design's own hues around the colour wheel instead.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1 colourway, got {k}")
    if not palette:
        raise ValueError("the palette is empty: there is nothing to make colourways of")
    rng = np.random.default_rng(seed)
    labs = _lab_of(palette)
    from_persona = _persona_recastings(labs, persona_palette, rng)
    hue_turns = _hue_turns(labs, rng)
    seen = {tuple(color.hex for color in palette)}
    result: list[list[PaletteColor]] = []
    for _ in range(50 * k + 200):
        if len(result) == k:
            return result
        source = hue_turns if len(result) % 3 == 2 else from_persona
        hexes = next(source, None) or next(hue_turns)
        if tuple(hexes) in seen:
            continue
        seen.add(tuple(hexes))
        result.append([PaletteColor(hex=h, name=name_color(h, persona_palette), share=c.share) for h, c in zip(hexes, palette)])
    raise ValueError(f"could only make {len(result)} distinct colourways of {k}: the palette and persona palette have too few distinct colours")


def _persona_recastings(labs: np.ndarray, persona_palette: Sequence[NamedColor], rng: np.random.Generator) -> Iterator[list[str]]:
    """Assignments of distinct persona colours to the palette's slots, in a seeded order,
    those that keep each motif on the same side (lighter or darker) of the ground first."""
    if len(persona_palette) < len(labs):
        return
    targets = _lab_of(persona_palette)
    faithful, others = [], []
    for assignment in _seeded_assignments(len(persona_palette), len(labs), rng):
        (faithful if _keeps_contrast(labs, targets[list(assignment)]) else others).append(assignment)
    for assignment in faithful + others:
        yield [persona_palette[i].hex for i in assignment]


def _seeded_assignments(colors: int, slots: int, rng: np.random.Generator, limit: int = 5000) -> list[tuple[int, ...]]:
    """Distinct ways to give each slot its own colour, in a seeded order (all of them when
    there are few, else `limit` random draws: 16 colours over 8 slots is 500 million ways)."""
    if math.perm(colors, slots) <= limit:
        every = list(itertools.permutations(range(colors), slots))
        return [every[i] for i in rng.permutation(len(every))]
    drawn = (tuple(int(i) for i in rng.permutation(colors)[:slots]) for _ in range(limit))
    return list(dict.fromkeys(drawn))


def _keeps_contrast(original: np.ndarray, recast: np.ndarray) -> bool:
    ground_before, ground_after = original[0, 0], recast[0, 0]
    for before, after in zip(original[1:, 0], recast[1:, 0]):
        # Colours almost as light as the ground may go either way; the others keep their side
        # and stay at least a little apart from the new ground.
        if abs(before - ground_before) >= 10 and (np.sign(before - ground_before) != np.sign(after - ground_after) or abs(after - ground_after) < 10):
            return False
    return True


def _hue_turns(labs: np.ndarray, rng: np.random.Generator) -> Iterator[list[str]]:
    """The palette turned around the hue circle by seeded angles (30-330°), chroma nudged."""
    lightness, chroma, hue = labs[:, 0], np.hypot(labs[:, 1], labs[:, 2]), np.arctan2(labs[:, 2], labs[:, 1])
    while True:
        turn = np.deg2rad(rng.uniform(30, 330))
        scaled = chroma * rng.uniform(0.8, 1.25)
        turned = np.stack([lightness, scaled * np.cos(hue + turn), scaled * np.sin(hue + turn)], axis=1)
        yield [_hex_of(lab) for lab in turned]


# --- recolouring ---------------------------------------------------------------------------


def recolor_tile(tile: Image.Image, from_palette: Sequence[PaletteColor], to_palette: Sequence[PaletteColor]) -> Image.Image:
    """The tile with from_palette[i] replaced by to_palette[i].

    An anti-aliased edge pixel is a mix of two palette colours: each pixel is matched to the
    pair of source colours whose mix it lies closest to, and the same mix of the two target
    colours is painted, so edges stay smooth. Alpha, if any, is kept.
    """
    if len(from_palette) != len(to_palette):
        raise ValueError(f"from_palette has {len(from_palette)} colours but to_palette has {len(to_palette)}; they must pair up")
    if not from_palette:
        raise ValueError("the palettes are empty: there is nothing to recolour")
    alpha = tile.getchannel("A") if tile.mode in ("RGBA", "LA", "PA") else None
    rgb = np.asarray(tile.convert("RGB"))
    colors, inverse = _unique_colors(rgb.reshape(-1, 3), return_inverse=True)
    source = np.array([hex_to_rgb(color.hex) for color in from_palette], dtype=np.float64)
    target = np.array([hex_to_rgb(color.hex) for color in to_palette], dtype=np.float64)
    mapped = _map_mixes(colors, source, target)
    out = Image.fromarray(np.round(mapped[inverse.reshape(-1)]).astype(np.uint8).reshape(rgb.shape), "RGB")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def _map_mixes(colors: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    if len(source) == 1:
        return np.broadcast_to(target[0], colors.shape).copy()
    pairs = list(itertools.combinations(range(len(source)), 2))
    best_distance = np.full(len(colors), np.inf)
    result = np.zeros_like(colors)
    for first, second in pairs:
        start, span = source[first], source[second] - source[first]
        length = float(span @ span)
        mix = np.zeros(len(colors)) if length == 0 else np.clip((colors - start) @ span / length, 0.0, 1.0)
        distance = np.linalg.norm(colors - (start + mix[:, None] * span), axis=1)
        better = distance < best_distance - 1e-9
        best_distance = np.where(better, distance, best_distance)
        painted = target[first] + mix[:, None] * (target[second] - target[first])
        result[better] = painted[better]
    return result
