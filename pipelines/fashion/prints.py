"""Seamless print tiles for every print type in the vocabulary, in the design's own palette.

    tile = make_tile(Print(type="celestial", motif="moon over rooftops", repeat="half-drop"), palette, seed=7)
    tile_preview(tile).save("repeat.png")   # 3 × 3 tiles, to see how the repeat reads
    is_seamless(tile)                        # no visible edge where two tiles meet

Every tile is drawn on a torus, so it repeats with no edge:

- motifs sit on a lattice of whole cells (block, half-drop, brick or mirror repeat, with an
  even number of cells so that alternate columns and rows pair up), and every shape that
  crosses an edge of the tile is drawn again beyond the opposite edge;
- fields (stripes, checks, zebra, marbling) are functions of position with whole-number
  frequencies, and their noise is a random Fourier series with whole-number frequencies.

Shapes are drawn at twice the size and box-filtered down, which anti-aliases their edges;
every other pixel is exactly a palette colour. The largest share of the palette is the ground,
motifs take the other colours. Geometry is in tile units, so a print at 256 and at 1024 pixels
is the same design. `print.motif` steers the choice of motifs by keywords ("moon" gives
crescents, "persimmons drying on a string" gives fruit on a string); `seed` does the rest.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pipelines.fashion.palette import hex_to_rgb, srgb_to_lab
from pipelines.fashion.spec import PaletteColor, Print

RGB = tuple[int, int, int]

SUPERSAMPLE = 2
MIN_SIZE, MAX_SIZE = 16, 8192
# Cells across the tile for lattice prints: always even, so alternate columns and rows pair up.
CELLS = {"small": 8, "medium": 4, "large": 2}
# Whole repeats of a field (stripes, checks, noise) across the tile.
BANDS = {"small": 16, "medium": 8, "large": 4}
# The share of the surface motifs cover, whatever the palette says: below this a print reads
# as a plain fabric, above it the ground stops being the ground.
MIN_COVER, MAX_COVER = 0.15, 0.45
# How much worse than its worst interior step a tile's wrap may be (see seam_ratio).
SEAMLESS_LIMIT = 1.5


# --- inks: the palette as the print uses it ----------------------------------------------


@dataclass(frozen=True)
class Inks:
    """The palette's colours, largest share first: the ground, then the accents."""

    colors: tuple[RGB, ...]
    shares: tuple[float, ...]

    @classmethod
    def from_palette(cls, palette: Sequence[PaletteColor]) -> Inks:
        ordered = sorted(palette, key=lambda color: -color.share)
        return cls(tuple(hex_to_rgb(color.hex) for color in ordered), tuple(color.share for color in ordered))

    @property
    def ground(self) -> RGB:
        return self.colors[0]

    @property
    def accents(self) -> tuple[RGB, ...]:
        # A one-colour palette has nothing to draw motifs with: they vanish into the ground.
        return self.colors[1:] or self.colors[:1]

    @property
    def cover(self) -> float:
        """The share of the surface the motifs should cover."""
        return float(np.clip(1.0 - self.shares[0], MIN_COVER, MAX_COVER))

    def accent(self, index: int) -> RGB:
        return self.accents[index % len(self.accents)]

    def pick(self, rng: np.random.Generator, avoid: Iterable[RGB] = ()) -> RGB:
        """An accent drawn by share, unlike the colours in `avoid` where the palette allows."""
        avoid = set(avoid)
        choices = [color for color in self.accents if color not in avoid] or list(self.accents)
        weights = np.array([self.shares[self.colors.index(color)] if len(self.colors) > 1 else 1.0 for color in choices])
        return choices[int(rng.choice(len(choices), p=weights / weights.sum()))]

    def contrasting(self) -> RGB:
        """The accent that stands out most from the ground."""
        labs = srgb_to_lab(np.array(self.colors, dtype=np.float64))
        distances = np.linalg.norm(labs[1:] - labs[0], axis=1) if len(self.colors) > 1 else np.zeros(1)
        return self.accents[int(np.argmax(distances))]


# --- shapes and motifs --------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One filled polygon, stroked line, disc or ring. Points are (n, 2) arrays; discs and
    rings have one point, their centre."""

    kind: str
    points: np.ndarray
    color: RGB
    radius: float = 0.0
    width: float = 0.0


def polygon(points: np.ndarray, color: RGB) -> Shape:
    return Shape("polygon", np.asarray(points, dtype=np.float64), color)


def line(points: np.ndarray, color: RGB, width: float) -> Shape:
    return Shape("line", np.asarray(points, dtype=np.float64), color, width=width)


def disc(x: float, y: float, radius: float, color: RGB) -> Shape:
    return Shape("disc", np.array([[x, y]], dtype=np.float64), color, radius=radius)


def ring(x: float, y: float, radius: float, width: float, color: RGB) -> Shape:
    return Shape("ring", np.array([[x, y]], dtype=np.float64), color, radius=radius, width=width)


@dataclass(frozen=True)
class Motif:
    """Shapes drawn in motif units (about -1..1), placed in a cell: centre (x, y) in cell
    units, `size` cell units per motif unit, turned by `angle` radians."""

    shapes: tuple[Shape, ...]
    x: float
    y: float
    size: float
    angle: float = 0.0


def _rotation(angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


def _circle(points: int = 48) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _lens(start: float, end: float, width: float, roundness: float = 1.0, points: int = 24) -> np.ndarray:
    """A petal or leaf along the x axis from `start` to `end`, `width` at its widest;
    roundness below 1 gives blunter tips."""
    t = np.linspace(0, 1, points)
    x = start + (end - start) * t
    half = width / 2 * np.sin(np.pi * t) ** roundness
    return np.concatenate([np.stack([x, -half], axis=1), np.stack([x[::-1], half[::-1]], axis=1)[1:-1]])


def _star(points: int, inner: float, turn: float = -np.pi / 2) -> np.ndarray:
    angles = turn + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _crescent(offset: float, inner: float = 0.88, points: int = 40) -> np.ndarray:
    """A unit disc with a disc of radius `inner` at (offset, 0) taken out: opens to the right."""
    alpha = math.acos((1 + offset**2 - inner**2) / (2 * offset))
    outer = np.linspace(alpha, 2 * np.pi - alpha, points)
    end = math.atan2(math.sin(alpha), math.cos(alpha) - offset)
    hollow = np.linspace(2 * np.pi - end, end, points)[1:-1]
    return np.concatenate(
        [
            np.stack([np.cos(outer), np.sin(outer)], axis=1),
            np.stack([offset + inner * np.cos(hollow), inner * np.sin(hollow)], axis=1),
        ]
    )


def _blob(rng: np.random.Generator, roughness: float = 0.18, points: int = 40) -> np.ndarray:
    """A closed, irregular outline about the unit circle (a few random low harmonics)."""
    theta = np.linspace(0, 2 * np.pi, points, endpoint=False)
    radius = np.ones(points)
    for harmonic in range(2, 6):
        radius += rng.normal(0, roughness / harmonic) * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)


def _bezier(p0: Sequence[float], p1: Sequence[float], p2: Sequence[float], p3: Sequence[float], points: int = 16) -> np.ndarray:
    t = np.linspace(0, 1, points)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a polyline becomes a smooth curve with the same ends."""
    for _ in range(rounds):
        quarter = 0.75 * points[:-1] + 0.25 * points[1:]
        three_quarters = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([quarter, three_quarters], axis=1).reshape(-1, 2), points[-1:]])
    return points


