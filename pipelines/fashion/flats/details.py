"""Details, one drawing function per detail word, registered with `@detail("word")`: a new
detail is a function here. Every word draws; one that cannot apply is skipped quietly (cuffs
without sleeves, a back slit on trousers)."""

from __future__ import annotations

import math

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.flats.closures import button, cord_ends, draw_ties
from pipelines.fashion.flats.frame import CROTCH_Y, CUT_ON_SLEEVES, MAX_HALF_WIDTH, UNDERARM_Y, WAISTBAND, WAIST_Y, Frame, View, waist_seam_y
from pipelines.fashion.flats.geometry import Point, along, both_sides, interpolate, lerp, mirror_path, path_data, rect_path, smooth_through, spaced, xy
from pipelines.fashion.flats.necklines import draw_hood
from pipelines.fashion.flats.outline import neckline_half
from pipelines.fashion.flats.pieces import cuff_bands, leg_hem_bands
from pipelines.fashion.flats.sketch import Drawers, Sketch

DETAIL_DRAWERS = Drawers("detail", vocab.DETAILS)
detail = DETAIL_DRAWERS.register


def draw_details(sketch: Sketch) -> None:
    for word in sorted(sketch.frame.details):
        with sketch.part(f"detail {word}"):
            DETAIL_DRAWERS[word](sketch)


# -- pockets --------------------------------------------------------------------------------


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
    sketch.line("details", f"M{xy((x - w + 4, y + 4))} L{xy((x - w + 4, y + height - 6))} M{xy((x + w - 4, y + 4))} L{xy((x + w - 4, y + height - 6))} "
                f"M{xy((x - w + 6, y + height - 4))} L{xy((x + w - 6, y + height - 4))}", "stitch")


def _flap(sketch: Sketch, centre_top: Point, width: float, depth: float = 16) -> None:
    """A pointed, buttoned flap over a pocket's mouth, in the trim colour."""
    x, y = centre_top
    w = width / 2 + 2
    d = path_data((x - w, y - 4), [((x + w, y - 4),), ((x + w, y + depth - 4),), ((x, y + depth + 2),), ((x - w, y + depth - 4),)], close=True)
    sketch.piece("details", d, fill=sketch.colors.trim)
    button(sketch, (x, y + depth - 5), 3.2)


@detail("patch-pockets")
def _patch_pockets(sketch: Sketch) -> None:
    for place in _pocket_places(sketch.frame, sketch.view, 40, 46):
        _patch(sketch, place, 40, 46)


@detail("flap-pockets")
def _flap_pockets(sketch: Sketch) -> None:
    for place in _pocket_places(sketch.frame, sketch.view, 42, 46):
        _patch(sketch, place, 42, 46)
        _flap(sketch, place, 42)


@detail("welt-pockets")
def _welt_pockets(sketch: Sketch) -> None:
    for x, y in _pocket_places(sketch.frame, sketch.view, 44, 10):
        sketch.shape("details", rect_path(x - 22, y + 14, x + 22, y + 22), sketch.body_fill)
        sketch.line("details", f"M{xy((x - 22, y + 18))} L{xy((x + 22, y + 18))}", "fold")


@detail("side-pockets")
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
        opening = f"M{xy((side - 6, top))} L{xy((side - 22, top + 56))}"
    else:
        side, low = frame.width_at(WAIST_Y), WAIST_Y + 64
        curve = "Q" if frame.spec.category == "jeans" else "L"
        control = f"{xy((side - 26, low - 14))} " if curve == "Q" else ""
        opening = f"M{xy((side - 30, WAIST_Y))} {curve}{control}{xy((frame.width_at(low) - 1, low))}"
    sketch.line("details", opening + " " + mirror_path(opening), "outline")


@detail("cargo-pockets")
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
        sketch.line("details", f"M{xy((x - 23 + 7, y + 6))} L{xy((x - 23 + 7, y + 50))} M{xy((x + 23 - 7, y + 6))} L{xy((x + 23 - 7, y + 50))}", "fold")
        _flap(sketch, (x, y), 46, 18)


# -- folds, seams and shaping ----------------------------------------------------------------


def _skirt_range(frame: Frame) -> tuple[float, float] | None:
    """The heights of a skirt (or skirt part of a dress), where pleats and gathers go."""
    if frame.kind == "skirt":
        return WAIST_Y, frame.hem_y
    if frame.kind == "dress" and frame.hem_y > WAIST_Y + 60:
        return (waist_seam_y(frame) or WAIST_Y), frame.hem_y
    return None


