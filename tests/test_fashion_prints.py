"""Print tiles: every print type tiles without a seam, in the palette's colours, the same for
the same seed; scale, repeat and the brief's words change what they should."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines.fashion.palette import hex_to_rgb
from pipelines.fashion.prints import (
    SEAMLESS_LIMIT,
    VARIANTS,
    is_seamless,
    keywords,
    make_tile,
    print_variant,
    seam_ratio,
    tile_preview,
)
from pipelines.fashion.spec import PaletteColor, Print
from pipelines.fashion.vocabulary import PRINT_REPEATS, PRINT_SCALES, PRINT_TYPES


def palette(*colors: tuple[str, float]) -> list[PaletteColor]:
    return [PaletteColor(hex=hex_color, name=f"colour {i}", share=share) for i, (hex_color, share) in enumerate(colors)]


INDIGO = palette(("#2E3A5C", 0.6), ("#E0703A", 0.3), ("#F2EDE3", 0.1))
HANJI = palette(("#F2EDE3", 0.5), ("#A8C3B1", 0.2), ("#B0303A", 0.2), ("#1F2430", 0.1))
PALETTES = {"indigo": INDIGO, "hanji": HANJI}


def pixels(tile: Image.Image) -> np.ndarray:
    return np.asarray(tile, dtype=np.int32).reshape(-1, 3)


def color_counts(tile: Image.Image) -> dict[tuple[int, int, int], int]:
    values, counts = np.unique(pixels(tile), axis=0, return_counts=True)
    return {tuple(int(c) for c in value): int(count) for value, count in zip(values, counts)}


def supersample_mixes(colors: list[PaletteColor]) -> np.ndarray:
    """Every colour a 2 × 2 box filter can make from palette colours: the anti-aliased edges."""
    rgb = [hex_to_rgb(color.hex) for color in colors]
    return np.array([np.mean(four, axis=0) for four in itertools.combinations_with_replacement(rgb, 4)])


def edge_density(tile: Image.Image) -> float:
    """The share of neighbouring pixel pairs that differ clearly: smaller motifs, more edges."""
    image = np.asarray(tile, dtype=np.int32)
    return float((np.abs(np.diff(image, axis=1)).sum(axis=2) > 40).mean() + (np.abs(np.diff(image, axis=0)).sum(axis=2) > 40).mean())


@pytest.mark.parametrize("palette_name", PALETTES)
@pytest.mark.parametrize("print_type", PRINT_TYPES)
def test_every_print_type_tiles_without_a_seam(print_type, palette_name):
    for seed, repeat in enumerate(PRINT_REPEATS):
        for scale in PRINT_SCALES:
            tile = make_tile(Print(type=print_type, repeat=repeat, scale=scale), PALETTES[palette_name], seed=seed, size=256)
            assert tile.mode == "RGB" and tile.size == (256, 256)
            ratio = seam_ratio(tile)
            assert ratio <= SEAMLESS_LIMIT, f"{print_type} {repeat} {scale} seed {seed}: seam ratio {ratio:.2f}"


@pytest.mark.parametrize("variant", [(t, v) for t, variants in VARIANTS.items() for v in variants], ids=lambda tv: "-".join(tv))
def test_every_variant_tiles_without_a_seam(variant):
    print_type, name = variant
    motif = {"fruit-on-string": "persimmons drying on a string", "foliage": "leaves", "starfield": "stars", "moonlit": "moon", "sunlit": "sun"}.get(name, name)
    spec = Print(type=print_type, motif=motif, repeat="half-drop", scale="small")
    assert print_variant(spec, 0) == name
    assert is_seamless(make_tile(spec, HANJI, seed=0, size=256))


@pytest.mark.parametrize("print_type", ["floral", "stripes", "checks", "animal", "ripple", "paisley"])
def test_a_tile_cut_anywhere_is_still_seamless(print_type):
    # A seamless tile is a torus: rolled by any amount, the new wrap is an old interior join.
    tile = np.asarray(make_tile(Print(type=print_type), INDIGO, seed=5, size=256))
    rng = np.random.default_rng(0)
    for dx, dy in rng.integers(1, 256, (4, 2)):
        rolled = Image.fromarray(np.roll(tile, (int(dy), int(dx)), axis=(0, 1)))
        assert seam_ratio(rolled) <= SEAMLESS_LIMIT


def test_the_seam_measure_catches_real_seams():
    gradient = np.tile(np.linspace(0, 255, 256)[None, :, None], (256, 1, 3)).astype(np.uint8)
    assert seam_ratio(Image.fromarray(gradient)) > 50
    assert seam_ratio(Image.fromarray(np.ascontiguousarray(gradient.transpose(1, 0, 2)))) > 50

    # Dots drawn without their wrap-around copies: the ones crossing an edge are cut off.
    rng = np.random.default_rng(1)
    for _ in range(5):
        cut = Image.new("RGB", (256, 256), (46, 58, 92))
        draw = ImageDraw.Draw(cut)
        for x, y in rng.uniform(0, 256, (20, 2)):
            draw.ellipse([x - 20, y - 20, x + 20, y + 20], fill=(224, 112, 58))
        assert not is_seamless(cut), seam_ratio(cut)

    # One dot sitting on the left edge with no copy on the right.
    single = Image.new("RGB", (256, 256), (46, 58, 92))
    ImageDraw.Draw(single).ellipse([-40, 88, 40, 168], fill=(224, 112, 58))
    assert seam_ratio(single) > 2

    assert seam_ratio(Image.new("RGB", (64, 64), (10, 20, 30))) == 0.0


@pytest.mark.parametrize(("print_type", "motif"), [("ripple", "seigaiha"), ("abstract", "marble"), ("animal", "zebra"), ("paisley", "")])
def test_a_crop_of_a_print_is_not_seamless(print_type, motif):
    tile = make_tile(Print(type=print_type, motif=motif, scale="large"), INDIGO, seed=3, size=512)
    assert is_seamless(tile)
    for x, y in [(37, 59), (100, 13), (5, 200)]:
        assert not is_seamless(tile.crop((x, y, x + 300, y + 300)))


@pytest.mark.parametrize("print_type", PRINT_TYPES)
def test_the_same_inputs_give_the_same_pixels_and_seeds_differ(print_type):
    spec = Print(type=print_type, repeat="brick")
    first = make_tile(spec, HANJI, seed=11, size=128)
    assert first.tobytes() == make_tile(spec, HANJI, seed=11, size=128).tobytes()
    if print_type != "solid":
        others = [make_tile(spec, HANJI, seed=seed, size=128).tobytes() for seed in (12, 13, 14)]
        assert all(other != first.tobytes() for other in others)


@pytest.mark.parametrize("palette_name", PALETTES)
@pytest.mark.parametrize("print_type", PRINT_TYPES)
def test_only_palette_colours_appear(print_type, palette_name):
    colors = PALETTES[palette_name]
    exact = {hex_to_rgb(color.hex) for color in colors}
    mixes = supersample_mixes(colors)
    for seed in range(3):
        counts = color_counts(make_tile(Print(type=print_type), colors, seed=seed, size=256))
        assert sum(n for c, n in counts.items() if c in exact) / sum(counts.values()) >= 0.5
        # Every other pixel is an edge: the average of four palette-coloured subpixels.
        found = np.array(list(counts), dtype=np.float64)
        distance = np.abs(found[:, None, :] - mixes[None, :, :]).max(axis=2).min(axis=1)
        assert distance.max() <= 1.0, (print_type, seed, list(counts)[int(distance.argmax())])


@pytest.mark.parametrize("print_type", PRINT_TYPES)
def test_the_ground_is_the_colour_with_the_largest_share(print_type):
    for colors in PALETTES.values():
        for seed in range(3):
            counts = color_counts(make_tile(Print(type=print_type), colors, seed=seed, size=256))
            assert max(counts, key=counts.get) == hex_to_rgb(colors[0].hex), (print_type, seed)


@pytest.mark.parametrize(("print_type", "motif"), [("stripes", ""), ("color-block", ""), ("checks", "tartan"), ("abstract", "marble")])
def test_field_prints_give_each_colour_its_share(print_type, motif):
    colors = palette(("#1F2430", 0.5), ("#E0703A", 0.3), ("#A8C3B1", 0.2))
    palette_rgb = np.array([hex_to_rgb(color.hex) for color in colors], dtype=np.float64)
    for seed in range(3):
        image = pixels(make_tile(Print(type=print_type, motif=motif, scale="large"), colors, seed=seed, size=256)).astype(np.float64)
        nearest = np.argmin(((image[:, None, :] - palette_rgb[None]) ** 2).sum(axis=2), axis=1)
        measured = np.bincount(nearest, minlength=len(colors)) / len(nearest)
        assert np.allclose(measured, [c.share for c in colors], atol=0.06), (print_type, seed, measured)


@pytest.mark.parametrize("print_type", ["floral", "polka-dot", "paisley", "celestial", "stripes", "checks", "ripple", "animal", "abstract", "geometric", "color-block"])
def test_scale_sets_the_motif_size(print_type):
    def density(scale: str) -> float:
        tiles = [make_tile(Print(type=print_type, scale=scale), INDIGO, seed=seed, size=256) for seed in range(3)]
        # A check's twill is a one-pixel weave texture at every scale: look past it.
        return float(np.mean([edge_density(tile.reduce(4) if print_type == "checks" else tile) for tile in tiles]))

    density = {scale: density(scale) for scale in PRINT_SCALES}
    assert density["small"] > 1.4 * density["medium"] > 1.4 * 1.4 * density["large"], density


def test_the_repeat_arranges_the_cells():
    # Polka dots at medium scale: 4 × 4 cells of 64 pixels at 256.
    def tile(repeat: str) -> np.ndarray:
        return np.asarray(make_tile(Print(type="polka-dot", repeat=repeat), INDIGO, seed=3, size=256), dtype=np.int32)

    block, half_drop, brick, mirror = (tile(repeat) for repeat in ("block", "half-drop", "brick", "mirror"))
    assert np.abs(block[:, 64:128] - block[:, :64]).mean() < 0.1
    # Half-drop: the second column of cells is the first moved down half a cell.
    assert np.abs(half_drop[:, 64:128] - np.roll(half_drop[:, :64], 32, axis=0)).mean() < 0.1
    assert np.abs(half_drop[:, 64:128] - half_drop[:, :64]).mean() > 10
    # Brick: the second row of cells is the first moved across half a cell.
    assert np.abs(brick[64:128] - np.roll(brick[:64], 32, axis=1)).mean() < 0.1
    assert np.abs(brick[64:128] - brick[:64]).mean() > 10
    # Mirror: the neighbouring cells are reflections.
    assert np.abs(mirror[:, 64:128] - mirror[:, :64][:, ::-1]).mean() < 0.1
    assert np.abs(mirror[64:128] - mirror[:64][::-1]).mean() < 0.1


def test_the_motif_words_choose_the_motif():
    assert keywords("moon over Seongsu rooftops") == {"crescent"}
    assert keywords("persimmons drying on a string") == {"fruit", "string"}
    assert keywords("") == set()
    assert {print_variant(Print(type="celestial", motif="moon over Seongsu rooftops"), seed) for seed in range(8)} == {"moonlit"}
    assert {print_variant(Print(type="floral", motif="persimmons drying on a string"), seed) for seed in range(8)} == {"fruit-on-string"}
    assert {print_variant(Print(type="ripple", motif="rain on glass and puddle reflections"), seed) for seed in range(8)} == {"raindrops"}
    assert {print_variant(Print(type="graphic", motif="hand-painted market signs without legible text"), seed) for seed in range(8)} == {"sign"}
    assert {print_variant(Print(type="checks", motif="a picnic gingham"), seed) for seed in range(8)} == {"gingham"}
    # Without words the seed chooses, and over a few seeds more than one variant comes up.
    assert len({print_variant(Print(type="celestial"), seed) for seed in range(12)}) > 1
    moon = make_tile(Print(type="celestial", motif="moon"), INDIGO, seed=1, size=128)
    stars = make_tile(Print(type="celestial", motif="constellation"), INDIGO, seed=1, size=128)
    assert moon.tobytes() != stars.tobytes()


def test_a_tile_is_the_same_design_at_any_size():
    spec = Print(type="floral", repeat="half-drop")
    large = make_tile(spec, INDIGO, seed=2, size=1024)
    assert large.size == (1024, 1024) and is_seamless(large)
    small = make_tile(spec, INDIGO, seed=2, size=256)
    difference = np.abs(np.asarray(large.reduce(4), dtype=np.int32) - np.asarray(small, dtype=np.int32)).mean()
    assert difference < 4, difference


def test_a_one_colour_palette_gives_a_plain_tile():
    plain = palette(("#5B6670", 1.0))
    for print_type in PRINT_TYPES:
        assert set(color_counts(make_tile(Print(type=print_type), plain, seed=0, size=64))) == {(0x5B, 0x66, 0x70)}, print_type


def test_tile_preview_lays_the_tile_out_three_by_three():
    tile = make_tile(Print(type="paisley"), INDIGO, seed=0, size=64)
    preview = tile_preview(tile)
    assert preview.size == (192, 192)
    for column in range(3):
        for row in range(3):
            assert preview.crop((64 * column, 64 * row, 64 * column + 64, 64 * row + 64)).tobytes() == tile.tobytes()
    assert tile_preview(tile, repeats=2).size == (128, 128)


def test_bad_requests_say_what_is_wrong():
    with pytest.raises(ValueError, match="palette is empty"):
        make_tile(Print(type="floral"), [], seed=0)
    with pytest.raises(ValueError, match="between 16 and 8192 pixels, got 8"):
        make_tile(Print(type="floral"), INDIGO, seed=0, size=8)
    with pytest.raises(ValueError, match="at least 4 × 4 pixels"):
        seam_ratio(Image.new("RGB", (2, 2)))
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        tile_preview(Image.new("RGB", (8, 8)), repeats=0)
