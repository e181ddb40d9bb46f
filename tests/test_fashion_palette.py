"""Palettes: extraction from images, names, harmonising toward the persona, colourways and
recolouring a print tile."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.fashion.palette import (
    CSS_COLORS,
    colorways,
    delta_e,
    extract_palette,
    harmonize,
    hex_to_rgb,
    lab_to_srgb,
    name_color,
    recolor_tile,
    srgb_to_lab,
)
from pipelines.fashion.prints import make_tile
from pipelines.fashion.spec import DesignSpec, PaletteColor, Print
from pipelines.style import NamedColor

# Haeun's palette (configs/personas/haeun.yaml).
PERSONA = [
    NamedColor(name="Monsoon Indigo", hex="#2E3A5C"),
    NamedColor(name="Wet Slate", hex="#5B6670"),
    NamedColor(name="Hanji White", hex="#F2EDE3"),
    NamedColor(name="Persimmon", hex="#E0703A"),
    NamedColor(name="Celadon", hex="#A8C3B1"),
    NamedColor(name="Market Red", hex="#B0303A"),
    NamedColor(name="Moon Silver", hex="#C9CDD2"),
    NamedColor(name="Ink", hex="#1F2430"),
]
BLOCKS = [("#2E3A5C", 0.6), ("#E0703A", 0.3), ("#F2EDE3", 0.1)]


def lab(hex_color: str) -> np.ndarray:
    return srgb_to_lab(np.array(hex_to_rgb(hex_color), dtype=np.float64))


def block_image(blocks=BLOCKS, width: int = 200, height: int = 100) -> np.ndarray:
    """Vertical bands of colour, each as wide as its share."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    start = 0
    for hex_color, share in blocks:
        end = start + round(share * width)
        image[:, start:end] = hex_to_rgb(hex_color)
        start = end
    return image


def palette(*colors: tuple[str, float]) -> list[PaletteColor]:
    return [PaletteColor(hex=hex_color, name="colour", share=share) for hex_color, share in colors]


def assert_recovers_blocks(found: list[PaletteColor], blocks=BLOCKS, max_delta_e: float = 1.0) -> None:
    assert len(found) == len(blocks)
    for color, (hex_color, share) in zip(found, blocks):
        assert delta_e(lab(color.hex), lab(hex_color)) <= max_delta_e, (color.hex, hex_color)
        assert abs(color.share - share) <= 0.03, (color.share, share)
    assert sum(color.share for color in found) == pytest.approx(1.0, abs=1e-9)


def test_lab_conversion_matches_reference_values():
    assert srgb_to_lab(np.array([255.0, 255.0, 255.0])) == pytest.approx([100.0, 0.0, 0.0], abs=1e-3)
    assert srgb_to_lab(np.array([0.0, 0.0, 0.0])) == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    # sRGB red and a mid grey, CIELAB D65 (as published by colour calculators, e.g. Lindbloom's).
    assert srgb_to_lab(np.array([255.0, 0.0, 0.0])) == pytest.approx([53.24, 80.09, 67.20], abs=0.02)
    assert srgb_to_lab(np.array([128.0, 128.0, 128.0])) == pytest.approx([53.59, 0.0, 0.0], abs=0.02)
    colors = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.float64)
    assert np.abs(lab_to_srgb(srgb_to_lab(colors)) - colors).max() < 0.01


def test_extract_recovers_colour_blocks_and_their_shares():
    assert_recovers_blocks(extract_palette(Image.fromarray(block_image()), k=3))
    # Asking for more colours than the image has gives back the ones it has.
    found = extract_palette(Image.fromarray(block_image()), k=5)
    assert [color.hex for color in found] == ["#2E3A5C", "#E0703A", "#F2EDE3"]
    assert [color.share for color in found] == [0.6, 0.3, 0.1]


def test_extract_from_a_noisy_compressed_photo_of_the_blocks():
    noisy = block_image(width=400, height=300).astype(np.float64)
    noisy += np.random.default_rng(1).normal(0, 4, noisy.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    found = extract_palette(Image.open(buffer), k=3, seed=3)
    assert_recovers_blocks(found, max_delta_e=3.0)


def test_extract_from_a_large_image_samples_it():
    large = Image.fromarray(block_image()).resize((3000, 2000), Image.Resampling.NEAREST)
    assert_recovers_blocks(extract_palette(large, k=3))


def test_fully_transparent_pixels_are_ignored():
    rgba = np.full((100, 200, 4), 255, dtype=np.uint8)
    rgba[:, :100] = (255, 0, 0, 0)  # a red half that is invisible...
    rgba[:, 100:160, :3] = hex_to_rgb("#2E3A5C")  # ...and a visible half: 60% indigo, 40% cream
    rgba[:, 160:, :3] = hex_to_rgb("#F2EDE3")
    found = extract_palette(Image.fromarray(rgba, "RGBA"), k=4)
    assert [(color.hex, color.share) for color in found] == [("#2E3A5C", 0.6), ("#F2EDE3", 0.4)]
    with pytest.raises(ValueError, match="fully transparent"):
        extract_palette(Image.new("RGBA", (10, 10), (255, 0, 0, 0)))


def test_extraction_is_deterministic_by_seed_and_sorted_by_share():
    rng = np.random.default_rng(7)
    photo = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).resize((300, 200), Image.Resampling.BICUBIC)
    first = extract_palette(photo, k=5, seed=4)
    assert first == extract_palette(photo, k=5, seed=4)
    assert [c.share for c in first] == sorted((c.share for c in first), reverse=True)
    assert sum(c.share for c in first) == pytest.approx(1.0, abs=1e-9)
    # The palette drops straight into a DesignSpec.
    DesignSpec(category="dress", length="midi", palette=first)
    with pytest.raises(ValueError, match="k must be between 1 and 16"):
        extract_palette(photo, k=0)