def _fold_lines(sketch: Sketch, top: float, bottom: float, fractions: list[float], weight: str = "fold") -> None:
    """Lines that follow the garment's flare, each at a fraction of the half-width."""
    frame = sketch.frame
    lines = []
    for fraction in fractions:
        points = [(fraction * (frame.width_at(y) - 2), y) for y in spaced(top, bottom, 40)]
        lines.append("M" + " L".join(xy(p) for p in points))
    sketch.line("construction", " ".join(lines), weight)


@detail("pleats")
def _pleats(sketch: Sketch) -> None:
    frame = sketch.frame
    skirt = _skirt_range(frame)
    if skirt is not None:
        top, bottom = skirt
        _fold_lines(sketch, top + 2, bottom - 2, [-0.8, -0.55, -0.3, 0.3, 0.55, 0.8])
    elif frame.legs is not None:
        pleats = " ".join(f"M{xy((x, WAIST_Y))} L{xy((x + 2, WAIST_Y + 70))}" for x in (22, 36))
        sketch.line("construction", pleats + " " + mirror_path(pleats), "fold")
    elif frame.has_bodice and frame.shoulders == "normal":
        top = 34.0 if sketch.front else 50.0
        pleats = " ".join(f"M{xy((x, top))} L{xy((x, top + 70))}" for x in (frame.neck[0] + 4, frame.neck[0] + 16))
        sketch.line("construction", pleats + " " + mirror_path(pleats), "fold")


@detail("inverted-pleats")
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
    sketch.line("construction", f"M{xy((0, top + 40))} L{xy((0, bottom + sag))}", "seam")
    sketch.line("construction", f"M{xy((-12, top))} L{xy((-12, top + 40))} L{xy((0, top + 46))} L{xy((12, top + 40))} L{xy((12, top))}", "stitch")


@detail("gathers")
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
    ticks = " ".join(f"M{xy((x, y))} Q{xy((x + 2, y + 8))} {xy((x, y + 16))}" for x in spaced(-half, half, 9))
    sketch.line("construction", ticks, "fold")


@detail("ruffles")
def _ruffles(sketch: Sketch) -> None:
    """A flounce at the hem: a tier seam and a rippled edge."""
    frame = sketch.frame
    if frame.legs is not None:
        return
    seam_y = frame.hem_y - 44 if frame.hem_y - 44 > frame.profile[0][0] + 20 else frame.hem_y - 20
    half_top, half_hem = frame.width_at(seam_y), frame.profile[-1][1] + 8
    edge_y = frame.hem_y + frame.hem_sag
    xs = spaced(-half_hem, half_hem, 22)
    d = f"M{xy((-half_top, seam_y))} L{xy((half_top, seam_y))} L{xy((xs[-1], edge_y))} "
    d += " ".join(f"Q{xy(((a + b) / 2, edge_y + 10))} {xy((a, edge_y))}" for a, b in zip(reversed(xs[:-1]), reversed(xs[1:])))
    d += " Z"
    sketch.piece("surface", d)
    folds = " ".join(f"M{xy((x * half_top / half_hem, seam_y + 4))} L{xy((x, edge_y + 2))}" for x in xs[1:-1])
    sketch.line("surface", folds, "fold")


@detail("darts")
def _darts(sketch: Sketch) -> None:
    """Waist darts: up over the bust on a bodice, down from the waistband on a skirt or trousers."""
    frame = sketch.frame
    if frame.has_bodice and frame.kind != "cape" and frame.hem_y > UNDERARM_Y + 40:
        x = frame.width_at(WAIST_Y if frame.has_waist else frame.hem_y) * 0.5
        bottom = min(WAIST_Y + 40, frame.hem_y - 8)
        dart = f"M{xy((x, UNDERARM_Y + 16))} L{xy((x - 4, min(WAIST_Y, bottom)))} L{xy((x, bottom))}"
    elif not frame.has_bodice:
        x = frame.waist_half * 0.5
        dart = f"M{xy((x - 4, WAIST_Y))} L{xy((x, WAIST_Y + 56))} L{xy((x + 4, WAIST_Y))}"
    else:
        return
    sketch.line("construction", dart + " " + mirror_path(dart), "seam")


