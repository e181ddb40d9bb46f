"""The sketch: one view being drawn, as SVG elements gathered per layer, and the page it sits on.

Black strokes, a heavier outline than the construction lines, dashed stitching, no figure.
Body pieces are filled with the palette's main colour, or with the print tile as an SVG
pattern; collars, cuffs, waistbands and other trims take the second colour. Every part is
tagged with a class ("closure zip zip-back", "detail patch-pockets", "piece sleeve").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from xml.sax.saxutils import escape

from pipelines.colour import hex_to_rgb, relative_luminance, unit_rgb
from pipelines.fashion.flats.frame import Frame, View
from pipelines.fashion.flats.geometry import Point
from pipelines.fashion.spec import DesignSpec
from pipelines.fonts import svg_font_family

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

# On-garment size of one print repeat, in garment units (about 6, 12 and 24 cm).
TILE_SIZE = {"small": 30.0, "medium": 60.0, "large": 120.0}


# -- colours --------------------------------------------------------------------------------


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
        dark = relative_luminance(unit_rgb(main)) < 0.06
        return cls(main=main, trim=trim, accent=accent, inside=_shade(main, 0.78), lines="#BBBBBB" if dark else INK)


def _shade(hex_color: str, factor: float) -> str:
    return "#" + "".join(f"{round(channel * factor):02X}" for channel in hex_to_rgb(hex_color))


# -- the sketch -----------------------------------------------------------------------------

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
            f'<text class="caption" x="{CANVAS_WIDTH / 2:g}" y="{CANVAS_HEIGHT - 12}" font-family="{svg_font_family(caption)}" font-size="14" '
            f'text-anchor="middle" fill="#555555">{caption}</text>\n</svg>\n'
        )


# -- registries: what draws each vocabulary word ---------------------------------------------

Drawer = Callable[[Sketch], None]


class Drawers(dict[str, Drawer]):
    """Drawing functions by vocabulary word, each registered where it is written:

        DETAIL_DRAWERS = Drawers("detail", vocab.DETAILS)
        detail = DETAIL_DRAWERS.register

        @detail("patch-pockets")
        def _patch_pockets(sketch: Sketch) -> None: ...
    """

    def __init__(self, kind: str, words: Sequence[str]) -> None:
        super().__init__()
        self.kind = kind
        self.words = tuple(words)

    def register(self, *words: str) -> Callable[[Drawer], Drawer]:
        def add(draw: Drawer) -> Drawer:
            for word in words:
                if word not in self.words:
                    raise ValueError(f"{word!r} is not a {self.kind} word; the {self.kind} words are: {', '.join(self.words)}")
                if word in self:
                    raise ValueError(f"the {self.kind} {word!r} is drawn twice: by {self[word].__name__} and by {draw.__name__}")
                self[word] = draw
            return draw

        return add
