"""Collections: many candidates in, a curated line of looks out.

A designer asks for hundreds of candidates and keeps a few; the collection is what was
kept. `propose_collection` suggests a first cut (varied silhouettes in one colour story)
that the designer edits; `Collection` measures how well the looks hang together:

- palette spread: the mean colour difference (CIELAB ΔE) between the looks' main colours;
  low is one colour story, high is a sampler;
- silhouette variety: distinct silhouettes and body parts over the number of looks;
- outliers: looks far from the others in colour and in shape, flagged (never removed:
  the cut is the designer's).

`lineup_board` draws every look's front flat side by side, with its palette.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from pipelines.fashion.flats import draw_flat, flat_to_png
from pipelines.fashion.palette import delta_e, hex_to_rgb, srgb_to_lab
from pipelines.fashion.spec import DesignSpec
from pipelines.fonts import draw_text, text_font

SHAPE_FIELDS = ("category", "silhouette", "fit", "length", "neckline", "closure")
OUTLIER_SIGMAS = 1.5  # a look this many standard deviations further from the others than usual is flagged
OUTLIER_MARGIN = {"colour": 10.0, "shape": 0.2}  # ... and at least this much (ΔE, share of shape fields): small gaps are not outliers


class Coherence(BaseModel):
    palette_spread: float = Field(description="mean ΔE (CIE76) between the looks' main colours")
    palette_colors: int = Field(description="distinct colours across the collection")
    silhouette_variety: float = Field(description="distinct silhouettes / looks")
    body_part_variety: float = Field(description="distinct body parts (upper, lower, outer, full) / 4")
    outliers: list[str] = Field(description="ids of looks far from the rest, with why in `outlier_reasons`")
    outlier_reasons: dict[str, str] = {}


class Collection(BaseModel):
    name: str
    brief: str = ""
    looks: list[DesignSpec] = Field(min_length=1)

    def coherence(self) -> Coherence:
        return measure_coherence(self.looks)


def _main_lab(spec: DesignSpec) -> np.ndarray:
    main = max(spec.palette, key=lambda color: color.share)
    return srgb_to_lab(np.array(hex_to_rgb(main.hex), dtype=np.float64))


def _palette_distance(a: DesignSpec, b: DesignSpec) -> float:
    """Mean over a's colours of the nearest colour in b, weighted by share: 0 for the same palette."""
    b_labs = np.array([srgb_to_lab(np.array(hex_to_rgb(c.hex), dtype=np.float64)) for c in b.palette])
    return float(sum(c.share * delta_e(srgb_to_lab(np.array(hex_to_rgb(c.hex), dtype=np.float64)), b_labs).min() for c in a.palette))


def _shape_distance(a: DesignSpec, b: DesignSpec) -> float:
    """Share of the shape fields that differ (0 the same garment, 1 nothing in common)."""
    return sum(getattr(a, field) != getattr(b, field) for field in SHAPE_FIELDS) / len(SHAPE_FIELDS)


def measure_coherence(looks: Sequence[DesignSpec]) -> Coherence:
    mains = np.array([_main_lab(look) for look in looks])
    pairs = [(i, j) for i in range(len(looks)) for j in range(i + 1, len(looks))]
    spread = float(np.mean([delta_e(mains[i], mains[j]) for i, j in pairs])) if pairs else 0.0
    outliers, reasons = _outliers(looks)
    return Coherence(
        palette_spread=round(spread, 2),
        palette_colors=len({color.hex for look in looks for color in look.palette}),
        silhouette_variety=round(len({look.silhouette for look in looks}) / len(looks), 3),
        body_part_variety=round(len({look.body_part for look in looks}) / 4, 3),
        outliers=outliers,
        outlier_reasons=reasons,
    )


def _outliers(looks: Sequence[DesignSpec]) -> tuple[list[str], dict[str, str]]:
    """Looks whose mean colour (or shape) distance to the others stands out from the rest's."""
    if len(looks) < 4:
        return [], {}
    reasons: dict[str, str] = {}
    for what, distance in (("colour", _palette_distance), ("shape", _shape_distance)):
        means = np.array([np.mean([distance(look, other) for other in looks if other is not look]) for look in looks])
        limit = means.mean() + OUTLIER_SIGMAS * means.std()
        for look, mean in zip(looks, means):
            if mean > limit and mean - means.mean() >= OUTLIER_MARGIN[what]:
                reasons[look.id] = f"{what} far from the rest ({mean:.2f} against a collection mean of {means.mean():.2f})"
    return [look.id for look in looks if look.id in reasons], reasons


def propose_collection(candidates: Sequence[DesignSpec], looks: int = 12, name: str = "Collection", brief: str = "") -> Collection:
    """A first cut for the designer to edit: start from the candidate closest to the others
    in colour, then keep adding the one that brings the most new shape while staying in
    the colour story. Deterministic for the same candidates."""
    if not candidates:
        raise ValueError("no candidates to make a collection from")
    pool = list(candidates)
    looks = min(looks, len(pool))
    mains = np.array([_main_lab(spec) for spec in pool])
    centre = np.median(mains, axis=0)
    chosen = [int(np.argmin(delta_e(mains, centre)))]
    while len(chosen) < looks:
        def gain(index: int) -> float:
            spec = pool[index]
            novelty = min(_shape_distance(spec, pool[c]) for c in chosen)
            unseen = (spec.silhouette not in {pool[c].silhouette for c in chosen}) + (spec.body_part not in {pool[c].body_part for c in chosen})
            colour_penalty = float(delta_e(mains[index], centre)) / 100
            return novelty + 0.25 * unseen - colour_penalty
        remaining = [i for i in range(len(pool)) if i not in chosen]
        chosen.append(max(remaining, key=lambda i: (gain(i), -i)))
    return Collection(name=name, brief=brief, looks=[pool[i] for i in chosen])


def lineup_board(collection: Collection, width_per_look: int = 360, prints: dict[str, Image.Image] | None = None) -> Image.Image:
    """Every look's front flat in a row (two rows past eight looks), named, with its palette."""
    per_row = len(collection.looks) if len(collection.looks) <= 8 else math.ceil(len(collection.looks) / 2)
    rows = math.ceil(len(collection.looks) / per_row)
    cell_h = int(width_per_look * 800 / 600) + 70
    board = Image.new("RGB", (per_row * width_per_look, rows * cell_h + 60), "white")
    draw = ImageDraw.Draw(board)
    draw_text(draw, (20, 16), collection.name, text_font(28), fill="black")
    for index, spec in enumerate(collection.looks):
        x, y = (index % per_row) * width_per_look, 60 + (index // per_row) * cell_h
        tile = (prints or {}).get(spec.id)
        flat = flat_to_png(draw_flat(spec, "front", tile), width=width_per_look)
        board.paste(flat, (x, y), flat)
        draw_text(draw, (x + 12, y + cell_h - 66), f"{index + 1:02d}  {spec.name}", text_font(15), fill="black")
        swatch_x = x + 12
        for color in spec.palette:
            swatch_w = max(6, int((width_per_look - 24) * color.share))
            draw.rectangle((swatch_x, y + cell_h - 40, swatch_x + swatch_w, y + cell_h - 24), fill=color.hex)
            swatch_x += swatch_w
    return board
