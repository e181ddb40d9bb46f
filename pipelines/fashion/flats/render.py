"""A flat drawn and written out: the pieces, neckline, closure and details of one view as an
SVG document, the print tile embedded as a pattern, and the SVG rasterised through cairo."""

from __future__ import annotations

import base64
import io
import sys

from PIL import Image

from pipelines.fashion.flats.closures import draw_closure
from pipelines.fashion.flats.details import draw_details
from pipelines.fashion.flats.frame import VIEWS, Frame, View, build_frame
from pipelines.fashion.flats.necklines import draw_neckline
from pipelines.fashion.flats.pieces import draw_pieces
from pipelines.fashion.flats.sketch import Sketch
from pipelines.fashion.spec import DesignSpec

MAX_TILE_PIXELS = 256  # larger tiles are shrunk before embedding: the flat never shows more


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


def render_flat(frame: Frame, view: View, tile: tuple[str, float] | None = None) -> str:
    """One view of a measured garment; `tile` is a data URI and aspect from `tile_data_uri`."""
    sketch = Sketch(frame, view, tile)
    draw_pieces(sketch)
    draw_neckline(sketch)
    draw_closure(sketch)
    draw_details(sketch)
    return sketch.svg()


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


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; a flat has the views: {', '.join(VIEWS)}")


def _check_spec(spec: object) -> None:
    if not isinstance(spec, DesignSpec):
        raise TypeError(f"expected a DesignSpec, got {type(spec).__name__} (build one with DesignSpec.from_data)")