def _scatter(rng: np.random.Generator, count: int, spacing: float) -> list[tuple[float, float]]:
    """Up to `count` points in the unit cell, at least `spacing` apart across its edges too
    (dart throwing; the spacing shrinks when the cell gets crowded)."""
    placed: list[tuple[float, float]] = []
    for attempt in range(count * 60):
        if len(placed) == count:
            break
        x, y = rng.uniform(0, 1, 2)
        needed = spacing * (0.97 ** (attempt // 20))
        if all(math.hypot(*_torus_delta(x - px, y - py)) >= needed for px, py in placed):
            placed.append((float(x), float(y)))
    return placed


def _torus_delta(dx: float, dy: float) -> tuple[float, float]:
    return dx - round(dx), dy - round(dy)


# --- the torus canvas ---------------------------------------------------------------------


class TorusCanvas:
    """A canvas whose opposite edges meet. Drawn at SUPERSAMPLE× and reduced by `finish()`."""

    def __init__(self, size: int, ground: RGB) -> None:
        self.size = size
        self.pixels = size * SUPERSAMPLE
        self.image = Image.new("RGB", (self.pixels, self.pixels), ground)
        self.draw = ImageDraw.Draw(self.image)

    def copies(self, low: np.ndarray, high: np.ndarray) -> list[tuple[int, int]]:
        """The whole-tile shifts that bring a box (in pixels) onto the canvas."""
        spans = []
        for axis in range(2):
            first = math.ceil(-high[axis] / self.pixels)
            last = math.ceil(1 - low[axis] / self.pixels) - 1
            spans.append([k * self.pixels for k in range(first, last + 1)])
        return [(dx, dy) for dx in spans[0] for dy in spans[1]]

    def paint(self, shape: Shape, dx: float = 0.0, dy: float = 0.0) -> None:
        """Draw one shape (in pixels), shifted by (dx, dy)."""
        if shape.kind in ("disc", "ring"):
            x, y = shape.points[0, 0] + dx, shape.points[0, 1] + dy
            box = [x - shape.radius, y - shape.radius, x + shape.radius, y + shape.radius]
            if shape.kind == "disc":
                self.draw.ellipse(box, fill=shape.color)
            else:
                self.draw.ellipse(box, outline=shape.color, width=max(1, round(shape.width)))
            return
        xy = (shape.points + (dx, dy)).ravel().tolist()
        if shape.kind == "polygon":
            self.draw.polygon(xy, fill=shape.color)
        else:
            width = max(1, round(shape.width))
            self.draw.line(xy, fill=shape.color, width=width, joint="curve")
            # Round caps: PIL's lines end square.
            for x, y in ((xy[0], xy[1]), (xy[-2], xy[-1])):
                self.draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=shape.color)

    def finish(self) -> Image.Image:
        return self.image.reduce(SUPERSAMPLE)


def _shape_bounds(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    margin = shape.radius + shape.width
    return shape.points.min(axis=0) - margin, shape.points.max(axis=0) + margin


def _placed(shape: Shape, centre: np.ndarray, matrix: np.ndarray, scale: float) -> Shape:
    """A motif-unit shape moved to pixels: points go through `matrix` (rotation, mirroring and
    scale) to `centre`; radii and widths scale with it."""
    return Shape(shape.kind, shape.points @ matrix.T + centre, shape.color, shape.radius * scale, shape.width * scale)


def lattice(cells: int, repeat: str) -> list[tuple[float, float, bool, bool]]:
    """Each cell's corner (tile units) and whether its contents are mirrored across x and y."""
    step = 1.0 / cells
    placements = []
    for column in range(cells):
        for row in range(cells):
            x, y = column * step, row * step
            if repeat == "half-drop" and column % 2:
                y += step / 2
            if repeat == "brick" and row % 2:
                x += step / 2
            mirrored = repeat == "mirror"
            placements.append((x, y, mirrored and column % 2 == 1, mirrored and row % 2 == 1))
    return placements


def render_lattice(size: int, ground: RGB, unit: Sequence[Motif], cells: int, repeat: str, *, depth: bool = False, offset: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    """Draw the unit in every cell of the lattice, on the torus.

    What overlaps what must not depend on where the tile was cut, or the join would show: each
    copy of a motif is ordered by its own position on the plane, after its index in the unit
    (or, with `depth`, lower motifs over higher ones first, as scales on a fish).
    """
    canvas = TorusCanvas(size, ground)
    scale_px = canvas.pixels / cells
    jobs = []
    for corner_x, corner_y, flip_x, flip_y in lattice(cells, repeat):
        mirror = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0])
        for index, motif in enumerate(unit):
            x = 1 - motif.x if flip_x else motif.x
            y = 1 - motif.y if flip_y else motif.y
            centre = np.array([corner_x + offset[0] + x / cells, corner_y + offset[1] + y / cells]) * canvas.pixels
            matrix = mirror @ _rotation(motif.angle) * motif.size * scale_px
            shapes = [_placed(shape, centre, matrix, motif.size * scale_px) for shape in motif.shapes]
            bounds = [_shape_bounds(shape) for shape in shapes]
            low, high = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
            for dx, dy in canvas.copies(low, high):
                cx, cy = round(centre[0] + dx, 6), round(centre[1] + dy, 6)
                key = (cy, cx, index) if depth else (index, cy, cx)
                jobs.append((key, dx, dy, shapes))
    jobs.sort(key=lambda job: job[0])
    for _, dx, dy, shapes in jobs:
        for shape in shapes:
            canvas.paint(shape, dx, dy)
    return canvas.finish()


# --- fields -------------------------------------------------------------------------------


def _centres(pixels: int) -> np.ndarray:
    """Pixel centres in tile units."""
    return (np.arange(pixels) + 0.5) / pixels


def _bands(phase: np.ndarray, widths: Sequence[float]) -> np.ndarray:
    """Which band of a repeating sett each phase (in repeats) falls in."""
    edges = np.cumsum(widths) / np.sum(widths)
    return np.minimum(np.searchsorted(edges, phase % 1.0, side="right"), len(widths) - 1)


def _labels_to_tile(labels: np.ndarray, colors: Sequence[RGB], size: int) -> Image.Image:
    """Colour a SUPERSAMPLE× map of palette indices and box-filter it to the tile."""
    rgb = np.asarray(colors, dtype=np.uint8)[labels]
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB").reduce(SUPERSAMPLE)


def periodic_noise(rng: np.random.Generator, cycles: int, pixels: int, grid: int = 128) -> np.ndarray:
    """A smooth random field that repeats exactly across the tile, zero mean and unit spread.

    A random Fourier series with whole-number frequencies around `cycles` per tile, evaluated
    on a coarse grid and interpolated (with wrap-around) to `pixels` × `pixels`.
    """
    frequencies = np.fft.fftfreq(grid, 1.0 / grid)
    fy, fx = np.meshgrid(frequencies, frequencies[: grid // 2 + 1], indexing="ij")
    radius = np.hypot(fx, fy)
    amplitude = np.where(radius > 0, np.exp(-((radius / cycles) ** 2)), 0.0)
    spectrum = amplitude * (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape))
    field = np.fft.irfft2(spectrum, s=(grid, grid))
    field = ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)
    return _upsample_periodic(field, pixels)


def _upsample_periodic(field: np.ndarray, pixels: int) -> np.ndarray:
    grid, pad = field.shape[0], 3
    # Padding with the opposite edge makes the interpolation wrap; `box` keeps the sampling
    # positions exactly those of a periodic grid.
    padded = Image.fromarray(np.pad(field, pad, mode="wrap"), "F")
    return np.asarray(padded.resize((pixels, pixels), Image.Resampling.BILINEAR, box=(pad, pad, pad + grid, pad + grid)))


# --- the print types ------------------------------------------------------------------------

KEYWORDS: dict[str, tuple[str, ...]] = {
    "crescent": ("moon", "moons", "crescent", "crescents", "lunar", "moonlit", "moonlight"),
    "star": ("star", "stars", "starry", "twinkle", "sparkle", "sparkles"),
    "constellation": ("constellation", "constellations", "zodiac"),
    "sun": ("sun", "suns", "solar", "sunburst", "sunny"),
    "flower": ("flower", "flowers", "floral", "blossom", "blossoms", "petal", "petals", "daisy", "daisies", "rose", "roses", "peony", "peonies", "camellia", "magnolia", "lotus", "bloom", "blooms"),
    "leaf": ("leaf", "leaves", "fern", "ferns", "foliage", "vine", "vines", "botanical"),
    "fruit": ("persimmon", "persimmons", "fruit", "fruits", "orange", "oranges", "peach", "peaches", "tangerine", "tangerines", "citrus", "apple", "apples", "berry", "berries", "plum", "plums"),
    "string": ("string", "strings", "garland", "garlands", "hanging", "strung", "drying"),
    "drop": ("rain", "rainy", "raindrop", "raindrops", "drop", "drops", "droplet", "droplets", "puddle", "puddles", "tear", "tears"),
    "wave": ("wave", "waves", "sea", "ocean", "seigaiha", "tide", "tides", "scale", "scales"),
    "pond": ("pond", "ripple", "ripples", "concentric", "water", "lake", "circles"),
    "sign": ("sign", "signs", "signboard", "signboards", "menu", "menus", "market", "placard", "placards"),
    "leopard": ("leopard", "cheetah", "jaguar", "ocelot", "rosette", "rosettes", "spots", "spotted"),
    "zebra": ("zebra", "zebras", "tiger", "tigers", "tigerstripe"),
    "brush": ("brush", "brushstroke", "brushstrokes", "stroke", "strokes", "painterly", "ink", "calligraphy"),
    "marble": ("marble", "marbled", "marbling", "swirl", "swirls", "suminagashi", "cloud", "clouds"),
    "terrazzo": ("terrazzo", "chips", "confetti", "stone", "stones", "pebble", "pebbles", "crackle", "glaze", "mosaic"),
    "fold": ("fold", "folded", "folds", "origami", "paper", "hanji", "triangle", "triangles"),
    "stitch": ("stitch", "stitches", "stitching", "running", "thread", "sashiko", "seam"),
    "diamond": ("diamond", "diamonds", "argyle", "harlequin", "lozenge"),
    "chevron": ("chevron", "chevrons", "zigzag", "zigzags", "herringbone"),
    "square": ("square", "squares", "grid", "window", "windows", "tile", "tiles"),
    "gingham": ("gingham", "picnic", "vichy"),
    "tartan": ("tartan", "plaid", "madras"),
    "windowpane": ("windowpane", "graph", "overcheck"),
    "pinstripe": ("pinstripe", "pinstripes", "pin"),
    "breton": ("breton", "sailor", "marinière", "mariniere"),
    "diagonal": ("diagonal", "bias", "regimental", "slanted"),
    "vertical": ("vertical", "awning", "candy"),
    "horizontal": ("horizontal", "horizon", "layers"),
}


def _words(motif: str) -> set[str]:
    return set(re.findall(r"[a-zà-ÿ]+", motif.lower()))


def keywords(motif: str) -> set[str]:
    """The motif keywords a brief's words mention ("moon over rooftops" -> {"crescent"})."""
    words = _words(motif)
    return {keyword for keyword, spellings in KEYWORDS.items() if words & set(spellings)}


# Each print type's variants; the brief's keywords pick one, else the seed does.
VARIANTS: dict[str, tuple[str, ...]] = {
    "solid": ("plain",),
    "floral": ("flowers", "foliage", "fruit", "fruit-on-string"),
    "celestial": ("moonlit", "starfield", "constellation", "sunlit"),
    "geometric": ("diamond", "fold", "square", "chevron", "stitch"),
    "stripes": ("horizontal", "vertical", "diagonal"),
    "checks": ("gingham", "tartan", "windowpane"),
    "abstract": ("blobs", "marble", "brush", "terrazzo"),
    "polka-dot": ("classic", "duo", "confetti"),
    "animal": ("leopard", "zebra"),
    "paisley": ("boteh",),
    "graphic": ("poster", "crescent", "star", "sun", "fruit", "flower", "leaf", "drop", "sign"),
    "color-block": ("blocks",),
    "ripple": ("pond", "seigaiha", "raindrops"),
}
# Variants the seed may pick on its own (the others only answer a keyword).
SEEDED_VARIANTS: dict[str, tuple[str, ...]] = {"floral": ("flowers", "flowers", "foliage"), "graphic": ("poster",)}
# Keywords that name a variant by another word.
_VARIANT_KEYWORDS: dict[str, dict[str, str]] = {
    "floral": {"flower": "flowers", "leaf": "foliage", "fruit": "fruit"},
    "celestial": {"crescent": "moonlit", "star": "starfield", "constellation": "constellation", "sun": "sunlit"},
    "stripes": {"pinstripe": "vertical", "breton": "horizontal"},
    "graphic": {"constellation": "star"},
    "ripple": {"pond": "pond", "wave": "seigaiha", "drop": "raindrops"},
}


def _variant(print_type: str, motif: str, rng: np.random.Generator) -> str:
    """The variant the motif's words ask for (a keyword, or the variant's own name), else a
    seeded one."""
    words = keywords(motif)
    aliases = _VARIANT_KEYWORDS.get(print_type, {})
    wanted = {aliases.get(word, word) for word in words} | _words(motif)
    if print_type == "floral" and "fruit" in words and "string" in words:
        wanted.add("fruit-on-string")
    if print_type == "floral" and "flower" in words:
        wanted.discard("foliage")
    variants = VARIANTS[print_type]
    # Later variants are the more specific ones ("fruit-on-string" after "fruit"): they win.
    for variant in reversed(variants):
        if variant in wanted:
            return variant
    seeded = SEEDED_VARIANTS.get(print_type, variants)
    return seeded[int(rng.integers(len(seeded)))]


@dataclass
class Job:
    """Everything a print type needs: its randomness, colours, words, scale and repeat."""

    rng: np.random.Generator
    inks: Inks
    words: set[str]
    variant: str
    scale: str
    repeat: str
    size: int

    @property
    def cells(self) -> int:
        return CELLS[self.scale]

    @property
    def bands(self) -> int:
        return BANDS[self.scale]

    def motif_radius(self, count: int, area: float, largest: float = 0.42) -> float:
        """The radius (cell units) at which `count` motifs covering `area` × radius² each
        cover the ink share of a cell."""
        return min(largest, math.sqrt(self.inks.cover / (count * area)))

    def lattice_tile(self, unit: Sequence[Motif], *, depth: bool = False) -> Image.Image:
        return render_lattice(self.size, self.inks.ground, unit, self.cells, self.repeat, depth=depth)


def solid_tile(job: Job) -> Image.Image:
    return Image.new("RGB", (job.size, job.size), job.inks.ground)


def polka_dot_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    if job.variant == "classic":
        radius = job.motif_radius(1, math.pi)
        unit = [Motif((disc(0, 0, 1, inks.accent(0)),), 0.5, 0.5, radius)]
    elif job.variant == "duo":
        radius = job.motif_radius(1, math.pi * 1.2)
        unit = [
            Motif((disc(0, 0, 1, inks.accent(0)),), 0.5, 0.5, radius),
            Motif((disc(0, 0, 1, inks.pick(rng, avoid=[inks.accent(0)])),), 0.0, 0.0, radius * 0.45),
        ]
    else:
        count = int(rng.integers(4, 7))
        sizes = rng.uniform(0.5, 1.0, count)
        radius = job.motif_radius(1, math.pi * float(np.sum(sizes**2)), largest=0.3)
        spots = _scatter(rng, count, 2.2 * radius)
        unit = [Motif((disc(0, 0, 1, inks.pick(rng)),), x, y, radius * s) for (x, y), s in zip(spots, sizes)]
    return job.lattice_tile(unit)


def _flower(rng: np.random.Generator, petal: RGB, heart: RGB, inner: RGB | None) -> tuple[Shape, ...]:
    count = int(rng.integers(5, 9))
    width = rng.uniform(0.3, 0.55) * 5 / count * 1.4
    roundness = rng.uniform(0.5, 0.9)
    turn = rng.uniform(0, 2 * np.pi)
    shapes = [polygon(_lens(0.12, 1.0, width, roundness) @ _rotation(turn + k * 2 * np.pi / count).T, petal) for k in range(count)]
    if inner is not None:
        shapes += [polygon(_lens(0.1, 0.6, width * 0.8, roundness) @ _rotation(turn + (k + 0.5) * 2 * np.pi / count).T, inner) for k in range(count)]
    shapes.append(disc(0, 0, rng.uniform(0.18, 0.28), heart))
    return tuple(shapes)


def _leaf(color: RGB, vein: RGB | None) -> tuple[Shape, ...]:
    shapes = [polygon(_lens(0.0, 1.0, 0.42), color)]
    if vein is not None:
        shapes.append(line(np.array([[0.08, 0.0], [0.85, 0.0]]), vein, 0.04))
    return tuple(shapes)


def _fruit(rng: np.random.Generator, skin: RGB, calyx: RGB) -> tuple[Shape, ...]:
    """A persimmon: a slightly squat round fruit with a four-lobed calyx on top."""
    body = _circle() * [1.0, 0.9]
    lobes = _star(4, 0.45, turn=rng.uniform(0, np.pi / 2)) * 0.42 + [0.0, -0.82]
    return (polygon(body, skin), polygon(lobes, calyx), line(np.array([[0.0, -0.85], [0.05, -1.08]]), calyx, 0.08))


def floral_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    if job.variant.startswith("fruit"):
        return _fruit_unit_tile(job)
    leaves_only = job.variant == "foliage"
    count = int(rng.integers(1, 4))
    radius = job.motif_radius(count, 2.4 if leaves_only else 2.6, largest=0.36)
    spots = _scatter(rng, count, 2.1 * radius)
    sizes = rng.uniform(0.75, 1.15, len(spots))
    leaf_color = inks.pick(rng, avoid=[inks.accent(0)])
    unit: list[Motif] = []
    for (x, y), size in zip(spots, sizes):
        for _ in range(int(rng.integers(3, 6) if leaves_only else rng.integers(1, 3))):
            angle = rng.uniform(0, 2 * np.pi)
            unit.append(Motif(_leaf(leaf_color, inks.ground if leaves_only else None), x, y, radius * size * (1.0 if leaves_only else 1.3), angle))
    if not leaves_only:
        for index, ((x, y), size) in enumerate(zip(spots, sizes)):
            petal = inks.accent(0) if index == 0 else inks.pick(rng)
            heart = inks.pick(rng, avoid=[petal])
            inner = inks.pick(rng, avoid=[petal, heart]) if rng.random() < 0.4 else None
            unit.append(Motif(_flower(rng, petal, heart, inner), x, y, radius * size))
    return job.lattice_tile(unit)


def _fruit_unit_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    skin, calyx = inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])
    if job.variant == "fruit-on-string":
        # Fruit hung along a string that runs through the whole column of cells.
        radius = min(0.2, job.motif_radius(2, 3.0))
        string = Motif((line(np.array([[0.0, -0.5], [0.0, 0.5]]), calyx, 0.012),), 0.5, 0.5, 1.0)
        fruit = [Motif(_fruit(rng, skin, calyx), 0.5, y + 1.05 * radius, radius) for y in (0.2, 0.7)]
        return job.lattice_tile([string, *fruit])
    count = int(rng.integers(1, 4))
    radius = job.motif_radius(count, 3.0, largest=0.3)
    spots = _scatter(rng, count, 2.3 * radius)
    return job.lattice_tile([Motif(_fruit(rng, skin, calyx), x, y, radius, rng.uniform(-0.5, 0.5)) for x, y in spots])


