"""Outlines of the garment's pieces: the neck edge, the bodice, the body down to the hem or
the legs, and the sleeve. Each is the right half, from the centre line round; the caller
mirrors it (`symmetric_outline`)."""

from __future__ import annotations

import math

from pipelines.fashion.flats.frame import (
    BACK_DEPTH,
    CROTCH_Y,
    CUT_ON_SLEEVES,
    NECK_BACK_DEPTH,
    NECK_FRONT,
    NECK_Y,
    OFF_SHOULDER_Y,
    STRAPLESS_Y,
    WAIST_Y,
    Frame,
    SleeveShape,
    View,
)
from pipelines.fashion.flats.geometry import Point, Segment, along, lerp, path_data, reversed_segment, smooth_through


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
