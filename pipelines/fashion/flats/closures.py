"""Closures, one drawing function per closure word, registered with `@closure("word")`: a new
closure is a function here. Buttons, cord ends and waist ties are drawn here for the details too."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.flats.frame import CROTCH_Y, HIP_Y, WAIST_Y, WAISTBAND, Frame, View, waist_seam_y
from pipelines.fashion.flats.geometry import Point, rect_path, spaced, xy
from pipelines.fashion.flats.sketch import Drawers, Sketch

CLOSURE_DRAWERS = Drawers("closure", vocab.CLOSURES)
closure = CLOSURE_DRAWERS.register


def draw_closure(sketch: Sketch) -> None:
    word = sketch.frame.spec.closure
    with sketch.part(f"closure {word}" if "zip" not in word else f"closure zip {word}"):
        CLOSURE_DRAWERS[word](sketch)
    if _is_wrap(sketch.frame) and sketch.front:
        with sketch.part("wrap"):
            _draw_wrap_overlap(sketch)


@closure("none", "pullover")
def _nothing(sketch: Sketch) -> None:
    """A pullover, or no fastening: nothing to draw."""


def _opening(frame: Frame, view: View) -> tuple[float, float]:
    """Top and bottom of the centre front (or back) opening."""
    top = frame.opening_top(view)
    if frame.legs is not None:
        bottom = CROTCH_Y - 40 if frame.kind == "trousers" else WAIST_Y + 60
        return top, bottom
    return top, frame.centre_bottom - 4


def _placket(sketch: Sketch, top: float, bottom: float, fastener: Callable[[Point], None]) -> None:
    sketch.line("closures", rect_path(-8, top, 8, bottom), "seam")
    sketch.line("closures", f"M{xy((5, top + 3))} L{xy((5, bottom - 3))}", "stitch")
    for y in spaced(top + 12, bottom - 24, 46):
        fastener((0.0, y))


@closure("button-front")
def _draw_buttons(sketch: Sketch) -> None:
    if not sketch.front:
        return
    top, bottom = _opening(sketch.frame, "front")
    _placket(sketch, top, bottom, lambda p: button(sketch, p))


def button(sketch: Sketch, centre: Point, radius: float = 4.5) -> None:
    sketch.circle("closures", centre, radius, fill=sketch.colors.accent if sketch.colors.accent != sketch.colors.main else "#FFFFFF")
    sketch.line("closures", f"M{xy((centre[0] - 1.2, centre[1]))} L{xy((centre[0] + 1.2, centre[1]))}", "fold")


@closure("snap-front")
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
    sketch.line("closures", f"M{xy((x, top))} L{xy((x, bottom))}", "seam")
    sketch.line("closures", f"M{xy((x - 4, top))} L{xy((x - 4, bottom))} M{xy((x + 4, top))} L{xy((x + 4, bottom))}", "stitch")
    sketch.shape("closures", rect_path(x - 3, top + 2, x + 3, top + 14), "#C8C8C8")
    sketch.circle("closures", (x, top + 17), 2.5, fill="#C8C8C8")


@closure("zip-front")
def _draw_front_zip(sketch: Sketch) -> None:
    if sketch.front:
        _zip(sketch, 0.0, *_opening(sketch.frame, "front"))


@closure("zip-back")
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


@closure("side-zip")
def _draw_side_zip(sketch: Sketch) -> None:
    """On the wearer's left side seam, which is on the right of the front view."""
    if not sketch.front:
        return
    frame = sketch.frame
    top = WAIST_Y - WAISTBAND if not frame.has_bodice else frame.underarm[1] + 14
    bottom = min(frame.hem_y - 20, (WAIST_Y if frame.has_bodice else top) + 100)
    if bottom <= top + 20:
        return
    ys = spaced(top, bottom, 10)
    line = " L".join(xy((frame.width_at(y) - 5, y)) for y in ys)
    sketch.line("closures", "M" + line, "seam")
    x = frame.width_at(top) - 5
    sketch.shape("closures", rect_path(x - 3, top + 2, x + 3, top + 13), "#C8C8C8")


@closure("fly-zip")
def _draw_fly(sketch: Sketch) -> None:
    """A fly front: the stitched J-curve of trousers, or a covered placket on anything else."""
    if not sketch.front:
        return
    frame = sketch.frame
    top, bottom = _opening(frame, "front")
    if frame.legs is not None or frame.kind == "skirt":
        fly_top = WAIST_Y
        sketch.line("closures", f"M{xy((14, fly_top))} L{xy((14, bottom - 14))} Q{xy((14, bottom))} {xy((0, bottom + 4))}", "stitch")
        sketch.line("closures", f"M{xy((0, fly_top))} L{xy((0, bottom + 4))}", "seam")
        button(sketch, (0.0, WAIST_Y - WAISTBAND / 2))
    else:
        sketch.line("closures", f"M{xy((0, top))} L{xy((0, bottom))}", "seam")
        sketch.line("closures", f"M{xy((12, top + 4))} L{xy((12, bottom - 30))} Q{xy((12, bottom - 18))} {xy((0, bottom - 14))}", "stitch")