def celestial_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    style = job.variant
    main, other = inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])
    radius = job.motif_radius(1, 1.6, largest=0.3)
    unit: list[Motif] = []
    if style == "constellation":
        stars = _scatter(rng, int(rng.integers(4, 7)), 0.18)
        path = np.array(sorted(stars, key=lambda p: (p[0], p[1])))
        unit.append(Motif((line(path - 0.5, other, 0.006),), 0.5, 0.5, 1.0))
        unit += [Motif((polygon(_star(4, 0.3), main),), x, y, radius * rng.uniform(0.25, 0.4)) for x, y in stars]
    else:
        x, y = rng.uniform(0.25, 0.75, 2)
        if style == "moonlit":
            unit.append(Motif((polygon(_crescent(rng.uniform(0.35, 0.55)), main),), x, y, radius * 1.2, rng.uniform(-1.2, 0.4)))
        elif style == "sunlit":
            rays = int(rng.integers(8, 14))
            shapes = [polygon(np.array([[0.68, -0.1], [1.0, 0.0], [0.68, 0.1]]) @ _rotation(k * 2 * np.pi / rays).T, main) for k in range(rays)]
            unit.append(Motif((*shapes, disc(0, 0, 0.55, main)), x, y, radius * 1.1))
        else:
            unit.append(Motif((polygon(_star(5, 0.42), main),), x, y, radius, rng.uniform(-0.3, 0.3)))
        for sx, sy in _scatter(rng, 6, 0.2):
            if math.hypot(*_torus_delta(sx - x, sy - y)) < radius * 1.4:
                continue
            shape = polygon(_star(4, 0.25), other) if rng.random() < 0.5 else disc(0, 0, 0.35, other)
            unit.append(Motif((shape,), sx, sy, radius * rng.uniform(0.15, 0.35)))
    return job.lattice_tile(unit)


