"""Technical flats: a DesignSpec drawn as front and back line art, as SVG (and PNG through cairo).

    svg = draw_flat(spec, "back")                 # an SVG document, 600 × 800 viewBox
    png = flat_to_png(svg, width=1200)            # a PIL image
    flats = draw_flats(spec, print_tile=tile)     # {"front": svg, "back": svg}

Everything is measured in *garment units*: x = 0 is the centre front line, y = 0 the base of
the neck, and one unit is about 2 mm on a size-S body. Every category is drawn at the same
scale, so a floor-length dress is longer than a mini and a top can sit beside a skirt.

The garment is built once per spec (a `Frame` of landmarks: neck, shoulder, underarm, side
seam, hem, sleeve) and both views are drawn from it; they differ where garments differ (the
back neckline is higher, the hood and a back zip show on the back). Each outline is built as
its right half and mirrored, so the flat is symmetric by construction; only what is
asymmetric on the garment itself (a wrap overlap, a side zip, a chest pocket) is one-sided.

Conventions: black strokes, a heavier outline than the construction lines, dashed stitching,
no figure. Body pieces are filled with the palette's main colour, or with the print tile as
an SVG pattern; collars, cuffs, waistbands and other trims take the second colour. Every
part is tagged with a class ("closure zip zip-back", "detail patch-pockets", "piece sleeve").

Every vocabulary word draws; a word that cannot apply is skipped quietly (cuffs without
sleeves, a back slit on trousers). A few categories carry details of their own: a hoodie
its hood, a trench its belt, jeans their topstitching, bombers, hoodies, sweaters and joggers
their rib bands; a cape has no sleeves.
"""

from __future__ import annotations

import base64
import io
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from PIL import Image

from pipelines.fashion.spec import DesignSpec

View = Literal["front", "back"]
VIEWS: tuple[View, ...] = ("front", "back")

Point = tuple[float, float]
# A path segment from the current point: (end,) is a straight line, (control, control, end) a cubic Bézier.
Segment = tuple[Point, ...]

# -- the page -------------------------------------------------------------------------------

CANVAS_WIDTH, CANVAS_HEIGHT = 600, 800
SCALE = 0.86  # canvas units per garment unit, the same for every category so flats compare
# Where y = 0 (the base of the neck) sits on the canvas, per body part: a hooded, floor-length
# coat just fits above the caption; tops are centred; trousers and skirts start at the waist.
ORIGIN_Y = {"upper": 280.0, "outer": 112.0, "full": 112.0, "lower": 160.0 - SCALE * 205.0}
INK = "#111111"
# Stroke widths in canvas units, with the dash pattern of stitching.
STROKES: dict[str, tuple[float, tuple[float, float] | None]] = {
    "outline": (2.4, None),
    "seam": (1.2, None),
    "fold": (0.9, None),
    "stitch": (0.9, (4.0, 3.0)),
    "hand": (1.5, (2.0, 4.0)),
}

# -- the body the garment is cut for (never drawn) ------------------------------------------

NECK_Y = 0.0
SHOULDER = (96.0, 16.0)  # where the shoulder line meets the armhole
UNDERARM_Y = 100.0
CHEST_HALF = 90.0
EMPIRE_Y = 138.0
WAIST_Y, WAIST_HALF = 205.0, 78.0
HIP_Y, HIP_HALF = 300.0, 96.0
CROTCH_Y = 335.0
KNEE_Y = 490.0
FLOOR_Y = 710.0
ARM_LENGTH = 250.0
WAISTBAND = 16.0
OFF_SHOULDER_Y = 44.0
STRAPLESS_Y = 76.0
MAX_HALF_WIDTH = 290.0  # keeps the widest ball gown on the page

HEM_Y = {
    "cropped": 160.0, "waist": 205.0, "hip": 300.0, "tunic": 370.0, "mini": 400.0,
    "above-knee": 445.0, "knee": 490.0, "midi": 575.0, "ankle": 670.0, "floor": 710.0,
}
FIT_EASE = {"slim": -6.0, "regular": 0.0, "relaxed": 12.0, "oversized": 28.0}
OUTER_EASE = 8.0  # a jacket or coat is cut to go over another layer

# Necklines: shape, half-width at the shoulder line, depth at the centre front.
NECK_FRONT: dict[str, tuple[str, float, float]] = {
    "crew": ("round", 34, 22), "v-neck": ("v", 36, 78), "scoop": ("round", 48, 56),
    "square": ("square", 44, 54), "boat": ("round", 70, 10), "sweetheart": ("sweetheart", 48, 58),
    "halter": ("round", 24, 16), "turtleneck": ("round", 36, 16), "mock-neck": ("round", 35, 16),
    "cowl": ("round", 46, 36), "off-shoulder": ("round", 34, 22), "collared": ("round", 34, 16),
    "lapel": ("v", 38, 118), "stand-collar": ("round", 34, 14), "hooded": ("round", 36, 26),
    "wrap": ("v", 36, 96), "none": ("round", 32, 12),
}
NECK_BACK_DEPTH = {"scoop": 20.0, "boat": 6.0, "square": 12.0, "sweetheart": 12.0}
BACK_DEPTH = 8.0  # the back neckline sits higher than the front: this is most of the difference
TURTLENECK_HEIGHT, MOCK_NECK_HEIGHT, STAND_HEIGHT = 50.0, 24.0, 15.0

SLEEVE_REACH = {"cap": 0.12, "short": 0.3, "elbow": 0.52, "three-quarter": 0.74, "long": 1.0}
SLEEVE_ANGLE = {  # degrees from vertical: cut-on sleeves stand out from the body
    "set-in": 34, "raglan": 34, "drop-shoulder": 32, "puff": 34, "bishop": 34, "bell": 32,
    "dolman": 55, "kimono": 52,
}
CUT_ON_SLEEVES = ("kimono", "dolman")  # cut in one with the body: no armhole seam

# Trouser legs: the width of one leg at the knee and at the floor.
LEG_SHAPES = {
    "straight": (60.0, 58.0), "slim": (48.0, 38.0), "skinny": (42.0, 30.0), "tapered": (56.0, 38.0),
    "wide-leg": (90.0, 108.0), "bootcut": (54.0, 70.0), "flare": (56.0, 88.0), "balloon": (86.0, 44.0),
}
LEG_FOR_SILHOUETTE = {
    "wide-leg": "wide-leg", "tapered": "tapered", "bootcut": "bootcut", "slim": "slim",
    "sheath": "slim", "column": "slim", "a-line": "flare", "trapeze": "flare", "tent": "flare",
    "fit-and-flare": "flare", "mermaid": "flare", "ball-gown": "wide-leg", "wrap": "wide-leg",
    "oversized": "wide-leg", "cocoon": "balloon", "balloon": "balloon",
}

# On-garment size of one print repeat, in garment units (about 6, 12 and 24 cm).
TILE_SIZE = {"small": 30.0, "medium": 60.0, "large": 120.0}
MAX_TILE_PIXELS = 256  # larger tiles are shrunk before embedding: the flat never shows more


# -- geometry -------------------------------------------------------------------------------


def _fmt(point: Point) -> str:
    return f"{point[0]:.1f},{point[1]:.1f}"


def path_data(start: Point, segments: list[Segment], close: bool = False) -> str:
    """SVG path data for a start point and segments."""
    parts = [f"M{_fmt(start)}"]
    for segment in segments:
        parts.append(("L" if len(segment) == 1 else "C") + " ".join(_fmt(p) for p in segment))
    if close:
        parts.append("Z")
    return " ".join(parts)


def mirror(point: Point) -> Point:
    return (-point[0], point[1])


def mirrored(start: Point, segments: list[Segment]) -> tuple[Point, list[Segment]]:
    return mirror(start), [tuple(mirror(p) for p in segment) for segment in segments]


def reversed_segment(start: Point, segment: Segment) -> Segment:
    """A segment that began at `start`, walked back to it."""
    return (start,) if len(segment) == 1 else (segment[1], segment[0], start)


def reversed_path(start: Point, segments: list[Segment]) -> tuple[Point, list[Segment]]:
    """The same path walked from its end back to its start."""
    ends = [start, *(segment[-1] for segment in segments)]
    backwards = [reversed_segment(ends[i], segments[i]) for i in range(len(segments) - 1, -1, -1)]
    return ends[-1], backwards


def symmetric_outline(start: Point, half: list[Segment]) -> str:
    """A closed outline from its right half, which runs from the centre line round to the centre line."""
    _, back = reversed_path(start, half)
    return path_data(start, [*half, *mirrored(start, back)[1]], close=True)


def both_sides(start: Point, segments: list[Segment], close: bool = False) -> str:
    """A right-hand path and its mirror image, as one path data string."""
    return path_data(start, segments, close) + " " + path_data(*mirrored(start, segments), close)


def smooth_through(points: list[Point]) -> list[Segment]:
    """Cubic segments through every point (Catmull-Rom), starting from points[0]."""
    segments: list[Segment] = []
    for i in range(len(points) - 1):
        p0, p1, p2 = points[max(i - 1, 0)], points[i], points[i + 1]
        p3 = points[min(i + 2, len(points) - 1)]
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        segments.append((c1, c2, p2))
    return segments


def along(point: Point, direction: Point, distance: float) -> Point:
    return (point[0] + direction[0] * distance, point[1] + direction[1] * distance)


def lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def interpolate(knots: list[Point], y: float) -> float:
    """The value at y of a piecewise-linear profile given as (y, value) knots, y ascending."""
    if y <= knots[0][0]:
        return knots[0][1]
    for (y0, v0), (y1, v1) in zip(knots, knots[1:]):
        if y <= y1:
            return v0 + (v1 - v0) * (y - y0) / (y1 - y0) if y1 > y0 else v1
    return knots[-1][1]


def cut_profile(knots: list[Point], top: float, bottom: float) -> list[Point]:
    """The knots between two heights, with the profile's values at both ends."""
    inside = [(y, v) for y, v in knots if top + 1 < y < bottom - 1]
    return [(top, interpolate(knots, top)), *inside, (bottom, interpolate(knots, bottom))]