def test_names_prefer_the_persona_palette_when_close():
    assert name_color("#FF0000") == "Red"
    assert name_color("#F2EDE3") == "Linen"  # the nearest CSS name...
    assert name_color("#F2EDE3", PERSONA) == "Hanji White"  # ...unless the persona has her own
    assert name_color("#E37541", PERSONA) == "Persimmon"  # a near shade still takes her name
    assert name_color("#00FF00", PERSONA) == "Lime"  # far from all of hers: the CSS name
    names = [color.name for color in extract_palette(Image.fromarray(block_image()), k=3, names=PERSONA)]
    assert names == ["Monsoon Indigo", "Persimmon", "Hanji White"]
    assert len({name for name, _ in CSS_COLORS}) == len(CSS_COLORS) == len({hex_color for _, hex_color in CSS_COLORS})


def test_harmonize_moves_colours_toward_the_persona_palette():
    source = palette(("#3A4A80", 0.5), ("#F08040", 0.3), ("#20A020", 0.2))
    assert harmonize(source, PERSONA, strength=0.0) == source
    snapped = harmonize(source, PERSONA, strength=1.0)
    assert [(c.hex, c.name, c.share) for c in snapped] == [
        ("#2E3A5C", "Monsoon Indigo", 0.5),
        ("#E0703A", "Persimmon", 0.3),
        ("#A8C3B1", "Celadon", 0.2),
    ]
    halfway = harmonize(source, PERSONA, strength=0.5)
    for before, middle, after in zip(source, halfway, snapped):
        total = delta_e(lab(before.hex), lab(after.hex))
        assert delta_e(lab(middle.hex), lab(after.hex)) == pytest.approx(total / 2, abs=1.5)
        assert middle.share == before.share
    assert halfway[1].name == "Persimmon"  # close enough now to take her name
    with pytest.raises(ValueError, match="strength must be between 0 and 1, got 1.5"):
        harmonize(source, PERSONA, strength=1.5)


def test_colorways_are_deterministic_distinct_and_keep_the_shares():
    source = palette(*BLOCKS)
    ways = colorways(source, PERSONA, k=6, seed=3)
    assert ways == colorways(source, PERSONA, k=6, seed=3)
    assert ways != colorways(source, PERSONA, k=6, seed=4)
    keys = [tuple(c.hex for c in way) for way in ways]
    assert len(ways) == 6 and len(set(keys)) == 6 and tuple(c.hex for c in source) not in keys
    persona_hexes = {c.hex for c in PERSONA}
    for index, way in enumerate(ways):
        assert [c.share for c in way] == [c.share for c in source]
        if index % 3 != 2:
            # Recast in the persona's colours, motifs on the same side of the ground as before
            # (the source's accents are both lighter than its indigo ground).
            assert {c.hex for c in way} <= persona_hexes
            ground = lab(way[0].hex)[0]
            assert all(lab(c.hex)[0] > ground + 5 for c in way[1:])
    assert len(colorways(source, PERSONA, k=40, seed=0)) == 40


def test_colorways_of_a_palette_larger_than_the_persona_turn_its_hues():
    source = palette(("#2E3A5C", 0.4), ("#E0703A", 0.3), ("#A8C3B1", 0.2), ("#B0303A", 0.1))
    ways = colorways(source, PERSONA[:2], k=3, seed=0)
    assert len({tuple(c.hex for c in way) for way in ways}) == 3
    for way in ways:
        # A hue turn keeps each colour's lightness.
        for before, after in zip(source, way):
            assert abs(lab(before.hex)[0] - lab(after.hex)[0]) < 2


def test_recolor_tile_maps_a_print_onto_another_palette():
    source = palette(*BLOCKS)
    target = palette(("#F2EDE3", 0.6), ("#B0303A", 0.3), ("#1F2430", 0.1))
    for print_type in ("polka-dot", "stripes", "floral"):
        spec = Print(type=print_type)
        recolored = np.asarray(recolor_tile(make_tile(spec, source, seed=1, size=128), source, target), dtype=np.int32)
        # The same print drawn in the target palette, edges and all.
        drawn = np.asarray(make_tile(spec, target, seed=1, size=128), dtype=np.int32)
        assert np.abs(recolored - drawn).mean() < 0.5, print_type


def test_recolor_tile_keeps_anti_aliased_edges_and_alpha():
    source = palette(("#000000", 0.5), ("#FFFFFF", 0.5))
    target = palette(("#2E3A5C", 0.5), ("#E0703A", 0.5))
    ramp = np.zeros((4, 5, 4), dtype=np.uint8)
    ramp[..., :3] = np.array([0, 64, 128, 191, 255], dtype=np.uint8)[None, :, None]
    ramp[..., 3] = 200
    out = np.asarray(recolor_tile(Image.fromarray(ramp, "RGBA"), source, target), dtype=np.float64)
    indigo, persimmon = np.array(hex_to_rgb("#2E3A5C")), np.array(hex_to_rgb("#E0703A"))
    for column, mix in enumerate([0, 64 / 255, 128 / 255, 191 / 255, 1]):
        assert out[0, column, :3] == pytest.approx(indigo + mix * (persimmon - indigo), abs=0.6)
    assert (out[..., 3] == 200).all()
    with pytest.raises(ValueError, match="from_palette has 2 colours but to_palette has 1"):
        recolor_tile(Image.fromarray(ramp[..., :3]), source, target[:1])
