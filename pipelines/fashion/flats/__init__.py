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

Every vocabulary word draws; a word that cannot apply is skipped quietly (cuffs without
sleeves, a back slit on trousers). A few categories carry details of their own: a hoodie
its hood, a trench its belt, jeans their topstitching, bombers, hoodies, sweaters and joggers
their rib bands; a cape has no sleeves.

The modules, in the order a flat is made:

    geometry.py   points, Bézier segments, SVG path data, mirroring
    frame.py      the body, and a spec's garment measured on it (build_frame)
    outline.py    the outlines of the body piece and the sleeve
    sketch.py     one view being drawn: the page, colours, layers, SVG; the drawer registries
    pieces.py     body, sleeves, waistband, construction lines, rib bands
    necklines.py  collars, hoods and drapes: @neckline("collared")
    closures.py   buttons, zips, ties and the rest: @closure("button-front")
    details.py    pockets, pleats, belts and the rest: @detail("patch-pockets")
    render.py     draw_flat, draw_flats, the print tile, flat_to_png

A new closure or detail is one function in closures.py or details.py, registered with the
decorator; nothing else needs to change.
"""

from pipelines.fashion.flats.closures import CLOSURE_DRAWERS
from pipelines.fashion.flats.details import DETAIL_DRAWERS
from pipelines.fashion.flats.frame import VIEWS, Frame, View, build_frame
from pipelines.fashion.flats.necklines import NECKLINE_DRAWERS
from pipelines.fashion.flats.render import draw_flat, draw_flats, flat_to_png, render_flat, tile_data_uri
from pipelines.fashion.flats.sketch import Sketch

__all__ = [
    "CLOSURE_DRAWERS", "DETAIL_DRAWERS", "NECKLINE_DRAWERS", "VIEWS", "Frame", "Sketch", "View",
    "build_frame", "draw_flat", "draw_flats", "flat_to_png", "render_flat", "tile_data_uri",
]