def _rect(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"M{_fmt((x0, y0))} L{_fmt((x1, y0))} L{_fmt((x1, y1))} L{_fmt((x0, y1))} Z"


# -- the frame: landmarks of one spec, shared by both views -----------------------------------


@dataclass(frozen=True)
class SleeveShape:
    """The right sleeve: its outer edge hangs from `top` along `direction` to `hem_outer`."""

    type: str
    top: Point
    underarm: Point
    hem_outer: Point
    hem_inner: Point
    direction: Point  # unit vector down the arm
    inward: Point  # unit vector across the arm, towards the body


@dataclass(frozen=True)
class Frame:
    """Where a spec's garment lies, in garment units; the right half only (x >= 0)."""

    spec: DesignSpec
    part: str  # "upper", "lower", "outer", "full"
    kind: str  # "top", "dress", "skirt", "trousers", "jumpsuit", "cape"
    neckline: str
    shoulders: str  # "normal", "off", "halter", "strapless", or "none" below the waist
    details: frozenset[str]  # the spec's details and those its category implies
    ribbed: bool  # knit bands at hem and cuffs
    ease: float
    neck: Point  # high point shoulder
    shoulder: Point
    underarm: Point
    waist_half: float
    hip_half: float
    hem_y: float
    profile: tuple[Point, ...]  # side seam as (y, half-width), from its top down to the hem
    legs: tuple[tuple[Point, ...], tuple[Point, ...]] | None  # outer and inner leg seams as (y, x)
    sleeve: SleeveShape | None

    @property
    def has_bodice(self) -> bool:
        return self.kind in ("top", "dress", "jumpsuit", "cape")

    @property
    def has_waist(self) -> bool:
        """Whether the garment reaches below the waist, where belts, peplums and ties go."""
        return self.hem_y > WAIST_Y + 12

    @property
    def top_y(self) -> float:
        """The top of the body piece at the side: the shoulder line, or the waistband."""
        return WAIST_Y - WAISTBAND if not self.has_bodice else NECK_Y

    def width_at(self, y: float) -> float:
        """Half-width of the body at height y (the outer leg seam on trousers)."""
        if self.legs is not None and y > WAIST_Y:
            return interpolate(list(self.legs[0]), y)
        return interpolate(list(self.profile), y)

    def neck_depth(self, view: View) -> float:
        if self.shoulders == "strapless":
            return STRAPLESS_Y
        if self.shoulders == "off":
            return OFF_SHOULDER_Y
        if self.shoulders == "halter" and view == "back":
            return self.underarm[1] + 8
        if view == "front":
            return NECK_FRONT[self.neckline][2]
        return NECK_BACK_DEPTH.get(self.neckline, BACK_DEPTH)

    def opening_top(self, view: View) -> float:
        """Where a centre opening (placket, zip) starts: the neckline, the collar top or the waistband."""
        if not self.has_bodice:
            return WAIST_Y - WAISTBAND
        collar_top = {"turtleneck": TURTLENECK_HEIGHT, "mock-neck": MOCK_NECK_HEIGHT, "stand-collar": STAND_HEIGHT}
        if self.neckline in collar_top and self.shoulders == "normal":
            return -collar_top[self.neckline] + 4
        return self.neck_depth(view)

    @property
    def hem_sag(self) -> float:
        """How far a flared hem curves down at the centre, as it does on a flat."""
        if self.legs is not None:
            return 0.0
        flare = self.profile[-1][1] - self.waist_half
        return max(0.0, min(14.0, 0.08 * flare))

    @property
    def centre_bottom(self) -> float:
        return CROTCH_Y - 6 if self.legs is not None else self.hem_y + self.hem_sag


def build_frame(spec: DesignSpec) -> Frame:
    """Measure the garment for a spec; the same frame draws both views."""
    part = spec.body_part
    kind = _garment_kind(spec)
    neckline = "turtleneck" if spec.category == "turtleneck" else spec.neckline
    if kind == "cape" and neckline in ("halter", "off-shoulder", "sweetheart", "none"):
        neckline = "crew"  # a cape hangs from the shoulders
    shoulders = _shoulder_style(kind, neckline, spec.sleeve.length)
    sleeve_type = _sleeve_type(spec, kind, shoulders)
    ease = FIT_EASE[spec.fit] + (OUTER_EASE if part == "outer" else 0.0)
    chest, waist, hip = CHEST_HALF + ease, WAIST_HALF + ease, HIP_HALF + ease
    hem_y = HEM_Y[spec.length]
    if kind in ("trousers", "jumpsuit"):
        hem_y = max(hem_y, CROTCH_Y + 30)  # shorts are at least a little longer than the crotch

    neck = (NECK_FRONT[neckline][1], NECK_Y)
    shoulder = (SHOULDER[0] + 0.7 * ease, SHOULDER[1])
    underarm_y = UNDERARM_Y + 0.5 * max(ease, 0.0)
    if sleeve_type == "drop-shoulder":
        shoulder, underarm_y = (shoulder[0] + 24, shoulder[1] + 10), underarm_y + 22
    elif sleeve_type == "kimono":
        underarm_y += 45
    elif sleeve_type == "dolman":
        underarm_y = WAIST_Y + 10  # the batwing: the underside reaches down to the waist
    if shoulders == "off":
        shoulder = (shoulder[0] + 4, OFF_SHOULDER_Y)
    elif shoulders == "strapless":
        underarm_y = STRAPLESS_Y + 4
    elif shoulders == "halter":
        underarm_y += 8
    if kind != "cape":
        underarm_y = min(underarm_y, hem_y - 24)  # a cropped top still has a side seam below the arm

    knots = _silhouette_knots(spec.silhouette, chest, waist, hip)
    if kind == "cape":
        knots = _cape_knots(spec.silhouette, shoulder, chest)
        underarm_y = knots[0][0]
    if kind == "trousers":
        waist += 8  # trousers hang straighter from the hip than a skirt
    if kind in ("skirt", "trousers"):
        knots = [(WAIST_Y, waist), *[(y, w) for y, w in knots if y > WAIST_Y + 1]]
    top = WAIST_Y if kind in ("skirt", "trousers") else underarm_y
    bottom = WAIST_Y if kind in ("trousers", "jumpsuit") else hem_y
    profile = tuple((y, min(w, MAX_HALF_WIDTH)) for y, w in cut_profile(knots, top, bottom))
    underarm = (profile[0][1], profile[0][0])

    legs = _leg_seams(spec, profile[-1][1], hip, ease, hem_y) if kind in ("trousers", "jumpsuit") else None
    sleeve = _sleeve_shape(sleeve_type, spec.sleeve.length, neck, shoulder, underarm) if sleeve_type != "none" else None
    return Frame(
        spec=spec, part=part, kind=kind, neckline=neckline, shoulders=shoulders,
        details=_implied_details(spec, sleeve_type), ribbed=spec.category in ("bomber", "hoodie", "sweater", "joggers"),
        ease=ease, neck=neck, shoulder=shoulder, underarm=underarm, waist_half=waist, hip_half=hip,
        hem_y=hem_y, profile=profile, legs=legs, sleeve=sleeve,
    )


def _garment_kind(spec: DesignSpec) -> str:
    part = spec.body_part
    if spec.category == "cape":
        return "cape"
    if part == "lower":
        return "skirt" if spec.category == "skirt" else "trousers"
    if part == "full":
        return "jumpsuit" if spec.category in ("jumpsuit", "romper") else "dress"
    return "top"


def _shoulder_style(kind: str, neckline: str, sleeve_length: str) -> str:
    """Whether the garment has a shoulder line: halter and strapless tops do not, off-shoulder is low."""
    if kind in ("skirt", "trousers"):
        return "none"
    if kind == "cape":
        return "normal"
    sleeveless = sleeve_length == "sleeveless"
    if neckline == "halter":
        return "halter"
    if neckline == "off-shoulder":
        return "strapless" if sleeveless else "off"
    if neckline == "none" and sleeveless:
        return "strapless"  # no neckline and no sleeves: a bandeau
    return "normal"


def _sleeve_type(spec: DesignSpec, kind: str, shoulders: str) -> str:
    if spec.sleeve.length == "sleeveless" or kind in ("skirt", "trousers", "cape") or shoulders in ("halter", "strapless"):
        return "none"
    sleeve_type = spec.sleeve.type
    if spec.category == "kimono-jacket" and sleeve_type == "set-in":
        sleeve_type = "kimono"
    if shoulders == "off" and sleeve_type in ("raglan", "drop-shoulder", *CUT_ON_SLEEVES):
        sleeve_type = "set-in"  # an off-shoulder band has no shoulder or neck for these to reach
    return sleeve_type


def _implied_details(spec: DesignSpec, sleeve_type: str) -> frozenset[str]:
    """Details a category or fabric carries even when the spec does not list them."""
    details = set(spec.details)
    if spec.category == "hoodie":
        details.add("hood")
    if spec.category == "trench":
        details.add("belt")
    if spec.category == "jeans" or spec.fabric.type == "denim":
        details.add("topstitching")
    if spec.fabric.finish == "quilted":
        details.add("quilting")
    if sleeve_type == "bishop":
        details.add("cuffs")  # a bishop sleeve is gathered into a cuff
    return frozenset(details)


def _silhouette_knots(silhouette: str, chest: float, waist: float, hip: float) -> list[Point]:
    """The side seam from underarm to floor as (y, half-width); the hem cuts it where it ends."""
    u, w, h, f = UNDERARM_Y, WAIST_Y, HIP_Y, FLOOR_Y
    straight = max(chest, hip - 4)
    if silhouette in ("sheath", "slim"):
        return [(u, chest - 4), (w, waist - 4), (h, hip - 6), (f, hip - 26)]
    if silhouette == "column":
        return [(u, chest - 4), (w, chest - 10), (f, chest - 8)]
    if silhouette == "shift":
        return [(u, chest), (w, chest), (f, chest + 8)]
    if silhouette == "a-line":
        return [(u, chest), (w, waist + 4), (f, waist + 4 + 0.3 * (f - w))]
    if silhouette in ("fit-and-flare", "wrap"):
        flare = 0.42 if silhouette == "fit-and-flare" else 0.24
        return [(u, chest), (w, waist), (w + 40, waist + 40 * flare + 10), (f, waist + (f - w) * flare)]
    if silhouette == "empire":
        return [(u, chest), (EMPIRE_Y, chest - 6), (f, chest - 6 + 0.24 * (f - EMPIRE_Y))]
    if silhouette in ("trapeze", "tent"):
        flare = 0.3 if silhouette == "trapeze" else 0.42
        return [(u, chest), (f, chest + flare * (f - u))]
    if silhouette == "cocoon":
        return [(u, chest + 6), (w, chest + 26), (h + 40, chest + 24), (f, chest - 14)]
    if silhouette == "balloon":
        return [(u, chest), (w, chest + 24), (h + 30, chest + 36), (f - 40, chest + 22), (f, chest - 10)]
    if silhouette == "boxy":
        return [(u, chest + 12), (f, chest + 12)]
    if silhouette == "oversized":
        return [(u, chest + 20), (f, chest + 26)]
    if silhouette == "mermaid":
        return [(u, chest - 2), (w, waist - 2), (h, hip - 4), (KNEE_Y - 20, hip - 22), (f, hip + 80)]
    if silhouette == "ball-gown":
        return [(u, chest - 2), (w, waist - 2), (w + 40, waist + 70), (h + 60, waist + 130), (f, waist + 165)]
    # straight, and the trouser silhouettes when they name a top or a dress
    return [(u, chest), (w, chest - 4), (h, straight), (f, straight + 2)]


def _cape_knots(silhouette: str, shoulder: Point, chest: float) -> list[Point]:
    """A cape falls from the shoulders; only how much it flares depends on the silhouette."""
    flare = {"a-line": 0.34, "trapeze": 0.42, "tent": 0.5, "column": 0.08, "straight": 0.16, "slim": 0.08}.get(silhouette, 0.26)
    top = (shoulder[1] + 36, shoulder[0] + 16)
    return [top, (UNDERARM_Y + 30, chest + 30), (FLOOR_Y, chest + 30 + flare * (FLOOR_Y - UNDERARM_Y - 30))]


def _leg_seams(spec: DesignSpec, waist: float, hip: float, ease: float, hem_y: float) -> tuple[tuple[Point, ...], tuple[Point, ...]]:
    """The outer and inner seams of the right leg as (y, x), from the waist and the crotch down to the hem."""
    shape = LEG_FOR_SILHOUETTE.get(spec.silhouette, "straight")
    if spec.category == "leggings":
        shape = "skinny"
    elif spec.category == "culottes" and shape == "straight":
        shape = "wide-leg"
    elif spec.category == "joggers" and shape == "straight":
        shape = "tapered"
    knee_width, floor_width = (width + 0.7 * ease for width in LEG_SHAPES[shape])
    thigh_centre = hip / 2

    def centre(width: float) -> float:
        return max(thigh_centre + 8, width / 2 + 4)  # the legs hang apart, never overlap

    outer = [(WAIST_Y, waist), (HIP_Y, hip), (CROTCH_Y, hip + 1),
             (KNEE_Y, centre(knee_width) + knee_width / 2), (FLOOR_Y, centre(floor_width) + floor_width / 2)]
    inner = [(CROTCH_Y + 4, 4.0), (KNEE_Y, centre(knee_width) - knee_width / 2), (FLOOR_Y, centre(floor_width) - floor_width / 2)]
    if shape == "balloon":  # full through the thigh and calf, gathered at the ankle
        outer.insert(3, ((CROTCH_Y + KNEE_Y) / 2, hip + 10))
    return tuple(cut_profile(outer, WAIST_Y, hem_y)), tuple(cut_profile(inner, CROTCH_Y + 4, hem_y))


def _sleeve_shape(sleeve_type: str, length: str, neck: Point, shoulder: Point, underarm: Point) -> SleeveShape:
    angle = math.radians(SLEEVE_ANGLE[sleeve_type])
    direction, inward = (math.sin(angle), math.cos(angle)), (-math.cos(angle), math.sin(angle))
    reach = ARM_LENGTH * SLEEVE_REACH[length]
    if sleeve_type in CUT_ON_SLEEVES:
        # the top line runs straight from the neck to the wrist; the underside sweeps into the side seam
        reach = math.dist(neck, shoulder) + 0.9 * reach
        hem_outer = along(neck, direction, reach)
        wanted = 78.0 if sleeve_type == "kimono" else 34 + 40 * (1 - SLEEVE_REACH[length])
        room = (hem_outer[0] - underarm[0] - 6) / math.cos(angle)  # keep the cuff outside the body
        width = max(10.0, min(wanted, room))
        return SleeveShape(sleeve_type, neck, underarm, hem_outer, along(hem_outer, inward, width), direction, inward)
    if sleeve_type == "drop-shoulder":
        reach -= 20  # the shoulder seam already sits on the arm
    offset = (underarm[0] - shoulder[0], underarm[1] - shoulder[1])
    armhole_width = offset[0] * inward[0] + offset[1] * inward[1]
    hem_width = armhole_width * {
        "puff": 0.8, "bishop": 0.55, "bell": 1.9,
    }.get(sleeve_type, 1 - 0.3 * SLEEVE_REACH[length])
    hem_outer = along(shoulder, direction, reach)
    if sleeve_type == "bell":
        hem_outer = along(hem_outer, inward, -0.45 * armhole_width)
    hem_inner = along(hem_outer, inward, hem_width)
    return SleeveShape(sleeve_type, shoulder, underarm, hem_outer, hem_inner, direction, inward)


# -- outlines -------------------------------------------------------------------------------


def neckline_half(frame: Frame, view: View) -> tuple[Point, list[Segment]]:
    """The neck edge's right half, from the centre line up to the high point shoulder."""
    shape, half, depth = NECK_FRONT[frame.neckline]
    if view == "back":
        shape, depth = "round", NECK_BACK_DEPTH.get(frame.neckline, BACK_DEPTH)
    start = (0.0, depth)
    if shape == "v":
        return start, [((half, NECK_Y),)]
    if shape == "square":
        return start, [((half, depth),), ((half, NECK_Y),)]
    if shape == "sweetheart":
        return start, [((3, depth - 14), (12, 28), (26, 26)), ((38, 24), (half, 30), (half, 40)), ((half, NECK_Y),)]
    return start, [((0.55 * half, depth), (half, 0.5 * depth), (half, NECK_Y))]


def armhole(shoulder: Point, underarm: Point, straight: bool = False) -> Segment:
    if straight:
        return (underarm,)
    drop = underarm[1] - shoulder[1]
    return ((shoulder[0] - 6, shoulder[1] + 0.45 * drop), (underarm[0] - 2, underarm[1] - 0.22 * drop), underarm)


def raglan_seam(neck: Point, underarm: Point) -> Segment:
    return ((neck[0] + 14, neck[1] + 34), (underarm[0] - 10, underarm[1] - 30), underarm)


def bodice_top(frame: Frame, view: View) -> tuple[Point, list[Segment]]:
    """From the centre of the neckline (or top edge) round to the underarm."""
    underarm = frame.underarm
    if frame.shoulders == "strapless":
        return (0.0, STRAPLESS_Y), [((0.5 * underarm[0], STRAPLESS_Y), (0.8 * underarm[0], underarm[1]), underarm)]
    if frame.shoulders == "off":
        return (0.0, OFF_SHOULDER_Y), [(frame.shoulder,), armhole(frame.shoulder, underarm)]
    if frame.shoulders == "halter":
        if view == "back":  # a halter leaves the back bare down to the underarm
            return (0.0, underarm[1] + 8), [(underarm,)]
        start, segments = neckline_half(frame, view)
        strap = (frame.neck[0] + 10, NECK_Y - 2)
        return start, [*segments, (strap,), ((strap[0] + 8, 40), (underarm[0] - 26, underarm[1] - 8), underarm)]

    start, segments = neckline_half(frame, view)
    sleeve = frame.sleeve
    if frame.kind == "cape":
        return start, [*segments, (frame.shoulder,)]
    if sleeve is not None and sleeve.type in CUT_ON_SLEEVES:
        return start, [*segments, *cut_on_sleeve(sleeve)]
    if sleeve is not None and sleeve.type == "raglan":
        return start, [*segments, raglan_seam(frame.neck, underarm)]
    straight = sleeve is not None and sleeve.type == "drop-shoulder"
    return start, [*segments, (frame.shoulder,), armhole(frame.shoulder, underarm, straight)]


def cut_on_sleeve(sleeve: SleeveShape) -> list[Segment]:
    """Neck to wrist along the top, across the cuff, and back under the arm into the side seam."""
    inner, underarm = sleeve.hem_inner, sleeve.underarm
    if sleeve.type == "kimono":
        underside: Segment = (underarm,)
    else:  # a dolman's underside sweeps down into the side seam near the waist
        sweep = lerp(inner, underarm, 0.45)
        underside = ((sweep[0], sweep[1] + 14), (underarm[0] + 2, underarm[1] - 24), underarm)
    return [(sleeve.hem_outer,), (inner,), underside]


def body_outline(frame: Frame, view: View) -> tuple[Point, list[Segment]]:
    """The right half of the main piece, from the centre of its top edge round to the centre of its hem."""
    if frame.has_bodice:
        start, segments = bodice_top(frame, view)
    else:
        start, segments = (0.0, WAIST_Y), [((frame.waist_half, WAIST_Y),)]
    current = segments[-1][-1]
    seam = [current, *[(w, y) for y, w in frame.profile if y > current[1] + 2]]
    segments += smooth_through(seam)
    if frame.legs is not None:
        return start, segments + legs(frame)
    hem_corner, centre = (frame.profile[-1][1], frame.hem_y), (0.0, frame.hem_y + frame.hem_sag)
    segments.append((lerp(hem_corner, centre, 0.4), (0.3 * hem_corner[0], centre[1]), centre))
    return start, segments


def legs(frame: Frame) -> list[Segment]:
    """From the outer waist down the outer seam, across the hem, up the inseam to the crotch."""
    assert frame.legs is not None
    outer, inner = frame.legs
    segments = smooth_through([(x, y) for y, x in outer])
    segments.append(((inner[-1][1], inner[-1][0]),))
    segments += smooth_through([(x, y) for y, x in reversed(inner)])
    segments.append(((2, CROTCH_Y - 2), (0.5, CROTCH_Y - 5), (0.0, CROTCH_Y - 6)))
    return segments


def sleeve_outline(frame: Frame) -> str:
    """The right sleeve as a closed piece; the body is drawn over its armhole edge."""
    sleeve = frame.sleeve
    assert sleeve is not None
    top, outer, inner, underarm = sleeve.top, sleeve.hem_outer, sleeve.hem_inner, sleeve.underarm
    d, n = sleeve.direction, sleeve.inward
    reach = math.dist(top, outer)
    start, segments = (frame.neck, [(top,)]) if sleeve.type == "raglan" else (top, [])
    if sleeve.type == "puff":  # a puffed head rises above the shoulder line
        segments.append((along(along(top, d, 0.05 * reach), n, -22), along(along(top, d, 0.55 * reach), n, -18), outer))
    elif sleeve.type == "bishop":  # full below the elbow, gathered into the cuff
        segments.append((along(top, d, 0.5 * reach), along(along(top, d, 1.0 * reach), n, -24), outer))
    else:
        segments.append((outer,))
    if sleeve.type == "bell":  # the flared hem curves
        middle = lerp(outer, inner, 0.5)
        segments.append((along(lerp(outer, middle, 0.5), d, 8), along(lerp(inner, middle, 0.5), d, 8), inner))
    else:
        segments.append((inner,))
    if sleeve.type == "bishop":
        segments.append((along(along(inner, d, -20), n, 14), along(underarm, d, 40), underarm))
    else:
        segments.append((underarm,))
    # back up the seam the body's edge covers
    if sleeve.type == "raglan":
        segments.append(reversed_segment(frame.neck, raglan_seam(frame.neck, underarm)))
    else:
        segments.append(reversed_segment(top, armhole(top, underarm, straight=sleeve.type == "drop-shoulder")))
    return path_data(start, segments, close=True)


# -- colours and the print ------------------------------------------------------------------


@dataclass(frozen=True)
class Colors:
    main: str
    trim: str
    accent: str
    inside: str  # the inside of the garment, seen through the neckline
    lines: str  # construction lines: ink, or light on a very dark garment

    @classmethod
    def from_spec(cls, spec: DesignSpec) -> Colors:
        ranked = [color.hex for color in sorted(spec.palette, key=lambda color: -color.share)]
        main = ranked[0]
        trim = ranked[1] if len(ranked) > 1 else main
        accent = ranked[2] if len(ranked) > 2 else trim
        dark = _luminance(main) < 0.06
        return cls(main=main, trim=trim, accent=accent, inside=_shade(main, 0.78), lines="#BBBBBB" if dark else INK)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _shade(hex_color: str, factor: float) -> str:
    return "#" + "".join(f"{round(channel * factor):02X}" for channel in _rgb(hex_color))


def _luminance(hex_color: str) -> float:
    """Relative luminance (WCAG)."""
    linear = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in _rgb(hex_color)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def tile_data_uri(tile: Image.Image) -> tuple[str, float]:
    """The print tile as a PNG data URI, and its height over its width."""
    if not isinstance(tile, Image.Image):
        raise TypeError(f"print_tile must be a PIL.Image.Image, got {type(tile).__name__}")
    if tile.width < 1 or tile.height < 1:
        raise ValueError("print_tile is empty (0 pixels)")
    if max(tile.size) > MAX_TILE_PIXELS:
        tile = tile.copy()
        tile.thumbnail((MAX_TILE_PIXELS, MAX_TILE_PIXELS))
    if tile.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        tile = tile.convert("RGBA")
    buffer = io.BytesIO()
    tile.save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), tile.height / tile.width


