"""Technical flats: SVG that parses and rasterises, every vocabulary word drawn, and geometry,
colour and print measured on the rasterised image."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import cairosvg
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.flats import CLOSURE_DRAWERS, DETAIL_DRAWERS, build_frame, draw_flat, draw_flats, flat_to_png
from pipelines.fashion.spec import DesignSpec

SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MAIN, TRIM = "#7A3B69", "#E8C547"
PALETTE = [{"hex": MAIN, "name": "Plum", "share": 0.7}, {"hex": TRIM, "name": "Mustard", "share": 0.3}]
WIDTH = 300  # raster width for measurements: 0.5 px per canvas unit
CAPTION_SHARE = 0.035  # the caption sits in the bottom 28 of the 800 canvas units


def make_spec(category: str, **fields) -> DesignSpec:
    """A valid spec of a category: a length that fits it unless one is given."""
    part = vocab.body_part(category)
    data = {"name": f"Test {category}", "category": category, "palette": PALETTE,
            "length": "hip" if part in ("upper", "outer") else "knee"}
    data.update(fields)
    return DesignSpec.model_validate(data)


def raster(svg: str, width: int = WIDTH) -> np.ndarray:
    """RGB pixels of a flat, without the caption."""
    pixels = np.asarray(flat_to_png(svg, width).convert("RGB"))
    return pixels[: pixels.shape[0] - round(pixels.shape[0] * CAPTION_SHARE)]


def garment_mask(pixels: np.ndarray) -> np.ndarray:
    return (pixels < 245).any(axis=2)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """left, top, right, bottom of the drawn pixels."""
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])


def pixels_of(pixels: np.ndarray, hex_color: str, tolerance: int = 6) -> np.ndarray:
    return (np.abs(pixels.astype(int) - rgb(hex_color)) <= tolerance).all(axis=-1)


def css_classes(svg: str) -> set[str]:
    root = ET.fromstring(svg)
    return {word for element in root.iter() for word in element.get("class", "").split()}


def row_runs(mask_row: np.ndarray) -> int:
    """How many separate stretches of drawn pixels a row crosses."""
    padded = np.concatenate([[False], mask_row, [False]])
    return int(np.count_nonzero(padded[1:] & ~padded[:-1]))


# -- documents -------------------------------------------------------------------------------


def test_svg_parses_and_cairo_rasterises_it():
    spec = make_spec("shirt", neckline="collared", closure="button-front", details=["patch-pockets", "cuffs"])
    svg = draw_flat(spec)

    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == "0 0 600 800"
    assert root.find(f"{SVG_NS}title").text == "Test shirt — front"

    png = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg.encode(), output_width=1200)))
    assert png.format == "PNG" and png.size == (1200, 1600)

    image = flat_to_png(svg)
    assert image.mode in ("RGB", "RGBA") and image.size == (1200, 1600)
    # flat_to_png reads cairo's pixels directly: the same picture as cairo's own PNG
    difference = np.abs(np.asarray(image.convert("RGB"), dtype=int) - np.asarray(png.convert("RGB"), dtype=int))
    assert difference.max() <= 1


@pytest.mark.parametrize("category", vocab.CATEGORIES)
def test_every_category_draws_both_views(category):
    flats = draw_flats(make_spec(category))
    assert set(flats) == {"front", "back"}
    for view, svg in flats.items():
        ET.fromstring(svg)
        mask = garment_mask(raster(svg, 200))
        left, top, right, bottom = bounding_box(mask)
        assert mask.sum() > 2000, f"{category} {view}: almost nothing drawn"
        assert left > 2 and top > 2 and right < 197, f"{category} {view} runs off the page"
        # symmetric about the centre front line
        assert abs((left + right) / 2 - 100) <= 2
    assert flats["front"] != flats["back"]


def test_drawers_cover_the_whole_vocabulary():
    assert set(CLOSURE_DRAWERS) == set(vocab.CLOSURES)
    assert set(DETAIL_DRAWERS) == set(vocab.DETAILS)


SWEEP_CATEGORIES = ("tee", "dress", "coat", "skirt", "trousers", "jumpsuit", "cape")


def _sweep_specs(field: str, value: str) -> list[DesignSpec]:
    """Specs that use one vocabulary value, on every kind of garment it can be put on."""
    specs = []
    for category in SWEEP_CATEGORIES:
        fields: dict = {}
        if field == "sleeve length":
            fields["sleeve"] = {"length": value}
        elif field == "sleeve type":
            fields["sleeve"] = {"length": "sleeveless"} if value == "none" else {"length": "long", "type": value}
        elif field == "detail":
            fields["details"] = [value]
        else:
            fields[field] = value
        try:
            specs.append(make_spec(category, **fields))
        except ValidationError:
            continue  # e.g. a mini coat: the spec itself refuses it
    assert specs, f"no garment takes {field} {value!r}"
    return specs


SWEEP = [(field, value) for field in ("neckline", "sleeve length", "sleeve type", "closure", "detail", "silhouette", "fit", "length")
         for value in vocab.VOCABULARY[field]]


@pytest.mark.parametrize(("field", "value"), SWEEP, ids=[f"{field}={value}" for field, value in SWEEP])
def test_every_vocabulary_value_draws(field, value):
    for spec in _sweep_specs(field, value):
        for view, svg in draw_flats(spec).items():
            root = ET.fromstring(svg)
            assert root.find(f".//{SVG_NS}g[@class]") is not None, f"{spec.category} {view}: no garment"


# -- geometry follows the spec ----------------------------------------------------------------


def test_longer_lengths_draw_taller_garments():
    heights = []
    for length in ("mini", "above-knee", "knee", "midi", "ankle", "floor"):
        _, top, _, bottom = bounding_box(garment_mask(raster(draw_flat(make_spec("dress", length=length)))))
        heights.append(bottom - top)
    assert heights == sorted(heights) and len(set(heights)) == len(heights), heights
    assert heights[-1] > 1.6 * heights[0]


def test_longer_sleeves_cover_more_of_the_page():
    areas = [garment_mask(raster(draw_flat(make_spec("tee", sleeve={"length": length})))).sum()
             for length in ("sleeveless", "cap", "short", "elbow", "three-quarter", "long")]
    assert areas == sorted(areas) and len(set(areas)) == len(areas), areas
    assert areas[-1] > 1.3 * areas[0]


def test_looser_fits_are_wider():
    widths = []
    for fit in ("slim", "regular", "relaxed", "oversized"):
        left, _, right, _ = bounding_box(garment_mask(raster(draw_flat(make_spec("tank", fit=fit, sleeve={"length": "sleeveless"})))))
        widths.append(right - left)
    assert widths == sorted(widths) and widths[-1] - widths[0] > 15, widths


def _hem_width(svg: str, above: int = 10) -> int:
    """Width just above the hem (a flared hem curves down at the centre, so not on it)."""
    mask = garment_mask(raster(svg))
    _, _, _, bottom = bounding_box(mask)
    row = mask[bottom - above]
    return int(np.ptp(np.nonzero(row)[0]))


def test_silhouettes_shape_the_hem():
    sheath, a_line, ball_gown = (_hem_width(draw_flat(make_spec("dress", silhouette=s, length="midi"))) for s in ("sheath", "a-line", "ball-gown"))
    assert sheath < a_line < ball_gown
    tapered, straight, wide = (_hem_width(draw_flat(make_spec("trousers", silhouette=s, length="ankle"))) for s in ("tapered", "straight", "wide-leg"))
    assert tapered < straight < wide
    # a cocoon narrows again towards its hem; a trapeze keeps widening
    for silhouette, narrows in (("cocoon", True), ("trapeze", False)):
        mask = garment_mask(raster(draw_flat(make_spec("coat", silhouette=silhouette, length="knee", sleeve={"length": "sleeveless"}))))
        _, top, _, bottom = bounding_box(mask)
        middle, hem = (np.ptp(np.nonzero(mask[y])[0]) for y in (top + (bottom - top) // 2, bottom - 4))
        assert (hem < middle) == narrows, silhouette


def test_trousers_have_two_legs_and_a_skirt_one():
    trousers, skirt = (garment_mask(raster(draw_flat(make_spec(c, length="ankle")))) for c in ("trousers", "skirt"))
    for mask, runs in ((trousers, 2), (skirt, 1)):
        _, top, _, bottom = bounding_box(mask)
        assert row_runs(mask[top + int(0.7 * (bottom - top))]) == runs


def test_back_neckline_is_higher_and_the_hood_shows_on_the_back():
    front, back = draw_flats(make_spec("tee", neckline="v-neck")).values()

    def first_garment_row(svg: str) -> int:
        pixels = raster(svg)
        centre = pixels.shape[1] // 2
        return int(np.argmax(pixels_of(pixels, MAIN)[:, centre + 1]))

    assert first_garment_row(front) > first_garment_row(back) + 15  # the front is cut lower
    crew_back, hooded_back = (draw_flat(make_spec("tee", neckline=n), "back") for n in ("crew", "hooded"))
    assert "hood" in css_classes(hooded_back) and "hood" not in css_classes(crew_back)
    assert bounding_box(garment_mask(raster(hooded_back)))[1] < bounding_box(garment_mask(raster(crew_back)))[1] - 20


def test_zip_back_shows_on_the_back_view_only():
    zipped, plain = make_spec("dress", closure="zip-back"), make_spec("dress", closure="none")
    front, back = draw_flats(zipped).values()
    assert "zip-back" in css_classes(back) and "zip-back" not in css_classes(front)
    assert np.array_equal(raster(front), raster(draw_flat(plain, "front")))
    assert not np.array_equal(raster(back), raster(draw_flat(plain, "back")))


@pytest.mark.parametrize(("closure", "view"), [("zip-front", "front"), ("button-front", "front"), ("fly-zip", "front"), ("side-zip", "front")])
def test_front_closures_show_on_the_front_only(closure, view):
    front, back = draw_flats(make_spec("trousers", closure=closure, length="ankle")).values()
    assert closure in css_classes(front) and closure not in css_classes(back)


def test_buttons_are_drawn_along_the_placket():
    root = ET.fromstring(draw_flat(make_spec("shirt", closure="button-front")))
    buttons = [c for c in root.iter(f"{SVG_NS}circle") if "button-front" in c.get("class", "")]
    assert len(buttons) >= 4
    assert {c.get("cx") for c in buttons} == {"0.0"}  # on the centre front line


def test_capes_have_no_sleeves_and_details_that_do_not_apply_are_skipped():
    assert "sleeve" not in css_classes(draw_flat(make_spec("cape", sleeve={"length": "long"})))
    assert "sleeve" in css_classes(draw_flat(make_spec("coat", sleeve={"length": "long"})))
    assert "cuffs" not in css_classes(draw_flat(make_spec("tank", sleeve={"length": "sleeveless"}, details=["cuffs"])))
    assert "cuffs" in css_classes(draw_flat(make_spec("shirt", details=["cuffs"])))


def test_raglan_and_cut_on_sleeves_change_the_shoulder():
    set_in, raglan, kimono = (raster(draw_flat(make_spec("tee", sleeve={"length": "long", "type": t}))) for t in ("set-in", "raglan", "kimono"))
    assert not np.array_equal(set_in, raglan)
    # kimono sleeves stand out from the body: the widest row is wider
    widest = [np.ptp(np.nonzero(garment_mask(pixels).any(axis=0))[0]) for pixels in (set_in, kimono)]
    assert widest[1] > widest[0] + 10


# -- colour and print ------------------------------------------------------------------------


def test_main_colour_fills_the_body_and_trim_takes_the_second():
    pixels = raster(draw_flat(make_spec("dress", length="knee", neckline="collared")))
    mask = garment_mask(pixels)
    left, top, right, bottom = bounding_box(mask)
    inside = pixels[top + int(0.6 * (bottom - top)), (left + right) // 2 + 12]
    assert np.abs(inside.astype(int) - rgb(MAIN)).max() <= 2
    assert pixels_of(pixels, MAIN).sum() > 0.6 * mask.sum()  # the body is the largest share
    assert pixels_of(pixels, TRIM).sum() > 100  # the collar
    assert pixels_of(raster(draw_flat(make_spec("dress", length="knee", neckline="crew"))), TRIM).sum() == 0


def make_tile() -> Image.Image:
    """Vertical stripes of pure green and pure blue: colours no flat otherwise uses."""
    tile = Image.new("RGB", (32, 32), (0, 255, 0))
    tile.paste((0, 0, 255), (16, 0, 32, 32))
    return tile


def test_print_fills_the_garment_and_stays_inside_it():
    spec = make_spec("dress", length="midi", silhouette="a-line", sleeve={"length": "short"}, print={"type": "stripes", "scale": "medium"})
    printed = raster(draw_flat(spec, print_tile=make_tile()))
    garment = garment_mask(raster(draw_flat(spec)))
    green = pixels_of(printed, "#00FF00", tolerance=40)
    blue = pixels_of(printed, "#0000FF", tolerance=40)
    assert (green | blue).sum() > 0.6 * garment.sum()
    assert not ((green | blue) & ~garment).any()  # nothing printed outside the outline
    assert pixels_of(printed, MAIN).sum() < 0.05 * garment.sum()  # the print replaces the plain fill


def test_print_tile_is_embedded_as_a_png_pattern_at_the_spec_scale():
    def stripes_across(scale: str) -> int:
        spec = make_spec("skirt", length="knee", print={"type": "stripes", "scale": scale})
        svg = draw_flat(spec, print_tile=make_tile())
        image = ET.fromstring(svg).find(f".//{SVG_NS}pattern/{SVG_NS}image")
        uri = image.get(XLINK_HREF)
        assert uri.startswith("data:image/png;base64,")
        assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (32, 32)
        pixels = raster(svg)
        mask = garment_mask(pixels)
        _, top, _, bottom = bounding_box(mask)
        row = pixels_of(pixels[top + (bottom - top) // 2], "#00FF00", tolerance=40)
        return row_runs(row)

    small, medium, large = (stripes_across(s) for s in ("small", "medium", "large"))
    assert small > medium > large >= 1


def test_large_tiles_are_shrunk_before_embedding():
    tile = Image.new("RGB", (2048, 1024), (0, 255, 0))
    svg = draw_flat(make_spec("tee"), print_tile=tile)
    uri = ET.fromstring(svg).find(f".//{SVG_NS}image").get(XLINK_HREF)
    assert max(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size) <= 256
    assert len(svg) < 60_000


def test_two_views_can_share_a_page():
    """Ids are unique per spec and view, so flats can be inlined side by side in HTML."""
    flats = draw_flats(make_spec("tee", details=["quilting"]), print_tile=make_tile())
    ids = [element.get("id") for svg in flats.values() for element in ET.fromstring(svg).iter() if element.get("id")]
    assert len(ids) == len(set(ids)) >= 4


def test_flats_are_symmetric_about_the_centre_front():
    pixels = raster(draw_flat(make_spec("dress", neckline="scoop", sleeve={"length": "elbow", "type": "puff"}, details=["princess-seams", "pleats"])))
    mirrored = pixels[:, ::-1]
    # the page is an even number of pixels wide with the centre line between the middle two
    assert np.mean(np.abs(pixels.astype(int) - mirrored.astype(int)).max(axis=2) > 40) < 0.002


def test_the_biggest_garments_stay_on_the_page():
    extremes = [
        make_spec("coat", length="floor", fit="oversized", silhouette="tent", neckline="hooded", sleeve={"length": "long", "type": "kimono"}, details=["ruffles"]),
        make_spec("dress", length="floor", fit="oversized", silhouette="ball-gown", neckline="hooded", sleeve={"length": "long", "type": "bell"}),
        make_spec("trousers", length="floor", fit="oversized", silhouette="wide-leg", details=["drawcord-hem", "ties"]),
        make_spec("top", length="tunic", fit="oversized", silhouette="oversized", sleeve={"length": "long", "type": "dolman"}, neckline="turtleneck"),
    ]
    for spec in extremes:
        for view, svg in draw_flats(spec).items():
            left, top, right, bottom = bounding_box(garment_mask(raster(svg)))
            assert left >= 4 and top >= 4 and right <= WIDTH - 5, (spec.category, view)
            assert bottom < raster(svg).shape[0] - 2, f"{spec.category} {view} reaches the caption"


# -- errors and speed ------------------------------------------------------------------------


def test_an_unknown_view_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'side'.*front, back"):
        draw_flat(make_spec("tee"), "side")


def test_wrong_inputs_are_refused_clearly():
    with pytest.raises(TypeError, match="DesignSpec"):
        draw_flat({"category": "tee"})
    with pytest.raises(TypeError, match="print_tile"):
        draw_flat(make_spec("tee"), print_tile=b"not an image")
    with pytest.raises(ValueError, match="width"):
        flat_to_png(draw_flat(make_spec("tee")), width=0)


@pytest.mark.parametrize("sleeve_type", [t for t in vocab.SLEEVE_TYPES if t != "none"])
def test_every_sleeve_leaves_a_side_seam_running_down_to_the_hem(sleeve_type):
    """Deep armholes (dolman, kimono, drop shoulder) on a cropped top must not end below its hem."""
    for length in ("cropped", "waist", "hip", "tunic"):
        for fit in ("slim", "oversized"):
            frame = build_frame(make_spec("top", length=length, fit=fit, sleeve={"length": "long", "type": sleeve_type}))
            heights = [y for y, _ in frame.profile]
            assert heights == sorted(heights) and heights[0] < heights[-1] == frame.hem_y, (length, fit, heights)
