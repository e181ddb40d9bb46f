"""Colour arithmetic shared by the pipelines and the studio: '#RRGGBB' parsing and WCAG contrast.

    hex_to_rgb("#E0703A")                       # (224, 112, 58)
    relative_luminance(unit_rgb("#E0703A"))     # 0.29...
    contrast_ratio(unit_rgb("#1F2430"), (1.0, 1.0, 1.0))
"""

from __future__ import annotations

from pipelines.style import HEX_COLOR

RGB = tuple[float, float, float]  # channels from 0 to 1


def hex_to_rgb(hex_color: str) -> tuple[int, int, int]:
    """'#E0703A' -> (224, 112, 58); anything but '#' and six hex digits is refused."""
    if not HEX_COLOR.match(hex_color):
        raise ValueError(f"expected a colour like '#A1B2C3', got {hex_color!r}")
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def unit_rgb(hex_color: str) -> RGB:
    """'#FF8000' -> (1.0, 0.50..., 0.0): channels from 0 to 1."""
    red, green, blue = hex_to_rgb(hex_color)
    return red / 255, green / 255, blue / 255


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of sRGB channels from 0 to 1: 0 is black, 1 is white."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, from 1 (the same) to 21 (black on white)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