# -- the sketch: SVG elements gathered per layer ---------------------------------------------

# Drawing order, back to front: a part may add to any layer whenever it is drawn.
LAYERS = ("behind", "sleeves", "body", "surface", "construction", "trim", "details", "closures")


class Sketch:
    """One view being drawn. Parts add elements to layers; `svg()` writes the document."""

    def __init__(self, frame: Frame, view: View, tile: tuple[str, float] | None = None) -> None:
        self.frame, self.view = frame, view
        self.front = view == "front"
        self.colors = Colors.from_spec(frame.spec)
        self.ids = f"flat-{frame.spec.id}-{view}"
        self.tile = tile
        self.body_fill = f"url(#{self.ids}-print)" if tile else self.colors.main
        self.layers: dict[str, list[str]] = {layer: [] for layer in LAYERS}
        self.clip_shapes: list[str] = []
        self._part: str | None = None

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Tag every element drawn inside with a class, e.g. "closure zip zip-back"."""
        outer, self._part = self._part, name
        try:
            yield
        finally:
            self._part = outer

    def _add(self, layer: str, tag: str, attributes: str) -> None:
        css_class = f' class="{self._part}"' if self._part else ""
        self.layers[layer].append(f"<{tag}{css_class} {attributes}/>")

    def _stroke(self, weight: str, color: str | None = None) -> str:
        width, dash = STROKES[weight]
        attributes = f'stroke-width="{width / SCALE:.2f}"'
        if dash:
            attributes += f' stroke-dasharray="{dash[0] / SCALE:.1f} {dash[1] / SCALE:.1f}"'
        if color is None and weight != "outline":
            color = self.colors.lines
        if color and color != INK:
            attributes += f' stroke="{color}"'
        return attributes

    def piece(self, layer: str, d: str, fill: str | None = None, clip: bool = False) -> None:
        """A filled piece of fabric with a heavy outline; `clip` adds it to the garment's clip shape."""
        self._add(layer, "path", f'd="{d}" fill="{fill or self.body_fill}" {self._stroke("outline", INK)}')
        if clip:
            self.clip_shapes.append(d)

    def line(self, layer: str, d: str, weight: str = "seam") -> None:
        self._add(layer, "path", f'd="{d}" fill="none" {self._stroke(weight)}')

    def shape(self, layer: str, d: str, fill: str, weight: str = "seam") -> None:
        """A small filled shape (a button, a buckle, a patch) with a thin edge."""
        self._add(layer, "path", f'd="{d}" fill="{fill}" {self._stroke(weight, INK)}')

    def circle(self, layer: str, centre: Point, radius: float, fill: str = "#FFFFFF") -> None:
        self._add(layer, "circle", f'cx="{centre[0]:.1f}" cy="{centre[1]:.1f}" r="{radius:.1f}" fill="{fill}" {self._stroke("seam", INK)}')

    def clipped(self, layer: str, d: str, weight: str = "seam", fill: str = "none") -> None:
        """Lines or patches that stop at the garment's edge (quilting, patchwork, smocking)."""
        fill_and_edge = f'fill="{fill}" ' + self._stroke(weight, None if fill == "none" else INK)
        self._add(layer, "path", f'd="{d}" {fill_and_edge} clip-path="url(#{self.ids}-clip)"')

    def svg(self) -> str:
        spec, origin = self.frame.spec, ORIGIN_Y[self.frame.part]
        caption = escape(f"{spec.name} — {self.view}")
        defs = [f'<clipPath id="{self.ids}-clip">' + "".join(f'<path d="{d}"/>' for d in self.clip_shapes) + "</clipPath>"]
        if self.tile:
            uri, aspect = self.tile
            width = TILE_SIZE[spec.print.scale]
            height = width * aspect
            defs.append(
                f'<pattern id="{self.ids}-print" patternUnits="userSpaceOnUse" x="{-width / 2:.2f}" y="0" width="{width:.2f}" height="{height:.2f}">'
                f'<rect width="{width:.2f}" height="{height:.2f}" fill="{self.colors.main}"/>'
                f'<image width="{width:.2f}" height="{height:.2f}" preserveAspectRatio="none" xlink:href="{uri}"/></pattern>'
            )
        body = "\n".join(element for layer in LAYERS for element in self.layers[layer])
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="0 0 {CANVAS_WIDTH} {CANVAS_HEIGHT}" width="{CANVAS_WIDTH}" height="{CANVAS_HEIGHT}">\n'
            f"<title>{caption}</title>\n<defs>{''.join(defs)}</defs>\n"
            f'<rect class="background" width="{CANVAS_WIDTH}" height="{CANVAS_HEIGHT}" fill="#FFFFFF"/>\n'
            f'<g class="garment {spec.category} {self.view}" transform="translate({CANVAS_WIDTH / 2:g} {origin:.1f}) scale({SCALE})" '
            f'stroke="{INK}" stroke-linejoin="round" stroke-linecap="round">\n{body}\n</g>\n'
            f'<text class="caption" x="{CANVAS_WIDTH / 2:g}" y="{CANVAS_HEIGHT - 12}" font-family="sans-serif" font-size="14" '
            f'text-anchor="middle" fill="#555555">{caption}</text>\n</svg>\n'
        )