@closure("toggle")
def _draw_toggles(sketch: Sketch) -> None:
    if not sketch.front:
        return
    frame = sketch.frame
    top, bottom = _opening(frame, "front")
    bottom = min(bottom, WAIST_Y + 40) if frame.hem_y > WAIST_Y + 60 else bottom
    for y in spaced(top + 16, bottom - 10, 50)[:4]:
        sketch.line("closures", f"M{xy((-14, y))} L{xy((4, y))}", "seam")  # the rope loop
        sketch.shape("closures", rect_path(2, y - 3.5, 22, y + 3.5), "#D9C7A7")


@closure("hook-and-eye")
def _draw_hook_and_eye(sketch: Sketch) -> None:
    if not sketch.front:
        return
    top, _ = _opening(sketch.frame, "front")
    y0 = top + 4
    sketch.line("closures", f"M{xy((0, y0))} L{xy((0, y0 + 40))}", "seam")
    for y in (y0 + 4, y0 + 16):
        sketch.line("closures", f"M{xy((-6, y))} L{xy((1, y))} A3,3 0 0 1 {xy((1, y + 6))} L{xy((-3, y + 6))}", "seam")


@closure("drawstring")
def _draw_drawstring(sketch: Sketch) -> None:
    frame = sketch.frame
    if frame.has_bodice:
        y = WAIST_Y if frame.hem_y > WAIST_Y + 30 else frame.hem_y - 14
        half = frame.width_at(y)
        sketch.line("closures", f"M{xy((-half, y - 6))} L{xy((half, y - 6))} M{xy((-half, y + 6))} L{xy((half, y + 6))}", "stitch")
    else:
        y = WAIST_Y - WAISTBAND / 2
    if sketch.front:
        cord_ends(sketch, [(-6.0, y), (6.0, y)], 46)


def cord_ends(sketch: Sketch, exits: list[Point], length: float) -> None:
    """Cords hanging from eyelets, each ending in an aglet."""
    for x, y in exits:
        sketch.circle("closures", (x, y), 2.4, fill="#FFFFFF")
        end = (x + (4 if x > 0 else -4), y + length)
        sketch.line("closures", f"M{xy((x, y))} Q{xy((x + (8 if x > 0 else -8), y + length * 0.5))} {xy(end)}", "outline")
        sketch.shape("closures", rect_path(end[0] - 2, end[1], end[0] + 2, end[1] + 8), sketch.colors.accent)


@closure("wrap-tie")
def _draw_wrap_tie(sketch: Sketch) -> None:
    if sketch.front:
        draw_ties(sketch)


def draw_ties(sketch: Sketch) -> None:
    """A knot at the wearer's left side of the waist (right of the front view) with two hanging ends."""
    frame = sketch.frame
    y = (waist_seam_y(frame) or WAIST_Y) if frame.has_waist else frame.hem_y - 12
    if not frame.has_bodice:
        y = WAIST_Y - WAISTBAND / 2
    x = frame.width_at(y) - 14
    for lean, length in ((-6.0, 74.0), (8.0, 62.0)):
        end = (x + lean, y + length)
        tie = f"M{xy((x - 4, y))} L{xy((end[0] - 5, end[1]))} L{xy((end[0] + 5, end[1] + 3))} L{xy((x + 4, y))} Z"
        sketch.shape("details", tie, sketch.colors.trim, weight="outline")
    sketch.shape("details", rect_path(x - 7, y - 6, x + 7, y + 6), sketch.colors.trim, weight="outline")


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
        edges.append(f"M{xy((0, depth))} C{xy((frame.neck[0] * 0.8, depth + 30))} {xy((end[0] * 0.7, end_y - 20))} {xy(end)}")
    if frame.kind == "skirt" or (frame.kind == "dress" and frame.hem_y > WAIST_Y + 60):
        top = WAIST_Y + (0 if frame.kind == "skirt" else 2)
        start = (frame.width_at(top) * 0.45, top)
        end = (frame.width_at(frame.hem_y) * 0.15, frame.hem_y + frame.hem_sag * 0.9)
        edges.append(f"M{xy(start)} C{xy((start[0] * 0.7, top + 80))} {xy((end[0], end[1] - 60))} {xy(end)}")
    sketch.line("construction", " ".join(edges), "outline")