@detail("princess-seams")
def _princess_seams(sketch: Sketch) -> None:
    """Curved seams from the armhole over the bust, down to the hem."""
    frame = sketch.frame
    if not frame.has_bodice or frame.kind == "cape":
        return
    bottom = frame.hem_y if frame.legs is None else WAIST_Y
    start_y = frame.underarm[1] - 30 if frame.shoulders == "normal" else frame.neck_depth(sketch.view) + 2
    start = (frame.width_at(start_y) if frame.shoulders != "normal" else frame.shoulder[0] - 14, start_y)
    points = [start, (frame.width_at(UNDERARM_Y + 30) * 0.5, UNDERARM_Y + 30)]
    points += [(frame.width_at(y) * 0.48, y) for y in spaced(min(WAIST_Y, bottom - 4), bottom, 60) if y > UNDERARM_Y + 40]
    if bottom - 2 > points[-1][1]:
        points.append((frame.width_at(bottom) * 0.48, bottom + frame.hem_sag * 0.8))
    seam = path_data(points[0], smooth_through(points))
    sketch.line("construction", seam + " " + mirror_path(seam), "seam")


@detail("yoke")
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
        sketch.line("construction", f"M{xy((-half, y))} Q{xy((0, y + 6))} {xy((half, y))}", "seam")
        sketch.line("construction", f"M{xy((-half, y + 5))} Q{xy((0, y + 11))} {xy((half, y + 5))}", "stitch")
    else:
        side = WAIST_Y + 30
        yoke = f"M{xy((-frame.width_at(side), side))} L{xy((0, WAIST_Y + 44))} L{xy((frame.width_at(side), side))}"
        sketch.line("construction", yoke, "seam")


