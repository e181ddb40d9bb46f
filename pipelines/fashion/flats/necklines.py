"""Collars, hoods and drapes, one drawing function per neckline word; the other necklines are
only the shape of the neck edge (outline.py). A new one is a function here registered with
`@neckline("word")`."""

from __future__ import annotations

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.flats.frame import MOCK_NECK_HEIGHT, NECK_FRONT, STAND_HEIGHT, TURTLENECK_HEIGHT, Frame, View
from pipelines.fashion.flats.geometry import Point, Segment, both_sides, mirror_path, path_data, reversed_path, spaced, symmetric_outline, xy
from pipelines.fashion.flats.outline import neckline_half
from pipelines.fashion.flats.sketch import Drawers, Sketch

NECKLINE_DRAWERS = Drawers("neckline", vocab.NECKLINES)
neckline = NECKLINE_DRAWERS.register


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


@neckline("collared")
def _draw_shirt_collar(sketch: Sketch) -> None:
    half = sketch.frame.neck[0]
    if sketch.front:
        _collar_band_behind(sketch, 16)
        leaf = path_data((2, 14), [((24, 52),), ((half + 18, 8),), ((half + 4, -12),), ((half - 6, 4), (16, 8), (2, 14))], close=True)
        sketch.piece("trim", leaf, fill=sketch.colors.trim)
        sketch.piece("trim", mirror_path(leaf), fill=sketch.colors.trim)
    else:
        _back_collar(sketch, half + 16, 10)


def _back_collar(sketch: Sketch, spread: float, drop: float) -> None:
    """A turned-down collar seen from the back: the fall covers the back neck."""
    half = sketch.frame.neck[0]
    start, half_path = (0.0, -14.0), [((half * 0.5, -14), (half, -13), (half + 3, -12)), ((spread, drop),), ((spread * 0.6, drop + 8), (spread * 0.3, drop + 9), (0, drop + 9))]
    sketch.piece("trim", symmetric_outline(start, half_path), fill=sketch.colors.trim)
    sketch.line("trim", f"M{xy((-half - 1, -3))} Q{xy((0, -7))} {xy((half + 1, -3))}", "fold")


@neckline("lapel")
def _draw_lapels(sketch: Sketch) -> None:
    half, depth = sketch.frame.neck[0], NECK_FRONT["lapel"][2]
    if not sketch.front:
        _back_collar(sketch, half + 22, 12)
        return
    _collar_band_behind(sketch, 14)
    lapel = path_data((3, depth), [((62, 52),), ((46, 42),), ((58, 26),), ((half + 14, 2),), ((half + 3, -10),), ((half - 4, 30), (12, 80), (3, depth))], close=True)
    sketch.piece("trim", lapel, fill=sketch.colors.trim)
    sketch.piece("trim", mirror_path(lapel), fill=sketch.colors.trim)
    gorge = f"M{xy((46, 42))} L{xy((half + 2, 22))}"
    sketch.line("trim", gorge + " " + mirror_path(gorge))


def _raised(start: Point, segments: list[Segment], dy: float) -> tuple[Point, list[Segment]]:
    return (start[0], start[1] + dy), [tuple((p[0], p[1] + dy) for p in segment) for segment in segments]


@neckline("stand-collar")
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
        opening = f"M{xy((-half + 3, rim + 1))} C{xy((-half + 3, rim - 8))} {xy((half - 3, rim - 8))} {xy((half - 3, rim + 1))}"
        sketch.shape("trim", opening + f" C{xy((half - 3, rim + 6))} {xy((-half + 3, rim + 6))} {xy((-half + 3, rim + 1))} Z", sketch.colors.inside)
    if folded:
        fold_y = rim * 0.45
        sketch.line("trim", f"M{xy((-half, fold_y))} Q{xy((0, fold_y + 8))} {xy((half, fold_y))}", "seam")
    ribs = " ".join(f"M{xy((x, rim + 6))} L{xy((x, -3 if abs(x) > 12 else start[1] * 0.5))}" for x in spaced(-half + 8, half - 8, 9))
    sketch.line("trim", ribs, "fold")


@neckline("turtleneck")
def _draw_turtleneck(sketch: Sketch) -> None:
    _draw_rolled_neck(sketch, TURTLENECK_HEIGHT, folded=True)


@neckline("mock-neck")
def _draw_mock_neck(sketch: Sketch) -> None:
    _draw_rolled_neck(sketch, MOCK_NECK_HEIGHT, folded=False)


@neckline("cowl")
def _draw_cowl(sketch: Sketch) -> None:
    if not sketch.front:
        return
    half = sketch.frame.neck[0] - 2
    folds = [f"M{xy((-half + 6 * i, 2 + 2 * i))} Q{xy((0, 36 + 24 * i))} {xy((half - 6 * i, 2 + 2 * i))}" for i in range(3)]
    sketch.line("construction", " ".join(folds), "seam")


def hood_outline(frame: Frame, view: View) -> str:
    """A hood standing up behind the head: wider than the neck, peaked at the centre seam."""
    half = frame.neck[0]
    bottom = 28.0 if view == "front" else 58.0
    return symmetric_outline((0.0, bottom), [((half + 12, 14),), ((half + 24, 4), (72, -50), (56, -88)), ((44, -108), (18, -116), (0, -116))])


@neckline("hooded")
def draw_hood(sketch: Sketch) -> None:
    frame = sketch.frame
    with sketch.part("hood"):
        sketch.piece("trim", hood_outline(frame, sketch.view))
        if sketch.front:
            half = frame.neck[0]
            opening = symmetric_outline((0.0, 22.0), [((half - 4, -2), (44, -30), (42, -70)), ((38, -92), (16, -100), (0, -100))])
            sketch.piece("trim", opening, fill=sketch.colors.inside)
        else:
            sketch.line("trim", f"M{xy((0, -116))} L{xy((0, 56))}")
