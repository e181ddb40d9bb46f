"""The frame: a spec's garment measured once, as landmarks both views are drawn from.

Garment units: y = 0 is the base of the neck, and one unit is about 2 mm on a size-S body.
Every category is measured against the same body, so a floor-length dress is longer than a
mini and a top can sit beside a skirt. Only the right half is measured (x >= 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pipelines.fashion.flats.geometry import Point, along, cut_profile, interpolate
from pipelines.fashion.spec import DesignSpec

View = Literal["front", "back"]
VIEWS: tuple[View, ...] = ("front", "back")


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


def waist_seam_y(frame: Frame) -> float | None:
    """Where a dress or jumpsuit is seamed across the waist (or under the bust), if it is."""
    if frame.kind == "jumpsuit":
        return WAIST_Y
    if frame.kind != "dress":
        return None
    if frame.spec.silhouette == "empire":
        return EMPIRE_Y
    if frame.spec.silhouette in ("fit-and-flare", "ball-gown", "wrap"):
        return WAIST_Y
    return None


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