def geometric_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    style = job.variant
    first, second = inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])
    half = 0.5 * math.sqrt(min(1.0, inks.cover / 0.5))
    if style == "diamond":
        diamond = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]]) * half
        overcheck = (line(np.array([[-0.5, -0.5], [0.5, 0.5]]), second, 0.01), line(np.array([[0.5, -0.5], [-0.5, 0.5]]), second, 0.01))
        unit = [Motif((polygon(diamond, first),), 0.5, 0.5, 1.0), Motif(overcheck, 0.5, 0.5, 1.0)]
    elif style == "fold":
        # Folded paper: each cell halved on a diagonal, the halves in two inks, a crease of ground between.
        gap = 1 - math.sqrt(inks.cover)
        upper = np.array([[gap, 0.0], [1.0, 0.0], [1.0, 1.0 - gap]]) - 0.5
        lower = np.array([[0.0, gap], [0.0, 1.0], [1.0 - gap, 1.0]]) - 0.5
        unit = [Motif((polygon(upper, first), polygon(lower, second)), 0.5, 0.5, 1.0)]
    elif style == "square":
        steps = int(rng.integers(3, 5))
        colors = [first, inks.ground, second, inks.ground]
        outer = 0.5 * math.sqrt(1.5 * inks.cover)  # about a third of the nest is ground
        shapes = [polygon(np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * outer * (1 - k / steps), colors[k % 4]) for k in range(steps)]
        unit = [Motif(tuple(shapes), 0.5, 0.5, 1.0)]
    elif style == "chevron":
        thickness = 0.5 * inks.cover
        top = np.array([[-0.02, 0.35], [0.5, 0.1], [1.02, 0.35]])
        band = np.concatenate([top, (top + [0, thickness])[::-1]])
        second_band = band + [0, 0.5]
        unit = [Motif((polygon(band - 0.5, first), polygon(second_band - 0.5, second)), 0.5, 0.5, 1.0)]
    else:
        # Running stitch: rows of short dashes, each row offset by half a stitch.
        width = 0.02 + 0.03 * inks.cover
        dashes = [line(np.array([[x0, y], [x0 + 0.3, y]]) - 0.5, first if y < 0.5 else second, width) for y in (0.25, 0.75) for x0 in ((0.1, 0.6) if y < 0.5 else (-0.15, 0.35, 0.85))]
        unit = [Motif(tuple(dashes), 0.5, 0.5, 1.0)]
    return job.lattice_tile(unit)


