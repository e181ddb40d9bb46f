"""The studio's look, from the persona's palette (card.visual.palette).

Her most colourful swatch is the accent, her darkest the ink of text and neutrals, her
lightest the paper behind it all. Shades are mixed towards white and black, and button text
is whichever of white or her ink reads better on the accent. Fonts are Gradio's local ones:
nothing is fetched, the studio works offline.
"""

from __future__ import annotations

import colorsys
import html

import gradio as gr

from pipelines.colour import RGB, contrast_ratio, relative_luminance, unit_rgb
from pipelines.style import NamedColor

TINTS = (0.92, 0.84, 0.68, 0.5, 0.25)  # c50..c400: share of white
SHADES = (0.15, 0.3, 0.45, 0.6, 0.72)  # c600..c950: share of black


def persona_theme(palette: list[NamedColor]) -> gr.themes.Base:
    colours = [unit_rgb(colour.hex) for colour in palette]
    ink = min(colours, key=relative_luminance)
    paper = max(colours, key=relative_luminance)
    accent = max(colours, key=_vividness)
    if relative_luminance(paper) < 0.75:  # a dark palette: keep the page light enough to read
        paper = _mix(paper, (1.0, 1.0, 1.0), 0.85)
    if relative_luminance(ink) > 0.1:
        ink = _mix(ink, (0.0, 0.0, 0.0), 0.6)
    primary = _ramp(accent, "persona-accent")
    neutral = _ramp(_mix(ink, paper, 0.35), "persona-neutral")
    button_text = "#FFFFFF" if contrast_ratio(unit_rgb(primary.c600), (1.0, 1.0, 1.0)) >= contrast_ratio(unit_rgb(primary.c600), ink) else _hex(ink)
    return gr.themes.Base(primary_hue=primary, secondary_hue=primary, neutral_hue=neutral, radius_size="sm").set(
        body_background_fill=_hex(paper),
        body_text_color=_hex(ink),
        block_background_fill="#FFFFFF",
        block_title_text_color=_hex(ink),
        block_label_text_color=_hex(_mix(ink, paper, 0.25)),
        button_primary_background_fill=primary.c600,
        button_primary_background_fill_hover=primary.c700,
        button_primary_text_color=button_text,
        button_primary_text_color_hover=button_text,
        color_accent=primary.c600,
        color_accent_soft=primary.c100,
        link_text_color=primary.c800,
    )


def swatches_html(palette: list[NamedColor]) -> str:
    """Her palette as a row of labelled swatches."""
    cells = "".join(
        f'<span class="swatch" title="{html.escape(colour.name)} {colour.hex}" style="background:{colour.hex}"></span>'
        f'<span class="swatch-name">{html.escape(colour.name)}</span>'
        for colour in palette
    )
    return f'<div class="palette">{cells}</div>'


CSS = """
.palette { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; }
.swatch { display: inline-block; width: 22px; height: 22px; border-radius: 4px; border: 1px solid rgba(0,0,0,.15); }
.swatch-name { font-size: 0.85em; margin-right: 6px; }
.gradio-container { max-width: 1280px !important; }
"""


def _ramp(base: RGB, name: str) -> gr.themes.Color:
    light = [_hex(_mix(base, (1.0, 1.0, 1.0), share)) for share in TINTS]
    dark = [_hex(_mix(base, (0.0, 0.0, 0.0), share)) for share in SHADES]
    return gr.themes.Color(*light, _hex(base), *dark, name=name)


def _hex(rgb: RGB) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02X}" for c in rgb)


def _mix(a: RGB, b: RGB, share_of_b: float) -> RGB:
    return tuple(x + (y - x) * share_of_b for x, y in zip(a, b))  # type: ignore[return-value]


def _vividness(rgb: RGB) -> float:
    """Saturated and neither too dark nor too light to carry white or dark text."""
    _, lightness, saturation = colorsys.rgb_to_hls(*rgb)
    return saturation * (1 - abs(lightness - 0.5) * 2)