# -- the pieces ----------------------------------------------------------------------------


def draw_pieces(sketch: Sketch) -> None:
    frame, view = sketch.frame, sketch.view
    if frame.has_bodice:
        # the inside of the other half, seen through a lower neckline (or a bare halter back)
        other: View = "back" if sketch.front else "front"
        with sketch.part("inside"):
            sketch.piece("behind", symmetric_outline(*body_outline(frame, other)), fill=sketch.colors.inside)
    if frame.sleeve is not None and frame.sleeve.type not in CUT_ON_SLEEVES:
        with sketch.part("piece sleeve"):
            d = sleeve_outline(frame)
            sketch.piece("sleeves", d)
            sketch.piece("sleeves", _mirror_path_data(d))
    with sketch.part(f"piece {frame.kind}"):
        sketch.piece("body", symmetric_outline(*body_outline(frame, view)), clip=True)
    if not frame.has_bodice:
        draw_waistband(sketch)
    draw_construction(sketch)
    if frame.ribbed:
        draw_rib_bands(sketch)
    draw_sleeve_gathers(sketch)


def _mirror_path_data(d: str) -> str:
    """The same path with every x negated: the left-hand twin of a right-hand part.

    Works on the path data this module writes: M, L, Q, C and Z commands with x,y pairs.
    """
    words = []
    for word in d.split(" "):
        command, pair = (word[0], word[1:]) if word[0].isalpha() else ("", word)
        if command and command not in "MLQCZ":
            raise ValueError(f"cannot mirror the path command {command!r} in {d!r}")
        if not pair:
            words.append(command)
            continue
        x, y = pair.split(",")
        words.append(f"{command}{-float(x):.1f},{y}")
    return " ".join(words)


def draw_waistband(sketch: Sketch) -> None:
    frame = sketch.frame
    half, top = frame.waist_half, WAIST_Y - WAISTBAND
    with sketch.part("trim waistband"):
        sketch.piece("trim", _rect(-half + 1, top, half - 1, WAIST_Y), fill=sketch.colors.trim)
        if frame.spec.category in ("joggers", "leggings") or frame.spec.closure == "drawstring":
            # an elastic waist: gathered all round
            ticks = " ".join(f"M{_fmt((x, top + 3))} L{_fmt((x + 1.5, WAIST_Y - 3))}" for x in _spaced(-half + 8, half - 8, 7))
            sketch.line("trim", ticks, "fold")


def draw_construction(sketch: Sketch) -> None:
    """Lines the garment has whatever its details: waist seams, the centre seam of trousers,
    the band of an off-shoulder top, the arm slits of a cape."""
    frame = sketch.frame
    with sketch.part("construction"):
        seam_y = _waist_seam_y(frame)
        if seam_y is not None:
            half = frame.width_at(seam_y)
            sketch.line("construction", f"M{_fmt((-half, seam_y))} L{_fmt((half, seam_y))}")
        if frame.legs is not None:
            # the centre seam from the waist to the crotch
            sketch.line("construction", f"M{_fmt((0, WAIST_Y))} L{_fmt((0, CROTCH_Y - 6))}")
        if frame.shoulders == "off":
            band = frame.shoulder[0]
            sketch.line("construction", f"M{_fmt((-band, OFF_SHOULDER_Y + 12))} L{_fmt((band, OFF_SHOULDER_Y + 12))}", "stitch")
        if frame.kind == "cape" and sketch.front and frame.hem_y > UNDERARM_Y + 110:
            # arm slits, bound with a stitched edge
            x = frame.width_at(UNDERARM_Y + 60) - 34
            slit = f"M{_fmt((x, UNDERARM_Y + 40))} L{_fmt((x + 4, UNDERARM_Y + 110))}"
            sketch.line("construction", slit + " " + _mirror_path_data(slit), "outline")


def _waist_seam_y(frame: Frame) -> float | None:
    if frame.kind == "jumpsuit":
        return WAIST_Y
    if frame.kind != "dress":
        return None
    if frame.spec.silhouette == "empire":
        return EMPIRE_Y
    if frame.spec.silhouette in ("fit-and-flare", "ball-gown", "wrap"):
        return WAIST_Y
    return None


def draw_rib_bands(sketch: Sketch) -> None:
    """Knit bands at the hem and cuffs (bombers, hoodies, sweaters, joggers)."""
    frame = sketch.frame
    with sketch.part("trim rib"):
        if frame.legs is not None:
            for band in _leg_hem_bands(frame, 18):
                sketch.piece("trim", band, fill=sketch.colors.trim)
            return
        if frame.kind == "top":
            half, top = frame.width_at(frame.hem_y) - 1, frame.hem_y - 20
            sketch.piece("trim", _rect(-half, top, half, frame.hem_y), fill=sketch.colors.trim)
            ribs = " ".join(f"M{_fmt((x, top + 3))} L{_fmt((x, frame.hem_y - 3))}" for x in _spaced(-half + 6, half - 6, 6))
            sketch.line("trim", ribs, "fold")
        if frame.sleeve is not None:
            for band in _cuff_bands(frame.sleeve, 18):
                sketch.piece("trim", band, fill=sketch.colors.trim)


def _leg_hem_bands(frame: Frame, height: float) -> list[str]:
    """A band at the hem of each leg (a rib, a turn-up)."""
    assert frame.legs is not None
    top = frame.hem_y - height
    outer_top, inner_top = frame.width_at(top), interpolate(list(frame.legs[1]), top)
    outer_hem, inner_hem = frame.legs[0][-1][1], frame.legs[1][-1][1]
    right = path_data((inner_top, top), [((outer_top, top),), ((outer_hem, frame.hem_y),), ((inner_hem, frame.hem_y),)], close=True)
    return [right, _mirror_path_data(right)]


def _cuff_bands(sleeve: SleeveShape, depth: float) -> list[str]:
    """A band at the end of each sleeve, `depth` deep along the arm."""
    if sleeve.type == "bell":  # a bell sleeve ends in its flare, never in a cuff
        return []
    outer, inner = sleeve.hem_outer, sleeve.hem_inner
    band = path_data(along(outer, sleeve.direction, -depth), [(outer,), (inner,), (along(inner, sleeve.direction, -depth),)], close=True)
    return [band, _mirror_path_data(band)]


def draw_sleeve_gathers(sketch: Sketch) -> None:
    """Soft folds where a puff sleeve is gathered into its head, or a bishop sleeve into its cuff."""
    sleeve = sketch.frame.sleeve
    if sleeve is None or sleeve.type not in ("puff", "bishop"):
        return
    d, n = sleeve.direction, sleeve.inward
    if sleeve.type == "puff":  # just outside the armhole, which bows in towards the body
        starts = [along(lerp(sleeve.top, sleeve.underarm, t), d, 4) for t in _spaced(0.08, 0.55, 0.09)]
        length = 14.0
    else:
        base, width = along(sleeve.hem_outer, d, -36), math.dist(sleeve.hem_outer, sleeve.hem_inner)
        starts = [along(base, n, offset) for offset in _spaced(4, width - 6, 7)]
        length = 16.0
    gathers = " ".join(f"M{_fmt(start)} L{_fmt(along(start, d, length))}" for start in starts)
    with sketch.part("sleeve gathers"):
        sketch.line("construction", gathers + " " + _mirror_path_data(gathers), "fold")


# -- necklines, collars and hoods ------------------------------------------------------------


def draw_neckline(sketch: Sketch) -> None:
    """Collars, hoods and drapes; the other necklines are only the shape of the neck edge."""
    frame = sketch.frame
    if frame.shoulders == "halter" and not sketch.front:
        with sketch.part("neckline halter"):
            _draw_halter_strap(sketch)
    drawer = NECKLINE_DRAWERS.get(frame.neckline)
    if drawer is not None and frame.has_bodice and frame.shoulders == "normal":
        with sketch.part(f"neckline {frame.neckline}"):
            drawer(sketch)


def _draw_halter_strap(sketch: Sketch) -> None:
    """The strap round the back of the neck, joining the two halves of the front."""
    half = sketch.frame.neck[0] + 10
    strap = path_data((-half, -4), [((0, -12), (0, -12), (half, -4)), ((half, 4),), ((0, -4), (0, -4), (-half, 4))], close=True)
    sketch.piece("trim", strap, fill=sketch.colors.trim)