def _keyword_shapes(keyword: str, rng: np.random.Generator, main: RGB, detail: RGB, ground: RGB) -> tuple[Shape, ...]:
    """A bold motif for a keyword of the brief."""
    if keyword == "crescent":
        return (polygon(_crescent(0.45), main),)
    if keyword == "star":
        return (polygon(_star(5, 0.45), main),)
    if keyword == "sun":
        rays = [polygon(np.array([[0.65, -0.12], [1.0, 0.0], [0.65, 0.12]]) @ _rotation(k * np.pi / 6).T, main) for k in range(12)]
        return (*rays, disc(0, 0, 0.55, main))
    if keyword == "fruit":
        return _fruit(rng, main, detail)
    if keyword == "flower":
        return _flower(rng, main, detail, None)
    if keyword == "leaf":
        return _leaf(main, ground)
    if keyword == "drop":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return (polygon(np.stack([0.75 * np.sin(t) * np.sin(t / 2), -np.cos(t)], axis=1), main),)
    if keyword == "sign":
        # A hand-painted sign: a board with brush marks where the words would be, none legible.
        board = np.array([[-1.0, -0.62], [1.0, -0.62], [1.0, 0.62], [-1.0, 0.62]])
        x = np.linspace(-0.75, 0.75, 24)
        marks = [line(np.stack([x, y + 0.06 * np.sin(x * rng.uniform(8, 14) + rng.uniform(0, 6))], axis=1), detail, 0.1) for y in (-0.25, 0.15)]
        return (polygon(board, main), *marks)
    raise ValueError(f"no bold motif for {keyword!r}")


def graphic_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    main, detail = inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])
    if job.variant != "poster":
        radius = job.motif_radius(1, 2.2, largest=0.4)
        shapes = _keyword_shapes(job.variant, rng, main, detail, inks.ground)
        unit = [Motif(shapes, 0.5, 0.5, radius, rng.uniform(-0.3, 0.3)), Motif((disc(0, 0, 1, detail),), 0.0, 0.0, radius * 0.18)]
        return job.lattice_tile(unit)
    # A poster-like composition: quarter circles in the corners, a half disc, a bar and a dot,
    # sized so that together they cover about the ink share of the cell.
    pieces = []
    corners = rng.permutation(4)[: int(rng.integers(1, 3))]
    for corner in corners:
        radius = math.sqrt(inks.cover * 0.6 * 4 / (math.pi * len(corners)))
        start = corner * np.pi / 2
        arc = np.linspace(start, start + np.pi / 2, 16)
        cx, cy = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)][corner]
        pieces.append(polygon(np.concatenate([[[cx, cy]], np.stack([cx + radius * np.cos(arc), cy + radius * np.sin(arc)], axis=1)]), inks.pick(rng)))
    if rng.random() < 0.6:
        radius = math.sqrt(inks.cover * 0.25 * 2 / math.pi)
        arc = np.linspace(0, np.pi, 24)
        pieces.append(polygon(np.stack([radius * np.cos(arc), 0.5 - radius * np.sin(arc)], axis=1), inks.pick(rng)))
    if rng.random() < 0.6:
        y, height = rng.uniform(-0.4, 0.2), 0.1 * inks.cover
        pieces.append(polygon(np.array([[-0.5, y], [0.5, y], [0.5, y + height], [-0.5, y + height]]), inks.pick(rng)))
    pieces.append(disc(rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.06, 0.14), detail))
    return job.lattice_tile([Motif(tuple(pieces), 0.5, 0.5, 1.0)])


def _boteh() -> np.ndarray:
    """The paisley teardrop: a round body at the bottom, its tip curling up to the right."""
    tip, left, right = (0.55, -1.05), (-0.62, 0.25), (0.62, 0.3)
    return np.concatenate(
        [
            _bezier(tip, (0.0, -1.15), (-0.72, -0.5), left, 20)[:-1],
            _bezier(left, (-0.58, 1.0), (0.66, 1.0), right, 20)[:-1],
            _bezier(right, (0.6, -0.25), (0.18, -0.5), tip, 20)[:-1],
        ]
    )


