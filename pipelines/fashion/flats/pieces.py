"""The garment's pieces: the body, the sleeves and the inside seen through the neckline, the
waistband, and the lines and bands every garment of its kind has (waist seams, rib bands,
gathers at a puffed sleeve head)."""

from __future__ import annotations

import math

from pipelines.fashion.flats.frame import CROTCH_Y, CUT_ON_SLEEVES, OFF_SHOULDER_Y, UNDERARM_Y, WAISTBAND, WAIST_Y, Frame, SleeveShape, View, waist_seam_y
from pipelines.fashion.flats.geometry import along, interpolate, lerp, mirror_path, path_data, rect_path, spaced, symmetric_outline, xy
from pipelines.fashion.flats.outline import body_outline, sleeve_outline
from pipelines.fashion.flats.sketch import Sketch


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
            sketch.piece("sleeves", mirror_path(d))
    with sketch.part(f"piece {frame.kind}"):
        sketch.piece("body", symmetric_outline(*body_outline(frame, view)), clip=True)
    if not frame.has_bodice:
        draw_waistband(sketch)
    draw_construction(sketch)
    if frame.ribbed:
        draw_rib_bands(sketch)
    draw_sleeve_gathers(sketch)


def draw_waistband(sketch: Sketch) -> None:
    frame = sketch.frame
    half, top = frame.waist_half, WAIST_Y - WAISTBAND
    with sketch.part("trim waistband"):
        sketch.piece("trim", rect_path(-half + 1, top, half - 1, WAIST_Y), fill=sketch.colors.trim)
        if frame.spec.category in ("joggers", "leggings") or frame.spec.closure == "drawstring":
            # an elastic waist: gathered all round
            ticks = " ".join(f"M{xy((x, top + 3))} L{xy((x + 1.5, WAIST_Y - 3))}" for x in spaced(-half + 8, half - 8, 7))
            sketch.line("trim", ticks, "fold")


def draw_construction(sketch: Sketch) -> None:
    """Lines the garment has whatever its details: waist seams, the centre seam of trousers,
    the band of an off-shoulder top, the arm slits of a cape."""
    frame = sketch.frame
    with sketch.part("construction"):
        seam_y = waist_seam_y(frame)
        if seam_y is not None:
            half = frame.width_at(seam_y)
            sketch.line("construction", f"M{xy((-half, seam_y))} L{xy((half, seam_y))}")
        if frame.legs is not None:
            # the centre seam from the waist to the crotch
            sketch.line("construction", f"M{xy((0, WAIST_Y))} L{xy((0, CROTCH_Y - 6))}")
        if frame.shoulders == "off":
            band = frame.shoulder[0]
            sketch.line("construction", f"M{xy((-band, OFF_SHOULDER_Y + 12))} L{xy((band, OFF_SHOULDER_Y + 12))}", "stitch")
        if frame.kind == "cape" and sketch.front and frame.hem_y > UNDERARM_Y + 110:
            # arm slits, bound with a stitched edge
            x = frame.width_at(UNDERARM_Y + 60) - 34
            slit = f"M{xy((x, UNDERARM_Y + 40))} L{xy((x + 4, UNDERARM_Y + 110))}"
            sketch.line("construction", slit + " " + mirror_path(slit), "outline")


def draw_rib_bands(sketch: Sketch) -> None:
    """Knit bands at the hem and cuffs (bombers, hoodies, sweaters, joggers)."""
    frame = sketch.frame
    with sketch.part("trim rib"):
        if frame.legs is not None:
            for band in leg_hem_bands(frame, 18):
                sketch.piece("trim", band, fill=sketch.colors.trim)
            return
        if frame.kind == "top":
            half, top = frame.width_at(frame.hem_y) - 1, frame.hem_y - 20
            sketch.piece("trim", rect_path(-half, top, half, frame.hem_y), fill=sketch.colors.trim)
            ribs = " ".join(f"M{xy((x, top + 3))} L{xy((x, frame.hem_y - 3))}" for x in spaced(-half + 6, half - 6, 6))
            sketch.line("trim", ribs, "fold")
        if frame.sleeve is not None:
            for band in cuff_bands(frame.sleeve, 18):
                sketch.piece("trim", band, fill=sketch.colors.trim)


def leg_hem_bands(frame: Frame, height: float) -> list[str]:
    """A band at the hem of each leg (a rib, a turn-up)."""
    assert frame.legs is not None
    top = frame.hem_y - height
    outer_top, inner_top = frame.width_at(top), interpolate(list(frame.legs[1]), top)
    outer_hem, inner_hem = frame.legs[0][-1][1], frame.legs[1][-1][1]
    right = path_data((inner_top, top), [((outer_top, top),), ((outer_hem, frame.hem_y),), ((inner_hem, frame.hem_y),)], close=True)
    return [right, mirror_path(right)]


def cuff_bands(sleeve: SleeveShape, depth: float) -> list[str]:
    """A band at the end of each sleeve, `depth` deep along the arm."""
    if sleeve.type == "bell":  # a bell sleeve ends in its flare, never in a cuff
        return []
    outer, inner = sleeve.hem_outer, sleeve.hem_inner
    band = path_data(along(outer, sleeve.direction, -depth), [(outer,), (inner,), (along(inner, sleeve.direction, -depth),)], close=True)
    return [band, mirror_path(band)]


def draw_sleeve_gathers(sketch: Sketch) -> None:
    """Soft folds where a puff sleeve is gathered into its head, or a bishop sleeve into its cuff."""
    sleeve = sketch.frame.sleeve
    if sleeve is None or sleeve.type not in ("puff", "bishop"):
        return
    d, n = sleeve.direction, sleeve.inward
    if sleeve.type == "puff":  # just outside the armhole, which bows in towards the body
        starts = [along(lerp(sleeve.top, sleeve.underarm, t), d, 4) for t in spaced(0.08, 0.55, 0.09)]
        length = 14.0
    else:
        base, width = along(sleeve.hem_outer, d, -36), math.dist(sleeve.hem_outer, sleeve.hem_inner)
        starts = [along(base, n, offset) for offset in spaced(4, width - 6, 7)]
        length = 16.0
    gathers = " ".join(f"M{xy(start)} L{xy(along(start, d, length))}" for start in starts)
    with sketch.part("sleeve gathers"):
        sketch.line("construction", gathers + " " + mirror_path(gathers), "fold")