def _collar_band_behind(sketch: Sketch, height: float) -> None:
    """The back of a collar, standing behind the front neckline."""
    half = sketch.frame.neck[0]
    d = path_data((-half - 1, 2), [((-half + 1, -height),), ((-half * 0.4, -height - 3), (half * 0.4, -height - 3), (half - 1, -height)), ((half + 1, 2),)], close=True)
    sketch.piece("behind", d, fill=sketch.colors.trim)


def _draw_shirt_collar(sketch: Sketch) -> None:
    half = sketch.frame.neck[0]
    if sketch.front:
        _collar_band_behind(sketch, 16)
        leaf = path_data((2, 14), [((24, 52),), ((half + 18, 8),), ((half + 4, -12),), ((half - 6, 4), (16, 8), (2, 14))], close=True)
        sketch.piece("trim", leaf, fill=sketch.colors.trim)
        sketch.piece("trim", _mirror_path_data(leaf), fill=sketch.colors.trim)
    else:
        _back_collar(sketch, half + 16, 10)


def _back_collar(sketch: Sketch, spread: float, drop: float) -> None:
    """A turned-down collar seen from the back: the fall covers the back neck."""
    half = sketch.frame.neck[0]
    start, half_path = (0.0, -14.0), [((half * 0.5, -14), (half, -13), (half + 3, -12)), ((spread, drop),), ((spread * 0.6, drop + 8), (spread * 0.3, drop + 9), (0, drop + 9))]
    sketch.piece("trim", symmetric_outline(start, half_path), fill=sketch.colors.trim)
    sketch.line("trim", f"M{_fmt((-half - 1, -3))} Q{_fmt((0, -7))} {_fmt((half + 1, -3))}", "fold")


def _draw_lapels(sketch: Sketch) -> None:
    half, depth = sketch.frame.neck[0], NECK_FRONT["lapel"][2]
    if not sketch.front:
        _back_collar(sketch, half + 22, 12)
        return
    _collar_band_behind(sketch, 14)
    lapel = path_data((3, depth), [((62, 52),), ((46, 42),), ((58, 26),), ((half + 14, 2),), ((half + 3, -10),), ((half - 4, 30), (12, 80), (3, depth))], close=True)
    sketch.piece("trim", lapel, fill=sketch.colors.trim)
    sketch.piece("trim", _mirror_path_data(lapel), fill=sketch.colors.trim)
    gorge = f"M{_fmt((46, 42))} L{_fmt((half + 2, 22))}"
    sketch.line("trim", gorge + " " + _mirror_path_data(gorge))


def _raised(start: Point, segments: list[Segment], dy: float) -> tuple[Point, list[Segment]]:
    return (start[0], start[1] + dy), [tuple((p[0], p[1] + dy) for p in segment) for segment in segments]


def _draw_stand_collar(sketch: Sketch) -> None:
    """A band standing up from the neckline, its top edge following the neck edge."""
    frame = sketch.frame
    start, neck = neckline_half(frame, sketch.view)
    top_start, top = _raised(start, neck, -STAND_HEIGHT)
    _, top_backwards = reversed_path(top_start, top)
    sketch.piece("trim", symmetric_outline(start, [*neck, ((frame.neck[0] + 1, -STAND_HEIGHT),), *top_backwards]), fill=sketch.colors.trim)
    sketch.line("trim", both_sides(*_raised(start, neck, -STAND_HEIGHT + 4)), "stitch")


def _draw_rolled_neck(sketch: Sketch, height: float, folded: bool) -> None:
    """A turtleneck (folded over) or a mock neck: a tube standing up from the neckline."""
    frame = sketch.frame
    start, neck = neckline_half(frame, sketch.view)
    half, rim = frame.neck[0] + 2, -height
    rim_centre = rim + (3 if sketch.front else -2)  # the rim curves towards the viewer at the front
    outline = [*neck, ((half, rim),), ((half * 0.5, rim_centre), (0, rim_centre), (0, rim_centre))]
    sketch.piece("trim", symmetric_outline(start, outline), fill=sketch.colors.trim)
    if sketch.front:  # the opening of the tube
        opening = f"M{_fmt((-half + 3, rim + 1))} C{_fmt((-half + 3, rim - 8))} {_fmt((half - 3, rim - 8))} {_fmt((half - 3, rim + 1))}"
        sketch.shape("trim", opening + f" C{_fmt((half - 3, rim + 6))} {_fmt((-half + 3, rim + 6))} {_fmt((-half + 3, rim + 1))} Z", sketch.colors.inside)
    if folded:
        fold_y = rim * 0.45
        sketch.line("trim", f"M{_fmt((-half, fold_y))} Q{_fmt((0, fold_y + 8))} {_fmt((half, fold_y))}", "seam")
    ribs = " ".join(f"M{_fmt((x, rim + 6))} L{_fmt((x, -3 if abs(x) > 12 else start[1] * 0.5))}" for x in _spaced(-half + 8, half - 8, 9))
    sketch.line("trim", ribs, "fold")


def _draw_cowl(sketch: Sketch) -> None:
    if not sketch.front:
        return
    half = sketch.frame.neck[0] - 2
    folds = [f"M{_fmt((-half + 6 * i, 2 + 2 * i))} Q{_fmt((0, 36 + 24 * i))} {_fmt((half - 6 * i, 2 + 2 * i))}" for i in range(3)]
    sketch.line("construction", " ".join(folds), "seam")


def hood_outline(frame: Frame, view: View) -> str:
    """A hood standing up behind the head: wider than the neck, peaked at the centre seam."""
    half = frame.neck[0]
    bottom = 28.0 if view == "front" else 58.0
    return symmetric_outline((0.0, bottom), [((half + 12, 14),), ((half + 24, 4), (72, -50), (56, -88)), ((44, -108), (18, -116), (0, -116))])


def draw_hood(sketch: Sketch) -> None:
    frame = sketch.frame
    with sketch.part("hood"):
        sketch.piece("trim", hood_outline(frame, sketch.view))
        if sketch.front:
            half = frame.neck[0]
            opening = symmetric_outline((0.0, 22.0), [((half - 4, -2), (44, -30), (42, -70)), ((38, -92), (16, -100), (0, -100))])
            sketch.piece("trim", opening, fill=sketch.colors.inside)
        else:
            sketch.line("trim", f"M{_fmt((0, -116))} L{_fmt((0, 56))}")


NECKLINE_DRAWERS: dict[str, Callable[[Sketch], None]] = {
    "collared": _draw_shirt_collar,
    "lapel": _draw_lapels,
    "stand-collar": _draw_stand_collar,
    "turtleneck": lambda sketch: _draw_rolled_neck(sketch, TURTLENECK_HEIGHT, folded=True),
    "mock-neck": lambda sketch: _draw_rolled_neck(sketch, MOCK_NECK_HEIGHT, folded=False),
    "cowl": _draw_cowl,
    "hooded": draw_hood,
}


# -- closures --------------------------------------------------------------------------------


def draw_closure(sketch: Sketch) -> None:
    closure = sketch.frame.spec.closure
    with sketch.part(f"closure {closure}" if "zip" not in closure else f"closure zip {closure}"):
        CLOSURE_DRAWERS[closure](sketch)
    if _is_wrap(sketch.frame) and sketch.front:
        with sketch.part("wrap"):
            _draw_wrap_overlap(sketch)


def _opening(frame: Frame, view: View) -> tuple[float, float]:
    """Top and bottom of the centre front (or back) opening."""
    top = frame.opening_top(view)
    if frame.legs is not None:
        bottom = CROTCH_Y - 40 if frame.kind == "trousers" else WAIST_Y + 60
        return top, bottom
    return top, frame.centre_bottom - 4


def _spaced(first: float, last: float, step: float) -> list[float]:
    """Evenly spaced positions from first to last, about `step` apart."""
    count = max(2, int(abs(last - first) / step) + 1)
    return [first + (last - first) * i / (count - 1) for i in range(count)]


def _placket(sketch: Sketch, top: float, bottom: float, fastener: Callable[[Point], None]) -> None:
    sketch.line("closures", _rect(-8, top, 8, bottom), "seam")
    sketch.line("closures", f"M{_fmt((5, top + 3))} L{_fmt((5, bottom - 3))}", "stitch")
    for y in _spaced(top + 12, bottom - 24, 46):
        fastener((0.0, y))


def _draw_buttons(sketch: Sketch) -> None:
    if not sketch.front:
        return
    top, bottom = _opening(sketch.frame, "front")
    _placket(sketch, top, bottom, lambda p: _button(sketch, p))


def _button(sketch: Sketch, centre: Point, radius: float = 4.5) -> None:
    sketch.circle("closures", centre, radius, fill=sketch.colors.accent if sketch.colors.accent != sketch.colors.main else "#FFFFFF")
    sketch.line("closures", f"M{_fmt((centre[0] - 1.2, centre[1]))} L{_fmt((centre[0] + 1.2, centre[1]))}", "fold")


def _draw_snaps(sketch: Sketch) -> None:
    if not sketch.front:
        return
    top, bottom = _opening(sketch.frame, "front")

    def snap(centre: Point) -> None:
        sketch.circle("closures", centre, 5.0, fill="#C8C8C8")
        sketch.circle("closures", centre, 1.8, fill="#C8C8C8")

    _placket(sketch, top, bottom, snap)


def _zip(sketch: Sketch, x: float, top: float, bottom: float) -> None:
    """A zip: the teeth as a fine line between two stitched tapes, with a pull at the top."""
    sketch.line("closures", f"M{_fmt((x, top))} L{_fmt((x, bottom))}", "seam")
    sketch.line("closures", f"M{_fmt((x - 4, top))} L{_fmt((x - 4, bottom))} M{_fmt((x + 4, top))} L{_fmt((x + 4, bottom))}", "stitch")
    sketch.shape("closures", _rect(x - 3, top + 2, x + 3, top + 14), "#C8C8C8")
    sketch.circle("closures", (x, top + 17), 2.5, fill="#C8C8C8")


def _draw_front_zip(sketch: Sketch) -> None:
    if sketch.front:
        _zip(sketch, 0.0, *_opening(sketch.frame, "front"))


def _draw_back_zip(sketch: Sketch) -> None:
    if sketch.front:
        return
    frame = sketch.frame
    top = frame.opening_top("back")
    if frame.kind in ("skirt", "trousers"):
        bottom = WAIST_Y + 100
    elif frame.kind == "top":
        bottom = max(top + 40, frame.hem_y - 30)
    else:
        bottom = min(frame.hem_y - 30, HIP_Y - 10)
    _zip(sketch, 0.0, top, bottom)


def _draw_side_zip(sketch: Sketch) -> None:
    """On the wearer's left side seam, which is on the right of the front view."""
    if not sketch.front:
        return
    frame = sketch.frame
    top = WAIST_Y - WAISTBAND if not frame.has_bodice else frame.underarm[1] + 14
    bottom = min(frame.hem_y - 20, (WAIST_Y if frame.has_bodice else top) + 100)
    if bottom <= top + 20:
        return
    ys = _spaced(top, bottom, 10)
    line = " L".join(_fmt((frame.width_at(y) - 5, y)) for y in ys)
    sketch.line("closures", "M" + line, "seam")
    x = frame.width_at(top) - 5
    sketch.shape("closures", _rect(x - 3, top + 2, x + 3, top + 13), "#C8C8C8")


def _draw_fly(sketch: Sketch) -> None:
    """A fly front: the stitched J-curve of trousers, or a covered placket on anything else."""
    if not sketch.front:
        return
    frame = sketch.frame
    top, bottom = _opening(frame, "front")
    if frame.legs is not None or frame.kind == "skirt":
        fly_top = WAIST_Y
        sketch.line("closures", f"M{_fmt((14, fly_top))} L{_fmt((14, bottom - 14))} Q{_fmt((14, bottom))} {_fmt((0, bottom + 4))}", "stitch")
        sketch.line("closures", f"M{_fmt((0, fly_top))} L{_fmt((0, bottom + 4))}", "seam")
        _button(sketch, (0.0, WAIST_Y - WAISTBAND / 2))
    else:
        sketch.line("closures", f"M{_fmt((0, top))} L{_fmt((0, bottom))}", "seam")
        sketch.line("closures", f"M{_fmt((12, top + 4))} L{_fmt((12, bottom - 30))} Q{_fmt((12, bottom - 18))} {_fmt((0, bottom - 14))}", "stitch")


