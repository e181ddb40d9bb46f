"""Path geometry for flats: points, Bézier segments and SVG path data, mirrored about the centre line.

Everything is in garment units, with x = 0 on the centre front line; a right-hand part
(x >= 0) is drawn once and mirrored for the left.
"""

from __future__ import annotations

Point = tuple[float, float]
# A path segment from the current point: (end,) is a straight line, (control, control, end) a cubic Bézier.
Segment = tuple[Point, ...]


def xy(point: Point) -> str:
    """(12, 34.56) -> '12.0,34.6': a point as path data writes it."""
    return f"{point[0]:.1f},{point[1]:.1f}"


def path_data(start: Point, segments: list[Segment], close: bool = False) -> str:
    """SVG path data for a start point and segments."""
    parts = [f"M{xy(start)}"]
    for segment in segments:
        parts.append(("L" if len(segment) == 1 else "C") + " ".join(xy(p) for p in segment))
    if close:
        parts.append("Z")
    return " ".join(parts)


def rect_path(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"M{xy((x0, y0))} L{xy((x1, y0))} L{xy((x1, y1))} L{xy((x0, y1))} Z"


def mirror(point: Point) -> Point:
    return (-point[0], point[1])


def mirrored(start: Point, segments: list[Segment]) -> tuple[Point, list[Segment]]:
    return mirror(start), [tuple(mirror(p) for p in segment) for segment in segments]


def mirror_path(d: str) -> str:
    """The same path with every x negated: the left-hand twin of a right-hand part.

    Works on the path data this package writes: M, L, Q, C and Z commands with x,y pairs.
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


def spaced(first: float, last: float, step: float) -> list[float]:
    """Evenly spaced positions from first to last, about `step` apart."""
    count = max(2, int(abs(last - first) / step) + 1)
    return [first + (last - first) * i / (count - 1) for i in range(count)]