@detail("side-slit")
def _side_slits(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.legs is not None:
        x_hem, bottom = frame.legs[0][-1][1], frame.hem_y
    else:
        x_hem, bottom = frame.profile[-1][1], frame.hem_y
    top = bottom - min(60.0, (bottom - frame.top_y) * 0.3)
    slit = f"M{xy((frame.width_at(top) - 1, top))} L{xy((x_hem - 8, bottom))} M{xy((frame.width_at(top) - 10, top))} L{xy((frame.width_at(top) - 1, top))}"
    sketch.line("construction", slit + " " + mirror_path(slit), "seam")


@detail("back-slit")
def _back_slit(sketch: Sketch) -> None:
    frame = sketch.frame
    if sketch.front or frame.legs is not None:
        return
    bottom = frame.hem_y + frame.hem_sag
    top = bottom - min(70.0, (bottom - frame.top_y) * 0.3)
    sketch.line("construction", f"M{xy((0, top))} L{xy((0, bottom - 14))} L{xy((-6, bottom))} M{xy((0, bottom - 14))} L{xy((6, bottom))}", "seam")
    sketch.line("construction", f"M{xy((-8, top))} L{xy((8, top))}", "stitch")


@detail("peplum")
def _peplum(sketch: Sketch) -> None:
    frame = sketch.frame
    if not frame.has_waist:
        return
    top = WAIST_Y
    half = frame.width_at(top)
    drop = min(52.0, frame.hem_y - top - 6)
    xs = spaced(-half - 30, half + 30, 30)
    d = f"M{xy((-half, top))} L{xy((half, top))} L{xy((xs[-1], top + drop))} "
    d += " ".join(f"Q{xy(((a + b) / 2, top + drop + 7))} {xy((a, top + drop))}" for a, b in zip(reversed(xs[:-1]), reversed(xs[1:]))) + " Z"
    sketch.piece("details", d)
    folds = " ".join(f"M{xy((x * half / (half + 30), top + 3))} L{xy((x, top + drop))}" for x in xs[1:-1])
    sketch.line("details", folds, "fold")


@detail("smocking")
def _smocking(sketch: Sketch) -> None:
    """Rows of zigzag stitching that gather the fabric: across the bodice, or the waist of a skirt."""
    frame = sketch.frame
    if frame.has_bodice:
        top = max(frame.neck_depth(sketch.view), UNDERARM_Y - 40) + 10
        rows = spaced(top, min(top + 60, frame.hem_y - 10), 12)
    else:
        rows = spaced(WAIST_Y + 4, WAIST_Y + 40, 12)
    zigzags = []
    for y in rows:
        points = [(x, y + (3 if i % 2 else -3)) for i, x in enumerate(spaced(-MAX_HALF_WIDTH, MAX_HALF_WIDTH, 8))]
        zigzags.append("M" + " L".join(xy(p) for p in points))
    sketch.clipped("surface", " ".join(zigzags), "fold")


# -- trims ----------------------------------------------------------------------------------


@detail("belt")
def _belt(sketch: Sketch) -> None:
    """A belt in the trim colour through loops at the waist, buckled at the centre front."""
    frame = sketch.frame
    if not frame.has_waist:
        return
    top, bottom = (WAIST_Y - 8, WAIST_Y + 8) if frame.has_bodice else (WAIST_Y - WAISTBAND + 2, WAIST_Y - 2)
    half = frame.width_at(WAIST_Y) + 2 if frame.has_bodice else frame.waist_half
    sketch.piece("details", rect_path(-half, top, half, bottom), fill=sketch.colors.trim)
    for x in (-half * 0.6, half * 0.6):  # belt loops
        sketch.shape("details", rect_path(x - 3, top - 3, x + 3, bottom + 3), sketch.body_fill)
    if sketch.front:
        sketch.shape("details", rect_path(-11, top - 3, 11, bottom + 3), "none", weight="outline")
        sketch.line("details", f"M{xy((-2, top + 2))} L{xy((-2, bottom - 2))}", "seam")
        if frame.spec.category == "trench" or frame.spec.closure == "wrap-tie":  # a long belt: its tongue shows
            end = f"M{xy((11, top + 2))} L{xy((30, top + 2))} L{xy((34, (top + bottom) / 2))} L{xy((30, bottom - 2))} L{xy((11, bottom - 2))}"
            sketch.line("details", end, "seam")


@detail("epaulettes")
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
    sketch.piece("details", mirror_path(strap), fill=sketch.colors.trim)
    button(sketch, (inner[0] + 6, inner[1] + 1), 2.8)
    button(sketch, (-inner[0] - 6, inner[1] + 1), 2.8)


@detail("cuffs")
def _cuffs(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.ribbed:
        return  # the rib bands are its cuffs
    if frame.sleeve is not None:
        for band in cuff_bands(frame.sleeve, 16):
            sketch.piece("trim", band, fill=sketch.colors.trim)
    elif frame.legs is not None:  # turn-ups
        for band in leg_hem_bands(frame, 16):
            sketch.piece("trim", band, fill=sketch.colors.trim)


@detail("bow")
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
    loops = (f"M{xy((x, y))} C{xy((x - 14, y - 14))} {xy((x - 26, y - 8))} {xy((x - 24, y))} C{xy((x - 26, y + 8))} {xy((x - 14, y + 14))} {xy((x, y))} Z "
             f"M{xy((x, y))} C{xy((x + 14, y - 14))} {xy((x + 26, y - 8))} {xy((x + 24, y))} C{xy((x + 26, y + 8))} {xy((x + 14, y + 14))} {xy((x, y))} Z")
    tails = f"M{xy((x - 2, y + 2))} L{xy((x - 12, y + 34))} L{xy((x - 5, y + 31))} L{xy((x + 1, y + 4))} Z M{xy((x + 2, y + 2))} L{xy((x + 12, y + 34))} L{xy((x + 5, y + 31))} L{xy((x - 1, y + 4))} Z"
    sketch.shape("details", tails, sketch.colors.trim, weight="outline")
    sketch.shape("details", loops, sketch.colors.trim, weight="outline")
    sketch.shape("details", rect_path(x - 4, y - 5, x + 4, y + 5), sketch.colors.trim, weight="outline")


@detail("hood")
def _hood(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.has_bodice and frame.shoulders == "normal" and frame.neckline != "hooded":
        draw_hood(sketch)


@detail("ties")
def _ties(sketch: Sketch) -> None:
    if sketch.front:
        draw_ties(sketch)


@detail("drawcord-hem")
def _drawcord_hem(sketch: Sketch) -> None:
    """A channel at the hem with a cord let out at each side."""
    frame = sketch.frame
    if frame.legs is not None:
        y = frame.hem_y - 14
        channel = f"M{xy((interpolate(list(frame.legs[1]), y), y))} L{xy((frame.width_at(y), y))}"
        sketch.line("construction", channel + " " + mirror_path(channel), "stitch")
        if sketch.front:
            x = frame.width_at(y) - 8
            cord_ends(sketch, [(x, y + 6), (-x, y + 6)], 26)
        return
    y = frame.hem_y - 16
    half = frame.width_at(y) - 2
    sketch.line("construction", f"M{xy((-half, y))} Q{xy((0, y + 2 * frame.hem_sag))} {xy((half, y))}", "stitch")
    if sketch.front:
        cord_ends(sketch, [(-half + 14, y + 8), (half - 14, y + 8)], 30)


# -- stitching and surface -------------------------------------------------------------------


@detail("topstitching")
def _topstitching(sketch: Sketch) -> None:
    """Stitching a little inside the hems and edges."""
    _edge_stitching(sketch, 7.0, "stitch")


@detail("hand-stitching")
def _hand_stitching(sketch: Sketch) -> None:
    """Running stitches, visible and uneven, further inside the edges."""
    _edge_stitching(sketch, 12.0, "hand")


def _edge_stitching(sketch: Sketch, inset: float, weight: str) -> None:
    frame = sketch.frame
    lines = []
    if frame.legs is not None:
        for sign in (-1, 1):
            y = frame.hem_y - inset
            lines.append(f"M{xy((sign * (interpolate(list(frame.legs[1]), y) + 2), y))} L{xy((sign * (frame.width_at(y) - 2), y))}")
    else:
        y = frame.hem_y - inset
        half = frame.width_at(y) - 3
        sag = frame.hem_sag
        lines.append(f"M{xy((-half, y))} Q{xy((0, y + 2 * sag))} {xy((half, y))}")
    if not frame.has_bodice:
        half = frame.waist_half - 3
        lines.append(f"M{xy((-half, WAIST_Y - WAISTBAND + inset * 0.5))} L{xy((half, WAIST_Y - WAISTBAND + inset * 0.5))}")
    elif frame.shoulders == "normal" and frame.kind != "cape":
        start, neck = neckline_half(frame, sketch.view)
        moved = [tuple((p[0], p[1] + inset) for p in segment) for segment in neck]
        lines.append(both_sides((start[0], start[1] + inset), moved))
    if frame.sleeve is not None:
        sleeve = frame.sleeve
        a, b = along(sleeve.hem_outer, sleeve.direction, -inset), along(sleeve.hem_inner, sleeve.direction, -inset)
        hem = f"M{xy(a)} L{xy(b)}"
        lines.append(hem + " " + mirror_path(hem))
    sketch.line("construction", " ".join(lines), weight)


@detail("quilting")
def _quilting(sketch: Sketch) -> None:
    """Channel quilting: stitched rows across the body."""
    frame = sketch.frame
    top = frame.top_y if frame.has_bodice else WAIST_Y
    bottom = frame.centre_bottom if frame.legs is None else frame.hem_y
    rows = " ".join(f"M{xy((-MAX_HALF_WIDTH, y))} L{xy((MAX_HALF_WIDTH, y))}" for y in spaced(top + 26, bottom - 6, 28))
    sketch.clipped("surface", rows, "seam")


@detail("patchwork")
def _patchwork(sketch: Sketch) -> None:
    """Patches in the palette's other colours, pieced in brick rows."""
    frame = sketch.frame
    top = (frame.top_y if frame.has_bodice else WAIST_Y) - 20
    bottom = frame.hem_y + 20
    colors = [sketch.colors.trim, sketch.body_fill, sketch.colors.accent, sketch.body_fill]
    row_height, cell = 70.0, 64.0
    for row, y in enumerate(spaced(top, bottom, row_height)[:-1]):
        offset = (row % 2) * cell / 2
        for column, x in enumerate(range(-320, 320, int(cell))):
            color = colors[(row + column) % len(colors)]
            sketch.clipped("surface", rect_path(x + offset, y, x + offset + cell, y + row_height), "seam", fill=color)


@detail("raw-hem")
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
        for x in spaced(a + 2, b - 2, 5):
            base = y + frame.hem_sag * (1 - (x / max(abs(a), abs(b), 1)) ** 2) if frame.legs is None else y
            threads.append(f"M{xy((x, base - 2))} L{xy((x + 1, base + 6))}")
    sketch.line("construction", " ".join(threads), "fold")