def _outline_dots(outline: np.ndarray, spacing: float, offset: float, radius: float, color: RGB) -> list[Shape]:
    """Dots following a closed outline, `offset` outside it."""
    centre = outline.mean(axis=0)
    closed = np.concatenate([outline, outline[:1]])
    lengths = np.cumsum(np.r_[0, np.linalg.norm(np.diff(closed, axis=0), axis=1)])
    dots = []
    for distance in np.arange(0, lengths[-1], spacing):
        point = np.array([np.interp(distance, lengths, closed[:, axis]) for axis in range(2)])
        outward = point - centre
        point = point + offset * outward / (np.linalg.norm(outward) + 1e-9)
        dots.append(disc(point[0], point[1], radius, color))
    return dots


def paisley_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    body, inner, detail = inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)]), inks.pick(rng)
    outline = _boteh()
    eye = (0.0, 0.35)
    shapes = [
        *_outline_dots(outline, 0.2, 0.14, 0.045, detail),
        polygon(outline, body),
        polygon((outline - eye) * 0.58 + eye, inner),
        disc(eye[0], eye[1], 0.14, body),
    ]
    radius = job.motif_radius(2, 1.6, largest=0.3)
    unit = [Motif(tuple(shapes), 0.3, 0.32, radius, rng.uniform(-0.5, 0.5))]
    unit.append(Motif(tuple(shapes), 0.72, 0.75, radius * 0.8, np.pi + rng.uniform(-0.5, 0.5)))
    return job.lattice_tile(unit)


def animal_tile(job: Job) -> Image.Image:
    return _leopard(job) if job.variant == "leopard" else _zebra(job)