def _draw_toggles(sketch: Sketch) -> None:
    if not sketch.front:
        return
    frame = sketch.frame
    top, bottom = _opening(frame, "front")
    bottom = min(bottom, WAIST_Y + 40) if frame.hem_y > WAIST_Y + 60 else bottom
    for y in _spaced(top + 16, bottom - 10, 50)[:4]:
        sketch.line("closures", f"M{_fmt((-14, y))} L{_fmt((4, y))}", "seam")  # the rope loop
        sketch.shape("closures", _rect(2, y - 3.5, 22, y + 3.5), "#D9C7A7")


def _draw_hook_and_eye(sketch: Sketch) -> None:
    if not sketch.front:
        return
    top, _ = _opening(sketch.frame, "front")
    y0 = top + 4
    sketch.line("closures", f"M{_fmt((0, y0))} L{_fmt((0, y0 + 40))}", "seam")
    for y in (y0 + 4, y0 + 16):
        sketch.line("closures", f"M{_fmt((-6, y))} L{_fmt((1, y))} A3,3 0 0 1 {_fmt((1, y + 6))} L{_fmt((-3, y + 6))}", "seam")


def _draw_drawstring(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.has_bodice:
        y = WAIST_Y if frame.hem_y > WAIST_Y + 30 else frame.hem_y - 14
        half = frame.width_at(y)
        sketch.line("closures", f"M{_fmt((-half, y - 6))} L{_fmt((half, y - 6))} M{_fmt((-half, y + 6))} L{_fmt((half, y + 6))}", "stitch")
    else:
        y = WAIST_Y - WAISTBAND / 2
    if sketch.front:
        _cord_ends(sketch, [(-6.0, y), (6.0, y)], 46)


def _cord_ends(sketch: Sketch, exits: list[Point], length: float) -> None:
    """Cords hanging from eyelets, each ending in an aglet."""
    for x, y in exits:
        sketch.circle("closures", (x, y), 2.4, fill="#FFFFFF")
        end = (x + (4 if x > 0 else -4), y + length)
        sketch.line("closures", f"M{_fmt((x, y))} Q{_fmt((x + (8 if x > 0 else -8), y + length * 0.5))} {_fmt(end)}", "outline")
        sketch.shape("closures", _rect(end[0] - 2, end[1], end[0] + 2, end[1] + 8), sketch.colors.accent)


def _draw_wrap_tie(sketch: Sketch) -> None:
    if sketch.front:
        _draw_ties(sketch)


def _nothing(sketch: Sketch) -> None:
    """A pullover, or no fastening: nothing to draw."""


CLOSURE_DRAWERS: dict[str, Callable[[Sketch], None]] = {
    "none": _nothing,
    "pullover": _nothing,
    "button-front": _draw_buttons,
    "zip-front": _draw_front_zip,
    "zip-back": _draw_back_zip,
    "wrap-tie": _draw_wrap_tie,
    "snap-front": _draw_snaps,
    "toggle": _draw_toggles,
    "hook-and-eye": _draw_hook_and_eye,
    "drawstring": _draw_drawstring,
    "side-zip": _draw_side_zip,
    "fly-zip": _draw_fly,
}


def _is_wrap(frame: Frame) -> bool:
    return frame.kind != "trousers" and (
        frame.spec.closure == "wrap-tie" or frame.spec.silhouette == "wrap" or (frame.neckline == "wrap" and frame.shoulders == "normal")
    )


def _draw_wrap_overlap(sketch: Sketch) -> None:
    """The edge of the outer front panel. It crosses to the wearer's left (the right of the
    front view), where the ties are: down from the neckline to the waist, and on a skirt from
    the waist down to the hem."""
    frame = sketch.frame
    edges = []
    if frame.has_bodice and frame.shoulders == "normal" and frame.kind != "cape":
        depth = frame.neck_depth("front")
        end_y = min(WAIST_Y, frame.hem_y - 10)
        end = (frame.width_at(end_y) - 1, end_y)
        edges.append(f"M{_fmt((0, depth))} C{_fmt((frame.neck[0] * 0.8, depth + 30))} {_fmt((end[0] * 0.7, end_y - 20))} {_fmt(end)}")
    if frame.kind == "skirt" or (frame.kind == "dress" and frame.hem_y > WAIST_Y + 60):
        top = WAIST_Y + (0 if frame.kind == "skirt" else 2)
        start = (frame.width_at(top) * 0.45, top)
        end = (frame.width_at(frame.hem_y) * 0.15, frame.hem_y + frame.hem_sag * 0.9)
        edges.append(f"M{_fmt(start)} C{_fmt((start[0] * 0.7, top + 80))} {_fmt((end[0], end[1] - 60))} {_fmt(end)}")
    sketch.line("construction", " ".join(edges), "outline")


# -- details ---------------------------------------------------------------------------------


def draw_details(sketch: Sketch) -> None:
    for detail in sorted(sketch.frame.details):
        with sketch.part(f"detail {detail}"):
            DETAIL_DRAWERS[detail](sketch)


def _pocket_places(frame: Frame, view: View, width: float, height: float) -> list[Point]:
    """Top-centre points of one kind of pocket on one view: on the chest of a top or jumpsuit,
    at the hips of a coat, cape or dress, on the back of trousers and skirts."""
    if frame.kind in ("skirt", "trousers"):
        return [(-46.0, WAIST_Y + 24), (46.0, WAIST_Y + 24)] if view == "back" else []
    if view == "back":
        return []
    hip_top = min(WAIST_Y + 28, frame.hem_y - height - 24)
    if (frame.kind in ("dress", "cape") or frame.part == "outer") and hip_top >= WAIST_Y - 40:
        x = frame.width_at(hip_top + height / 2) - width / 2 - 18
        return [(-x, hip_top), (x, hip_top)]
    chest_top = 58.0
    if frame.shoulders != "normal" or frame.hem_y < chest_top + height + 16:
        return []  # no room above a bandeau, beside a halter or on a very short top
    return [(46.0, chest_top)] if frame.part == "upper" else [(-46.0, chest_top), (46.0, chest_top)]


def _patch(sketch: Sketch, centre_top: Point, width: float, height: float) -> None:
    """A patch pocket with rounded lower corners, stitched round its sides and bottom."""
    x, y = centre_top
    w = width / 2
    d = path_data((x - w, y), [((x + w, y),), ((x + w, y + height - 8),), ((x + w, y + height), (x + w, y + height), (x + w - 8, y + height)),
                               ((x - w + 8, y + height),), ((x - w, y + height), (x - w, y + height), (x - w, y + height - 8))], close=True)
    sketch.piece("details", d)
    sketch.line("details", f"M{_fmt((x - w + 4, y + 4))} L{_fmt((x - w + 4, y + height - 6))} M{_fmt((x + w - 4, y + 4))} L{_fmt((x + w - 4, y + height - 6))} "
                f"M{_fmt((x - w + 6, y + height - 4))} L{_fmt((x + w - 6, y + height - 4))}", "stitch")


def _flap(sketch: Sketch, centre_top: Point, width: float, depth: float = 16) -> None:
    """A pointed, buttoned flap over a pocket's mouth, in the trim colour."""
    x, y = centre_top
    w = width / 2 + 2
    d = path_data((x - w, y - 4), [((x + w, y - 4),), ((x + w, y + depth - 4),), ((x, y + depth + 2),), ((x - w, y + depth - 4),)], close=True)
    sketch.piece("details", d, fill=sketch.colors.trim)
    _button(sketch, (x, y + depth - 5), 3.2)


def _patch_pockets(sketch: Sketch) -> None:
    for place in _pocket_places(sketch.frame, sketch.view, 40, 46):
        _patch(sketch, place, 40, 46)


def _flap_pockets(sketch: Sketch) -> None:
    for place in _pocket_places(sketch.frame, sketch.view, 42, 46):
        _patch(sketch, place, 42, 46)
        _flap(sketch, place, 42)


def _welt_pockets(sketch: Sketch) -> None:
    for x, y in _pocket_places(sketch.frame, sketch.view, 44, 10):
        sketch.shape("details", _rect(x - 22, y + 14, x + 22, y + 22), sketch.body_fill)
        sketch.line("details", f"M{_fmt((x - 22, y + 18))} L{_fmt((x + 22, y + 18))}", "fold")


def _side_pockets(sketch: Sketch) -> None:
    """Slanted pocket openings at the hips, front view."""
    frame = sketch.frame
    if not sketch.front or not frame.has_waist:
        return
    if frame.has_bodice and frame.kind != "jumpsuit":
        top = WAIST_Y + 16
        if frame.hem_y < top + 70:
            return
        side = frame.width_at(top)
        opening = f"M{_fmt((side - 6, top))} L{_fmt((side - 22, top + 56))}"
    else:
        side, low = frame.width_at(WAIST_Y), WAIST_Y + 64
        curve = "Q" if frame.spec.category == "jeans" else "L"
        control = f"{_fmt((side - 26, low - 14))} " if curve == "Q" else ""
        opening = f"M{_fmt((side - 30, WAIST_Y))} {curve}{control}{_fmt((frame.width_at(low) - 1, low))}"
    sketch.line("details", opening + " " + _mirror_path_data(opening), "outline")


def _cargo_pockets(sketch: Sketch) -> None:
    """Bellows pockets with flaps: on the thighs of trousers, at the hips of anything else."""
    frame = sketch.frame
    if not sketch.front:
        return
    if frame.legs is not None:
        y = CROTCH_Y + 24
        if frame.hem_y < y + 70:
            return
        places = [(frame.width_at(y + 30) - 30, y)]
        places.append((-places[0][0], y))
    else:
        places = [(x, y + 6) for x, y in _pocket_places(frame, "front", 48, 56)]
    for x, y in places:
        _patch(sketch, (x, y), 46, 56)
        sketch.line("details", f"M{_fmt((x - 23 + 7, y + 6))} L{_fmt((x - 23 + 7, y + 50))} M{_fmt((x + 23 - 7, y + 6))} L{_fmt((x + 23 - 7, y + 50))}", "fold")
        _flap(sketch, (x, y), 46, 18)


def _skirt_range(frame: Frame) -> tuple[float, float] | None:
    """The heights of a skirt (or skirt part of a dress), where pleats and gathers go."""
    if frame.kind == "skirt":
        return WAIST_Y, frame.hem_y
    if frame.kind == "dress" and frame.hem_y > WAIST_Y + 60:
        return (_waist_seam_y(frame) or WAIST_Y), frame.hem_y
    return None


def _fold_lines(sketch: Sketch, top: float, bottom: float, fractions: list[float], weight: str = "fold") -> None:
    """Lines that follow the garment's flare, each at a fraction of the half-width."""
    frame = sketch.frame
    lines = []
    for fraction in fractions:
        points = [(fraction * (frame.width_at(y) - 2), y) for y in _spaced(top, bottom, 40)]
        lines.append("M" + " L".join(_fmt(p) for p in points))
    sketch.line("construction", " ".join(lines), weight)


def _pleats(sketch: Sketch) -> None:
    frame = sketch.frame
    skirt = _skirt_range(frame)
    if skirt is not None:
        top, bottom = skirt
        _fold_lines(sketch, top + 2, bottom - 2, [-0.8, -0.55, -0.3, 0.3, 0.55, 0.8])
    elif frame.legs is not None:
        pleats = " ".join(f"M{_fmt((x, WAIST_Y))} L{_fmt((x + 2, WAIST_Y + 70))}" for x in (22, 36))
        sketch.line("construction", pleats + " " + _mirror_path_data(pleats), "fold")
    elif frame.has_bodice and frame.shoulders == "normal":
        top = 34.0 if sketch.front else 50.0
        pleats = " ".join(f"M{_fmt((x, top))} L{_fmt((x, top + 70))}" for x in (frame.neck[0] + 4, frame.neck[0] + 16))
        sketch.line("construction", pleats + " " + _mirror_path_data(pleats), "fold")


def _inverted_pleats(sketch: Sketch) -> None:
    """A box pleat folded inwards at the centre, stitched down at the top."""
    frame = sketch.frame
    skirt = _skirt_range(frame)
    if skirt is not None:
        top, bottom = skirt
    elif frame.has_bodice and not sketch.front and frame.shoulders == "normal":
        top, bottom = 50.0, (frame.hem_y if frame.legs is None else WAIST_Y)  # below the back yoke
    else:
        return
    sag = frame.hem_sag if bottom >= frame.hem_y - 1 else 0
    sketch.line("construction", f"M{_fmt((0, top + 40))} L{_fmt((0, bottom + sag))}", "seam")
    sketch.line("construction", f"M{_fmt((-12, top))} L{_fmt((-12, top + 40))} L{_fmt((0, top + 46))} L{_fmt((12, top + 40))} L{_fmt((12, top))}", "stitch")


def _gathers(sketch: Sketch) -> None:
    """Short soft folds just below a seam: the skirt's waist, or the neckline of a top."""
    frame = sketch.frame
    skirt = _skirt_range(frame)
    if skirt is not None:
        y = skirt[0] + 3
        half = frame.width_at(y) - 8
    elif frame.has_bodice:
        y = frame.neck_depth(sketch.view) + 4
        half = frame.neck[0] * 0.8 if frame.shoulders == "normal" else frame.width_at(frame.underarm[1]) - 10
    else:
        y, half = WAIST_Y + 3, frame.waist_half - 8
    ticks = " ".join(f"M{_fmt((x, y))} Q{_fmt((x + 2, y + 8))} {_fmt((x, y + 16))}" for x in _spaced(-half, half, 9))
    sketch.line("construction", ticks, "fold")


def _ruffles(sketch: Sketch) -> None:
    """A flounce at the hem: a tier seam and a rippled edge."""
    frame = sketch.frame
    if frame.legs is not None:
        return
    seam_y = frame.hem_y - 44 if frame.hem_y - 44 > frame.profile[0][0] + 20 else frame.hem_y - 20
    half_top, half_hem = frame.width_at(seam_y), frame.profile[-1][1] + 8
    edge_y = frame.hem_y + frame.hem_sag
    xs = _spaced(-half_hem, half_hem, 22)
    d = f"M{_fmt((-half_top, seam_y))} L{_fmt((half_top, seam_y))} L{_fmt((xs[-1], edge_y))} "
    d += " ".join(f"Q{_fmt(((a + b) / 2, edge_y + 10))} {_fmt((a, edge_y))}" for a, b in zip(reversed(xs[:-1]), reversed(xs[1:])))
    d += " Z"
    sketch.piece("surface", d)
    folds = " ".join(f"M{_fmt((x * half_top / half_hem, seam_y + 4))} L{_fmt((x, edge_y + 2))}" for x in xs[1:-1])
    sketch.line("surface", folds, "fold")


def _darts(sketch: Sketch) -> None:
    """Waist darts: up over the bust on a bodice, down from the waistband on a skirt or trousers."""
    frame = sketch.frame
    if frame.has_bodice and frame.kind != "cape" and frame.hem_y > UNDERARM_Y + 40:
        x = frame.width_at(WAIST_Y if frame.has_waist else frame.hem_y) * 0.5
        bottom = min(WAIST_Y + 40, frame.hem_y - 8)
        dart = f"M{_fmt((x, UNDERARM_Y + 16))} L{_fmt((x - 4, min(WAIST_Y, bottom)))} L{_fmt((x, bottom))}"
    elif not frame.has_bodice:
        x = frame.waist_half * 0.5
        dart = f"M{_fmt((x - 4, WAIST_Y))} L{_fmt((x, WAIST_Y + 56))} L{_fmt((x + 4, WAIST_Y))}"
    else:
        return
    sketch.line("construction", dart + " " + _mirror_path_data(dart), "seam")


def _princess_seams(sketch: Sketch) -> None:
    """Curved seams from the armhole over the bust, down to the hem."""
    frame = sketch.frame
    if not frame.has_bodice or frame.kind == "cape":
        return
    bottom = frame.hem_y if frame.legs is None else WAIST_Y
    start_y = frame.underarm[1] - 30 if frame.shoulders == "normal" else frame.neck_depth(sketch.view) + 2
    start = (frame.width_at(start_y) if frame.shoulders != "normal" else frame.shoulder[0] - 14, start_y)
    points = [start, (frame.width_at(UNDERARM_Y + 30) * 0.5, UNDERARM_Y + 30)]
    points += [(frame.width_at(y) * 0.48, y) for y in _spaced(min(WAIST_Y, bottom - 4), bottom, 60) if y > UNDERARM_Y + 40]
    if bottom - 2 > points[-1][1]:
        points.append((frame.width_at(bottom) * 0.48, bottom + frame.hem_sag * 0.8))
    seam = path_data(points[0], smooth_through(points))
    sketch.line("construction", seam + " " + _mirror_path_data(seam), "seam")


def _belt(sketch: Sketch) -> None:
    """A belt in the trim colour through loops at the waist, buckled at the centre front."""
    frame = sketch.frame
    if not frame.has_waist:
        return
    top, bottom = (WAIST_Y - 8, WAIST_Y + 8) if frame.has_bodice else (WAIST_Y - WAISTBAND + 2, WAIST_Y - 2)
    half = frame.width_at(WAIST_Y) + 2 if frame.has_bodice else frame.waist_half
    sketch.piece("details", _rect(-half, top, half, bottom), fill=sketch.colors.trim)
    for x in (-half * 0.6, half * 0.6):  # belt loops
        sketch.shape("details", _rect(x - 3, top - 3, x + 3, bottom + 3), sketch.body_fill)
    if sketch.front:
        sketch.shape("details", _rect(-11, top - 3, 11, bottom + 3), "none", weight="outline")
        sketch.line("details", f"M{_fmt((-2, top + 2))} L{_fmt((-2, bottom - 2))}", "seam")
        if frame.spec.category == "trench" or frame.spec.closure == "wrap-tie":  # a long belt: its tongue shows
            end = f"M{_fmt((11, top + 2))} L{_fmt((30, top + 2))} L{_fmt((34, (top + bottom) / 2))} L{_fmt((30, bottom - 2))} L{_fmt((11, bottom - 2))}"
            sketch.line("details", end, "seam")


def _yoke(sketch: Sketch) -> None:
    """A shoulder yoke across the back; a pointed yoke below the back waistband of trousers and skirts."""
    frame = sketch.frame
    if sketch.front:
        return
    if frame.has_bodice:
        if frame.shoulders != "normal":
            return
        y = 48.0
        half = frame.shoulder[0] - 8 if frame.sleeve is None or frame.sleeve.type not in ("raglan", *CUT_ON_SLEEVES) else frame.width_at(frame.underarm[1]) * 0.8
        sketch.line("construction", f"M{_fmt((-half, y))} Q{_fmt((0, y + 6))} {_fmt((half, y))}", "seam")
        sketch.line("construction", f"M{_fmt((-half, y + 5))} Q{_fmt((0, y + 11))} {_fmt((half, y + 5))}", "stitch")
    else:
        side = WAIST_Y + 30
        yoke = f"M{_fmt((-frame.width_at(side), side))} L{_fmt((0, WAIST_Y + 44))} L{_fmt((frame.width_at(side), side))}"
        sketch.line("construction", yoke, "seam")


def _epaulettes(sketch: Sketch) -> None:
    """Shoulder straps, buttoned near the neck."""
    frame = sketch.frame
    if not frame.has_bodice or frame.shoulders != "normal" or frame.kind == "cape":
        return
    inner, shoulder = lerp(frame.neck, frame.shoulder, 0.3), frame.shoulder
    length = math.dist(inner, shoulder)
    run = ((shoulder[0] - inner[0]) / length, (shoulder[1] - inner[1]) / length)  # along the shoulder
    across = (-run[1], run[0])
    point = along(inner, run, 4)
    corners = [along(shoulder, across, -6), along(point, across, -6), along(inner, run, -2), along(point, across, 6), along(shoulder, across, 6)]
    strap = path_data(corners[0], [(corner,) for corner in corners[1:]], close=True)
    sketch.piece("details", strap, fill=sketch.colors.trim)
    sketch.piece("details", _mirror_path_data(strap), fill=sketch.colors.trim)
    _button(sketch, (inner[0] + 6, inner[1] + 1), 2.8)
    _button(sketch, (-inner[0] - 6, inner[1] + 1), 2.8)


def _cuffs(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.ribbed:
        return  # the rib bands are its cuffs
    if frame.sleeve is not None:
        for band in _cuff_bands(frame.sleeve, 16):
            sketch.piece("trim", band, fill=sketch.colors.trim)
    elif frame.legs is not None:  # turn-ups
        for band in _leg_hem_bands(frame, 16):
            sketch.piece("trim", band, fill=sketch.colors.trim)


def _side_slits(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.legs is not None:
        x_hem, bottom = frame.legs[0][-1][1], frame.hem_y
    else:
        x_hem, bottom = frame.profile[-1][1], frame.hem_y
    top = bottom - min(60.0, (bottom - frame.top_y) * 0.3)
    slit = f"M{_fmt((frame.width_at(top) - 1, top))} L{_fmt((x_hem - 8, bottom))} M{_fmt((frame.width_at(top) - 10, top))} L{_fmt((frame.width_at(top) - 1, top))}"
    sketch.line("construction", slit + " " + _mirror_path_data(slit), "seam")


def _back_slit(sketch: Sketch) -> None:
    frame = sketch.frame
    if sketch.front or frame.legs is not None:
        return
    bottom = frame.hem_y + frame.hem_sag
    top = bottom - min(70.0, (bottom - frame.top_y) * 0.3)
    sketch.line("construction", f"M{_fmt((0, top))} L{_fmt((0, bottom - 14))} L{_fmt((-6, bottom))} M{_fmt((0, bottom - 14))} L{_fmt((6, bottom))}", "seam")
    sketch.line("construction", f"M{_fmt((-8, top))} L{_fmt((8, top))}", "stitch")


def _peplum(sketch: Sketch) -> None:
    frame = sketch.frame
    if not frame.has_waist:
        return
    top = WAIST_Y
    half = frame.width_at(top)
    drop = min(52.0, frame.hem_y - top - 6)
    xs = _spaced(-half - 30, half + 30, 30)
    d = f"M{_fmt((-half, top))} L{_fmt((half, top))} L{_fmt((xs[-1], top + drop))} "
    d += " ".join(f"Q{_fmt(((a + b) / 2, top + drop + 7))} {_fmt((a, top + drop))}" for a, b in zip(reversed(xs[:-1]), reversed(xs[1:]))) + " Z"
    sketch.piece("details", d)
    folds = " ".join(f"M{_fmt((x * half / (half + 30), top + 3))} L{_fmt((x, top + drop))}" for x in xs[1:-1])
    sketch.line("details", folds, "fold")


def _bow(sketch: Sketch) -> None:
    frame = sketch.frame
    if not sketch.front:
        return
    if frame.has_bodice and frame.shoulders == "normal":
        x, y = 0.0, frame.neck_depth("front") + 4
    elif frame.has_bodice:
        x, y = 0.0, frame.neck_depth("front") + 8
    else:
        x, y = 0.0, WAIST_Y - WAISTBAND / 2
    loops = (f"M{_fmt((x, y))} C{_fmt((x - 14, y - 14))} {_fmt((x - 26, y - 8))} {_fmt((x - 24, y))} C{_fmt((x - 26, y + 8))} {_fmt((x - 14, y + 14))} {_fmt((x, y))} Z "
             f"M{_fmt((x, y))} C{_fmt((x + 14, y - 14))} {_fmt((x + 26, y - 8))} {_fmt((x + 24, y))} C{_fmt((x + 26, y + 8))} {_fmt((x + 14, y + 14))} {_fmt((x, y))} Z")
    tails = f"M{_fmt((x - 2, y + 2))} L{_fmt((x - 12, y + 34))} L{_fmt((x - 5, y + 31))} L{_fmt((x + 1, y + 4))} Z M{_fmt((x + 2, y + 2))} L{_fmt((x + 12, y + 34))} L{_fmt((x + 5, y + 31))} L{_fmt((x - 1, y + 4))} Z"
    sketch.shape("details", tails, sketch.colors.trim, weight="outline")
    sketch.shape("details", loops, sketch.colors.trim, weight="outline")
    sketch.shape("details", _rect(x - 4, y - 5, x + 4, y + 5), sketch.colors.trim, weight="outline")


def _topstitching(sketch: Sketch) -> None:
    """Stitching a little inside the hems and edges."""
    _edge_stitching(sketch, 7.0, "stitch")


def _hand_stitching(sketch: Sketch) -> None:
    """Running stitches, visible and uneven, further inside the edges."""
    _edge_stitching(sketch, 12.0, "hand")


def _edge_stitching(sketch: Sketch, inset: float, weight: str) -> None:
    frame = sketch.frame
    lines = []
    if frame.legs is not None:
        for sign in (-1, 1):
            y = frame.hem_y - inset
            lines.append(f"M{_fmt((sign * (interpolate(list(frame.legs[1]), y) + 2), y))} L{_fmt((sign * (frame.width_at(y) - 2), y))}")
    else:
        y = frame.hem_y - inset
        half = frame.width_at(y) - 3
        sag = frame.hem_sag
        lines.append(f"M{_fmt((-half, y))} Q{_fmt((0, y + 2 * sag))} {_fmt((half, y))}")
    if not frame.has_bodice:
        half = frame.waist_half - 3
        lines.append(f"M{_fmt((-half, WAIST_Y - WAISTBAND + inset * 0.5))} L{_fmt((half, WAIST_Y - WAISTBAND + inset * 0.5))}")
    elif frame.shoulders == "normal" and frame.kind != "cape":
        start, neck = neckline_half(frame, sketch.view)
        moved = [tuple((p[0], p[1] + inset) for p in segment) for segment in neck]
        lines.append(both_sides((start[0], start[1] + inset), moved))
    if frame.sleeve is not None:
        sleeve = frame.sleeve
        a, b = along(sleeve.hem_outer, sleeve.direction, -inset), along(sleeve.hem_inner, sleeve.direction, -inset)
        hem = f"M{_fmt(a)} L{_fmt(b)}"
        lines.append(hem + " " + _mirror_path_data(hem))
    sketch.line("construction", " ".join(lines), weight)


def _quilting(sketch: Sketch) -> None:
    """Channel quilting: stitched rows across the body."""
    frame = sketch.frame
    top = frame.top_y if frame.has_bodice else WAIST_Y
    bottom = frame.centre_bottom if frame.legs is None else frame.hem_y
    rows = " ".join(f"M{_fmt((-MAX_HALF_WIDTH, y))} L{_fmt((MAX_HALF_WIDTH, y))}" for y in _spaced(top + 26, bottom - 6, 28))
    sketch.clipped("surface", rows, "seam")


def _patchwork(sketch: Sketch) -> None:
    """Patches in the palette's other colours, pieced in brick rows."""
    frame = sketch.frame
    top = (frame.top_y if frame.has_bodice else WAIST_Y) - 20
    bottom = frame.hem_y + 20
    colors = [sketch.colors.trim, sketch.body_fill, sketch.colors.accent, sketch.body_fill]
    row_height, cell = 70.0, 64.0
    for row, y in enumerate(_spaced(top, bottom, row_height)[:-1]):
        offset = (row % 2) * cell / 2
        for column, x in enumerate(range(-320, 320, int(cell))):
            color = colors[(row + column) % len(colors)]
            sketch.clipped("surface", _rect(x + offset, y, x + offset + cell, y + row_height), "seam", fill=color)


def _raw_hem(sketch: Sketch) -> None:
    """Frayed threads along the hem."""
    frame = sketch.frame
    spans: list[tuple[float, float]]
    if frame.legs is not None:
        inner, outer = frame.legs[1][-1][1], frame.legs[0][-1][1]
        spans = [(inner, outer), (-outer, -inner)]
    else:
        half = frame.profile[-1][1]
        spans = [(-half, half)]
    y = frame.hem_y
    threads = []
    for a, b in spans:
        for x in _spaced(a + 2, b - 2, 5):
            base = y + frame.hem_sag * (1 - (x / max(abs(a), abs(b), 1)) ** 2) if frame.legs is None else y
            threads.append(f"M{_fmt((x, base - 2))} L{_fmt((x + 1, base + 6))}")
    sketch.line("construction", " ".join(threads), "fold")


def _drawcord_hem(sketch: Sketch) -> None:
    """A channel at the hem with a cord let out at each side."""
    frame = sketch.frame
    if frame.legs is not None:
        y = frame.hem_y - 14
        channel = f"M{_fmt((interpolate(list(frame.legs[1]), y), y))} L{_fmt((frame.width_at(y), y))}"
        sketch.line("construction", channel + " " + _mirror_path_data(channel), "stitch")
        if sketch.front:
            x = frame.width_at(y) - 8
            _cord_ends(sketch, [(x, y + 6), (-x, y + 6)], 26)
        return
    y = frame.hem_y - 16
    half = frame.width_at(y) - 2
    sketch.line("construction", f"M{_fmt((-half, y))} Q{_fmt((0, y + 2 * frame.hem_sag))} {_fmt((half, y))}", "stitch")
    if sketch.front:
        _cord_ends(sketch, [(-half + 14, y + 8), (half - 14, y + 8)], 30)


def _hood(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.has_bodice and frame.shoulders == "normal" and frame.neckline != "hooded":
        draw_hood(sketch)


def _ties(sketch: Sketch) -> None:
    if sketch.front:
        _draw_ties(sketch)


def _draw_ties(sketch: Sketch) -> None:
    """A knot at the wearer's left side of the waist (right of the front view) with two hanging ends."""
    frame = sketch.frame
    y = (_waist_seam_y(frame) or WAIST_Y) if frame.has_waist else frame.hem_y - 12
    if not frame.has_bodice:
        y = WAIST_Y - WAISTBAND / 2
    x = frame.width_at(y) - 14
    for lean, length in ((-6.0, 74.0), (8.0, 62.0)):
        end = (x + lean, y + length)
        tie = f"M{_fmt((x - 4, y))} L{_fmt((end[0] - 5, end[1]))} L{_fmt((end[0] + 5, end[1] + 3))} L{_fmt((x + 4, y))} Z"
        sketch.shape("details", tie, sketch.colors.trim, weight="outline")
    sketch.shape("details", _rect(x - 7, y - 6, x + 7, y + 6), sketch.colors.trim, weight="outline")


def _smocking(sketch: Sketch) -> None:
    """Rows of zigzag stitching that gather the fabric: across the bodice, or the waist of a skirt."""
    frame = sketch.frame
    if frame.has_bodice:
        top = max(frame.neck_depth(sketch.view), UNDERARM_Y - 40) + 10
        rows = _spaced(top, min(top + 60, frame.hem_y - 10), 12)
    else:
        rows = _spaced(WAIST_Y + 4, WAIST_Y + 40, 12)
    zigzags = []
    for y in rows:
        points = [(x, y + (3 if i % 2 else -3)) for i, x in enumerate(_spaced(-MAX_HALF_WIDTH, MAX_HALF_WIDTH, 8))]
        zigzags.append("M" + " L".join(_fmt(p) for p in points))
    sketch.clipped("surface", " ".join(zigzags), "fold")


DETAIL_DRAWERS: dict[str, Callable[[Sketch], None]] = {
    "patch-pockets": _patch_pockets,
    "welt-pockets": _welt_pockets,
    "side-pockets": _side_pockets,
    "flap-pockets": _flap_pockets,
    "pleats": _pleats,
    "inverted-pleats": _inverted_pleats,
    "gathers": _gathers,
    "ruffles": _ruffles,
    "darts": _darts,
    "princess-seams": _princess_seams,
    "belt": _belt,
    "yoke": _yoke,
    "epaulettes": _epaulettes,
    "cuffs": _cuffs,
    "side-slit": _side_slits,
    "back-slit": _back_slit,
    "peplum": _peplum,
    "bow": _bow,
    "topstitching": _topstitching,
    "quilting": _quilting,
    "patchwork": _patchwork,
    "raw-hem": _raw_hem,
    "drawcord-hem": _drawcord_hem,
    "hood": _hood,
    "ties": _ties,
    "hand-stitching": _hand_stitching,
    "smocking": _smocking,
    "cargo-pockets": _cargo_pockets,
}


# -- public API ------------------------------------------------------------------------------


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; a flat has the views: {', '.join(VIEWS)}")


def _check_spec(spec: object) -> None:
    if not isinstance(spec, DesignSpec):
        raise TypeError(f"expected a DesignSpec, got {type(spec).__name__} (build one with DesignSpec.from_data)")


def render_flat(frame: Frame, view: View, tile: tuple[str, float] | None = None) -> str:
    """One view of a measured garment; `tile` is a data URI and aspect from `tile_data_uri`."""
    sketch = Sketch(frame, view, tile)
    draw_pieces(sketch)
    draw_neckline(sketch)
    draw_closure(sketch)
    draw_details(sketch)
    return sketch.svg()


def draw_flat(spec: DesignSpec, view: View = "front", print_tile: Image.Image | None = None) -> str:
    """The technical flat of a spec, one view, as an SVG document.

    `print_tile` (one repeat of the print, made elsewhere) fills the garment's pieces at the
    spec's print scale; without it the pieces take the palette's main colour.
    """
    _check_spec(spec)
    _check_view(view)
    tile = tile_data_uri(print_tile) if print_tile is not None else None
    return render_flat(build_frame(spec), view, tile)


def draw_flats(spec: DesignSpec, print_tile: Image.Image | None = None) -> dict[str, str]:
    """Front and back flats of a spec: {"front": svg, "back": svg}."""
    _check_spec(spec)
    frame = build_frame(spec)
    tile = tile_data_uri(print_tile) if print_tile is not None else None
    return {view: render_flat(frame, view, tile) for view in VIEWS}


def flat_to_png(svg: str, width: int = 1200) -> Image.Image:
    """Rasterise a flat with cairo, keeping its proportions: an RGBA image `width` pixels wide."""
    if width < 1:
        raise ValueError(f"width must be a positive number of pixels, got {width}")
    try:
        import cairosvg
        from cairosvg.parser import Tree
        from cairosvg.surface import PNGSurface
    except OSError as error:  # cairosvg is installed but the cairo library is not
        raise RuntimeError("rasterising flats needs the cairo library (Debian: apt-get install libcairo2)") from error
    if sys.byteorder != "little":
        image = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=width)))
        image.load()
        return image
    # Draw into cairo's image surface and read its pixels: encoding a PNG only to decode it
    # again takes longer than the drawing itself. Cairo keeps native-endian ARGB with
    # premultiplied alpha, which is "BGRa" to Pillow on a little-endian machine.
    surface = PNGSurface(Tree(bytestring=svg.encode("utf-8")), None, 96, output_width=width)
    pixels = surface.cairo
    pixels.flush()
    size = (pixels.get_width(), pixels.get_height())
    image = Image.frombuffer("RGBA", size, bytes(pixels.get_data()), "raw", "BGRa", pixels.get_stride(), 1)
    surface.finish()
    return image