def _leopard(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    dark = inks.contrasting()
    fill = inks.pick(rng, avoid=[dark]) if len(inks.accents) > 1 else inks.ground
    count = int(rng.integers(4, 7))
    radius = job.motif_radius(count, 3.6, largest=0.2)
    unit = []
    for x, y in _scatter(rng, count, 2.3 * radius):
        outline = _blob(rng, 0.14, 60) * [1.0, rng.uniform(0.7, 1.0)]
        shapes = [polygon(outline * 0.8, fill)]
        # A broken ring: three or four arcs of the outline with gaps between them.
        pieces = int(rng.integers(3, 5))
        cuts = np.sort(rng.choice(60, pieces, replace=False))
        for start, end in zip(cuts, np.r_[cuts[1:], cuts[0] + 60]):
            arc = outline[np.arange(start + 3, end - 2) % 60]
            if len(arc) >= 3:
                shapes.append(line(arc, dark, 0.24))
        unit.append(Motif(tuple(shapes), x, y, radius * rng.uniform(0.8, 1.2), rng.uniform(0, 2 * np.pi)))
    for x, y in _scatter(rng, 3, 0.2):
        unit.append(Motif((polygon(_blob(rng, 0.2, 24), dark),), x, y, radius * rng.uniform(0.2, 0.35)))
    return job.lattice_tile(unit)


def _zebra(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    pixels = job.size * SUPERSAMPLE
    stripes = job.bands * 3 // 2
    across = _centres(pixels)[:, None]
    bend = periodic_noise(rng, max(2, stripes // 4), pixels)
    thickness = periodic_noise(rng, max(2, stripes // 3), pixels)
    phase = stripes * across + 0.9 * bend  # bent by about a stripe's width: wavy, not tangled
    duty = np.clip(inks.cover + 0.12 * thickness, 0.08, 0.9)
    labels = (phase % 1.0 < duty).astype(np.uint8)
    if rng.random() < 0.5:
        labels = labels.T
    return _labels_to_tile(labels, [inks.ground, inks.contrasting()], job.size)


def _sett(inks: Inks, rng: np.random.Generator, mirrored: bool) -> tuple[list[int], list[float]]:
    """A stripe order: the ground between accents, each band as wide as its colour's share
    (the ground's share split between its bands). Mirrored setts read the same both ways."""
    accents = list(range(1, len(inks.colors))) or [0]
    order = [int(i) for i in rng.permutation(accents)]
    colors, widths = [], []
    ground_width = inks.shares[0] / len(order)
    for accent in order:
        colors += [0, accent]
        widths += [ground_width, inks.shares[accent] if accent else ground_width]
    if mirrored and len(colors) > 2:
        # Reflected about its first and last bands: the bands between appear twice, at half width.
        middle_colors, middle_widths = colors[1:-1], [w / 2 for w in widths[1:-1]]
        colors = [colors[0], *middle_colors, colors[-1], *middle_colors[::-1]]
        widths = [widths[0], *middle_widths, widths[-1], *middle_widths[::-1]]
    return colors, widths


def _mid_first_band(widths: Sequence[float], rng: np.random.Generator) -> float:
    """Where the tile starts in the sett: inside the first band, away from its edges (a
    printer's repeat line belongs in flat colour)."""
    return widths[0] * rng.uniform(0.3, 0.7) / sum(widths)


def stripes_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    pixels = job.size * SUPERSAMPLE
    direction = job.variant
    colors, widths = _sett(inks, rng, mirrored=job.repeat == "mirror")
    if "pinstripe" in job.words and len(colors) > 1:
        widths = [w if c == 0 else 0.08 * sum(widths) / len(colors) for c, w in zip(colors, widths)]
    start = _mid_first_band(widths, rng)
    if direction == "diagonal":
        diagonal = (np.arange(2 * pixels - 1) + 1) / pixels
        band = np.asarray(colors)[_bands(job.bands * diagonal + start, widths)]
        index = np.arange(pixels)
        labels = band[index[:, None] + index[None, :]]
    else:
        along = _centres(pixels)
        band = np.asarray(colors)[_bands(job.bands * along + start, widths)]
        if job.repeat in ("half-drop", "brick"):
            # Broken stripes: blocks along the stripe, every other one shifted by half a sett.
            blocks = max(2, job.bands // 2) * 2
            shifted = np.asarray(colors)[_bands(job.bands * along + start + 0.5, widths)]
            odd = (np.floor(_centres(pixels) * blocks + 0.5).astype(int) % 2).astype(bool)
            labels = np.where(odd[None, :], shifted[:, None], band[:, None])
        else:
            labels = np.broadcast_to(band[:, None], (pixels, pixels))
        if direction == "vertical":
            labels = labels.T
    return _labels_to_tile(labels, inks.colors, job.size)


def checks_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    pixels = job.size * SUPERSAMPLE
    style = job.variant
    repeats = job.bands * 3 // 4
    accent = inks.colors.index(inks.pick(rng)) if len(inks.colors) > 1 else 0
    if style == "windowpane":
        colors, widths = [0, accent], [1.0, (0.06 + 0.1 * inks.cover) * rng.uniform(0.8, 1.25)]
    elif style == "gingham" or len(inks.colors) < 3:
        colors, widths = [0, accent], [inks.shares[0], inks.shares[accent]]
    else:
        colors, widths = _sett(inks, rng, mirrored=True)
    start = _mid_first_band(widths, rng)
    along = _centres(pixels)
    warp = np.asarray(colors)[_bands(repeats * along + start, widths)]
    weft = warp if job.repeat not in ("half-drop", "brick") else np.asarray(colors)[_bands(repeats * along + start + 0.5, widths)]
    if style == "windowpane":
        labels = np.maximum(warp[None, :], weft[:, None])
    else:
        # Where warp and weft differ, a 2/2 twill shows both threads in diagonal lines two
        # output pixels wide: the mixed colour of a real check, in palette colours only.
        output = np.arange(pixels) // SUPERSAMPLE
        twills = max(1, round(job.size / 4))
        twill = (np.floor(((output[:, None] + output[None, :]) + 0.5) * twills / job.size * 2) % 2).astype(bool)
        labels = np.where(twill, warp[None, :], weft[:, None])
    return _labels_to_tile(labels, inks.colors, job.size)


def _treemap(shares: Sequence[float], order: Sequence[int], box: tuple[float, float, float, float], vertical: bool) -> list[tuple[int, tuple[float, float, float, float]]]:
    """Split a box into rectangles with areas proportional to the shares."""
    if len(order) == 1:
        return [(order[0], box)]
    total = sum(shares[i] for i in order)
    running, cut = 0.0, 1
    for cut in range(1, len(order)):
        running += shares[order[cut - 1]]
        if running >= total / 2:
            break
    fraction = sum(shares[i] for i in order[:cut]) / total
    x0, y0, x1, y1 = box
    if vertical:
        middle = x0 + (x1 - x0) * fraction
        first, second = (x0, y0, middle, y1), (middle, y0, x1, y1)
    else:
        middle = y0 + (y1 - y0) * fraction
        first, second = (x0, y0, x1, middle), (x0, middle, x1, y1)
    return _treemap(shares, order[:cut], first, not vertical) + _treemap(shares, order[cut:], second, not vertical)


def color_block_tile(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    order = [int(i) for i in rng.permutation(len(inks.colors))]
    blocks = _treemap(inks.shares, order, (0.0, 0.0, 1.0, 1.0), bool(rng.integers(2)))
    # Blocks overlap by a hair, so no ground shows through the joins.
    shapes = tuple(
        polygon(np.array([[x0, y0], [x1 + 0.002, y0], [x1 + 0.002, y1 + 0.002], [x0, y1 + 0.002]]) - 0.5, inks.colors[index])
        for index, (x0, y0, x1, y1) in blocks
    )
    cells = {"small": 4, "medium": 2, "large": 1}[job.scale]
    if job.repeat != "block":
        cells = max(cells, 2)
    # Shift the whole design so that the tile's edges fall inside blocks, not on their joins.
    edges_x = [b[1][0] for b in blocks] + [b[1][2] for b in blocks]
    edges_y = [b[1][1] for b in blocks] + [b[1][3] for b in blocks]
    offset = (_clear_of(edges_x, rng) / cells, _clear_of(edges_y, rng) / cells)
    return render_lattice(job.size, inks.ground, [Motif(shapes, 0.5, 0.5, 1.0)], cells, job.repeat, offset=offset)


def _clear_of(edges: Sequence[float], rng: np.random.Generator) -> float:
    """A shift (cell units) that puts the cell's edge midway into the widest block."""
    cuts = np.unique(np.round(np.mod(edges, 1.0), 6))
    gaps = np.diff(np.r_[cuts, cuts[0] + 1.0])
    widest = int(np.argmax(gaps))
    return -float(cuts[widest] + gaps[widest] * rng.uniform(0.35, 0.65)) % 1.0


def abstract_tile(job: Job) -> Image.Image:
    return {"blobs": _blobs, "marble": _marble, "brush": _brush, "terrazzo": _terrazzo}[job.variant](job)


def _blobs(job: Job) -> Image.Image:
    """Independent noise fields, one per accent, each thresholded to its share and laid on
    the ground in turn (smallest share on top); the shares come out right on average."""
    rng, inks = job.rng, job.inks
    pixels = job.size * SUPERSAMPLE
    labels = np.zeros((pixels, pixels), dtype=np.uint8)
    covers, free = [], 1.0
    for share in reversed(inks.shares[1:]):
        covers.append(min(0.95, share / free))
        free *= 1 - covers[-1]
    for index, cover in zip(range(1, len(inks.colors)), reversed(covers)):
        field = periodic_noise(rng, max(2, job.bands // 2), pixels)
        labels[field > np.quantile(field[::16, ::16], 1 - cover)] = index
    return _labels_to_tile(labels, inks.colors, job.size)


def _marble(job: Job) -> Image.Image:
    """One warped noise field cut into bands at its quantiles: each colour gets its share."""
    rng, inks = job.rng, job.inks
    pixels = job.size * SUPERSAMPLE
    cycles = max(2, job.bands // 4)
    field = periodic_noise(rng, cycles, pixels) + 0.6 * np.sin(2 * np.pi * (cycles * _centres(pixels)[None, :] + 0.5 * periodic_noise(rng, cycles, pixels)))
    order = [int(i) for i in rng.permutation(len(inks.colors))]
    cuts = np.quantile(field[::16, ::16], np.cumsum([inks.shares[i] for i in order])[:-1])
    labels = np.asarray(order, dtype=np.uint8)[np.searchsorted(cuts, field)]
    return _labels_to_tile(labels, inks.colors, job.size)


def _brush(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    unit = []
    for _ in range(int(rng.integers(3, 6))):
        steps = rng.normal(0, 1, (6, 2)).cumsum(axis=0)
        path = _smooth(steps - steps.mean(axis=0)) / (np.abs(steps).max() + 1e-9) * 0.5
        width = rng.uniform(0.06, 0.12) * (0.5 + inks.cover)
        unit.append(Motif((line(path, inks.pick(rng), width),), *rng.uniform(0, 1, 2), 1.0, rng.uniform(0, 2 * np.pi)))
    for x, y in _scatter(rng, int(rng.integers(2, 5)), 0.2):
        unit.append(Motif((polygon(_blob(rng, 0.3, 24), inks.pick(rng)),), x, y, rng.uniform(0.03, 0.07)))
    return job.lattice_tile(unit)


def _terrazzo(job: Job) -> Image.Image:
    rng, inks = job.rng, job.inks
    count = int(rng.integers(8, 15))
    radius = job.motif_radius(count, 2.2, largest=0.12)
    unit = []
    for x, y in _scatter(rng, count, 1.9 * radius):
        corners = int(rng.integers(4, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        chip = np.stack([np.cos(angles), np.sin(angles)], axis=1) * rng.uniform(0.6, 1.0, (corners, 1))
        unit.append(Motif((polygon(chip, inks.pick(rng)),), x, y, radius * rng.uniform(0.6, 1.3), rng.uniform(0, 2 * np.pi)))
    return job.lattice_tile(unit)


def ripple_tile(job: Job) -> Image.Image:
    return {"pond": _pond, "seigaiha": _seigaiha, "raindrops": _raindrops}[job.variant](job)


def _rings(radii: Sequence[float], cover: float, colors: Sequence[RGB]) -> tuple[Shape, ...]:
    """Concentric rings at `radii` (motif units), thinning outward, together covering `cover`
    motif units² (so a ripple's ink follows the palette's share)."""
    taper = [1 - 0.5 * k / len(radii) for k in range(len(radii))]
    width = cover / (2 * np.pi * sum(r * t for r, t in zip(radii, taper)))
    spacing = min(np.diff(radii)) if len(radii) > 1 else radii[0]
    width = min(width, 0.6 * spacing)
    return tuple(ring(0, 0, r + width * t / 2, width * t, colors[k % len(colors)]) for k, (r, t) in enumerate(zip(radii, taper)))


def _pond(job: Job) -> Image.Image:
    """Concentric ripples spreading from one point per cell into the next cells' ripples."""
    rng, inks = job.rng, job.inks
    count = int(rng.integers(5, 9))
    colors = [inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])] if rng.random() < 0.5 else [inks.accent(0)]
    size = 0.62
    radii = [k / count for k in range(1, count + 1)]
    return job.lattice_tile([Motif(_rings(radii, inks.cover / size**2, colors), 0.5, 0.5, size)])


def _raindrops(job: Job) -> Image.Image:
    """Rain on a puddle: small sets of rings, thinning outward, crossing one another."""
    rng, inks = job.rng, job.inks
    spots = _scatter(rng, int(rng.integers(2, 4)), 0.4)
    sizes = rng.uniform(0.15, 0.3, len(spots))
    unit = []
    for (x, y), size in zip(spots, sizes):
        count = int(rng.integers(3, 5))
        radii = [0.25 + 0.75 * k / (count - 1) for k in range(count)]
        # Each set's rings take its part of the ink, in proportion to the set's area.
        cover = inks.cover / float(np.sum(sizes**2))
        unit.append(Motif(_rings(radii, cover, [inks.pick(rng)]), x, y, size))
    return job.lattice_tile(unit)


def _seigaiha(job: Job) -> Image.Image:
    """Blue-ocean waves: rows of concentric arcs, each row overlapping the one above."""
    rng, inks = job.rng, job.inks
    accents = [inks.accent(0), inks.pick(rng, avoid=[inks.accent(0)])]
    count = int(rng.integers(3, 6))
    # Each band is an ink arc on a wider ground arc; the ink's width follows the ink share.
    shapes = []
    for k in range(count):
        outer = 1 - k / count
        shapes.append(disc(0, 0, outer, accents[k % 2]))
        shapes.append(disc(0, 0, outer - inks.cover / count, inks.ground))
    shapes = tuple(shapes)
    centres = [(0.5, 0.25), (0.0, 0.5), (0.5, 0.75), (0.0, 1.0)]
    return job.lattice_tile([Motif(shapes, x, y, 0.5) for x, y in centres], depth=True)


TILE_MAKERS: dict[str, Callable[[Job], Image.Image]] = {
    "solid": solid_tile,
    "floral": floral_tile,
    "celestial": celestial_tile,
    "geometric": geometric_tile,
    "stripes": stripes_tile,
    "checks": checks_tile,
    "abstract": abstract_tile,
    "polka-dot": polka_dot_tile,
    "animal": animal_tile,
    "paisley": paisley_tile,
    "graphic": graphic_tile,
    "color-block": color_block_tile,
    "ripple": ripple_tile,
}


# --- the public entry points -----------------------------------------------------------------


def make_tile(print: Print, palette: Sequence[PaletteColor], seed: int, size: int = 1024) -> Image.Image:
    """A seamless RGB tile of `size` × `size` pixels for the print, in the palette's colours.

    The same print, palette, seed and size always give the same pixels; the seed picks the
    variant, the layout and which accent goes where. The scale and repeat do not change the
    seed's choices, so a designer can resize or re-repeat a print they like.
    """
    if not palette:
        raise ValueError("the palette is empty: a print needs at least one colour")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"tile size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if print.type not in TILE_MAKERS:  # a Print built with model_construct skips validation
        raise ValueError(f"no tile maker for print type {print.type!r}; known: {', '.join(TILE_MAKERS)}")
    rng = _rng(print, seed)
    job = Job(rng, Inks.from_palette(palette), keywords(print.motif), _variant(print.type, print.motif, rng), print.scale, print.repeat, size)
    return TILE_MAKERS[print.type](job)


def print_variant(print: Print, seed: int) -> str:
    """Which variant of its type `make_tile` draws for this print and seed (e.g. "moonlit")."""
    return _variant(print.type, print.motif, _rng(print, seed))


def _rng(print: Print, seed: int) -> np.random.Generator:
    # The type and motif words join the seed, so seed 7 of two different prints are unrelated.
    return np.random.default_rng([seed % 2**32, zlib.crc32(print.type.encode()), zlib.crc32(print.motif.strip().lower().encode())])


def tile_preview(tile: Image.Image, repeats: int = 3) -> Image.Image:
    """The tile laid out `repeats` × `repeats` times, to see how the repeat reads."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    preview = Image.new(tile.mode, (tile.width * repeats, tile.height * repeats))
    for column in range(repeats):
        for row in range(repeats):
            preview.paste(tile, (column * tile.width, row * tile.height))
    return preview


def seam_ratio(tile: Image.Image) -> float:
    """How much the step across the tile's wrap edges exceeds the steps inside it.

    For each direction: the mean absolute difference (over the whole edge, all channels)
    across the wrap, divided by the largest such difference between interior columns (rows).
    Steps are taken two pixels wide, so an anti-aliased edge counts in full wherever it falls.

    Why the largest interior step and not the mean: a seamless tile's wrap is just one more
    place inside the pattern, and a hard-edged print (a stripe, a block) may legitimately put
    an edge there, which would read as many times the mean step. A seam the design never makes
    (a gradient's jump, a motif cut at the edge, a photo's unrelated sides) is several times
    the largest interior step; a seamless tile scores at most about 1. SEAMLESS_LIMIT (1.5)
    leaves room for anti-aliasing that falls differently on a repeat that is not a whole
    number of pixels. A flat tile scores 0.
    """
    pixels = np.asarray(tile.convert("RGB"), dtype=np.float32)
    if min(pixels.shape[:2]) < 4:
        raise ValueError(f"a tile must be at least 4 × 4 pixels to measure its seam, got {tile.width} × {tile.height}")
    return max(_wrap_ratio(pixels), _wrap_ratio(pixels.transpose(1, 0, 2)))


def _wrap_ratio(pixels: np.ndarray) -> float:
    """The seam_ratio across columns (the left/right wrap)."""
    interior = np.abs(pixels[:, 2:] - pixels[:, :-2]).mean(axis=(0, 2))
    wrapped = np.concatenate([pixels[:, -2:], pixels[:, :2]], axis=1)
    across = np.abs(wrapped[:, 2:] - wrapped[:, :-2]).mean(axis=(0, 2))
    largest = float(interior.max())
    if largest < 1e-3:
        return 0.0 if float(across.max()) < 1e-3 else math.inf
    return float(across.max()) / largest


def is_seamless(tile: Image.Image, limit: float = SEAMLESS_LIMIT) -> bool:
    return seam_ratio(tile) <= limit
