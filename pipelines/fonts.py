"""Fonts for the text Atelier draws itself: line-up boards, lookbook PDFs, piano rolls,
the studio's swatch strips.

DejaVu Sans (Debian's fonts-dejavu-core) sets Latin, Greek, Cyrillic and symbols; what it
lacks, Hangul first of all, falls back to a Korean font (Debian's fonts-nanum: NanumGothic).
`make install` installs both. Without them text is still drawn, with Pillow's built-in
font or the PDF's core font, and a `MissingGlyphWarning` names the characters that come
out as empty boxes and the package that fixes it.

    font = text_font(28)
    draw_text(draw, (20, 16), "금성의 꽃 - Flowers on Venus", font, fill="black")
    font.length("금성의 꽃")          # pixels, as Pillow's textlength

    family = use_pdf_fonts(pdf)      # an FPDF: both fonts registered, Hangul as the fallback
    pdf.set_font(family, size=12)

SVG text (the technical flats) is rasterised by cairosvg, which sets a text element in the
FIRST family of its font-family list alone, with no fallback per character: a list that
starts with DejaVu Sans gives Hangul as empty boxes. So `SVG_FONT_FAMILY` starts with
NanumGothic (its Latin is complete), and `svg_font_family(text)` keeps DejaVu Sans for text
DejaVu covers and names the Hangul font actually found here otherwise:

    f'<text font-family="{svg_font_family(caption)}">{escape(caption)}</text>'
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import ImageDraw, ImageFont

if TYPE_CHECKING:
    from fpdf import FPDF

ASSET_FONTS = Path(__file__).resolve().parents[1] / "assets" / "fonts"  # an operator's own fonts go first
LATIN_FONTS = (
    ASSET_FONTS / "DejaVuSans.ttf",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian, Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),  # Fedora
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),  # Arch
)
HANGUL_FONTS = (
    ASSET_FONTS / "NanumGothic.ttf",
    Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),  # Debian, Ubuntu: fonts-nanum
    Path("/usr/share/fonts/nanum/NanumGothic.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian: fonts-noto-cjk
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),  # Fedora
    Path("/System/Library/Fonts/AppleSDGothicNeo.ttc"),  # macOS
    Path("C:/Windows/Fonts/malgun.ttf"),  # Windows: Malgun Gothic
)
FONT_PACKAGES = "fonts-dejavu-core fonts-nanum"  # what `make install` puts in, for the messages
SVG_FONT_FAMILY = "NanumGothic, DejaVu Sans, sans-serif"  # font-family for SVG text that may hold Hangul (cairosvg uses the first only)
SVG_LATIN_FAMILY = "DejaVu Sans, sans-serif"
HANGUL_PROBE = "가힣금꽃"  # a Hangul font has all of these

PDF_LATIN, PDF_HANGUL = "atelier-sans", "atelier-hangul"  # family names in the PDFs Atelier writes


class MissingGlyphWarning(UserWarning):
    """Text had characters that no font found here can draw: they come out as empty boxes."""


@dataclass(frozen=True)
class FontFile:
    path: Path
    index: int = 0  # the face inside a .ttc collection

    @property
    def cmap(self) -> frozenset[int]:
        return _cmap(str(self.path), self.index)


@dataclass(frozen=True)
class FontFiles:
    latin: FontFile | None
    hangul: FontFile | None

    @property
    def chain(self) -> tuple[FontFile, ...]:
        """The files to try, in order, for each character."""
        return tuple(font for font in (self.latin, self.hangul) if font is not None)


@lru_cache(maxsize=None)
def _family(path: str, index: int) -> str:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return font["name"].getBestFamilyName() or Path(path).stem


@lru_cache(maxsize=None)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # fpdf2's own dependency

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def _usable(font: FontFile, probe: str) -> bool:
    try:
        cmap = font.cmap
    except Exception:  # unreadable, or not a font: try the next one
        return False
    return all(ord(char) in cmap for char in probe)


def _fontconfig_hangul() -> list[FontFile]:
    """Fonts fontconfig says cover Korean, single-font files first (fpdf2 embeds those best)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listed = subprocess.run([fc_list, "-f", "%{index}\t%{file}\n", ":lang=ko"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in listed.splitlines():
        index, _, path = line.partition("\t")
        if path:
            found.append(FontFile(Path(path), int(index) if index.isdigit() else 0))
    return sorted(found, key=lambda font: (font.path.suffix.lower() == ".ttc", "gothic" not in font.path.name.lower() and "sans" not in font.path.name.lower(), str(font.path)))


@lru_cache(maxsize=1)
def font_files() -> FontFiles:
    """The Latin and the Hangul font found on this machine (None where there is none)."""
    latin = next((FontFile(path) for path in LATIN_FONTS if path.is_file() and _usable(FontFile(path), "Aa")), None)
    known = (FontFile(path) for path in HANGUL_FONTS)
    asked = (font for _ in (None,) for font in _fontconfig_hangul())  # fontconfig asked only when none of the known ones is here
    hangul = next((font for font in itertools.chain(known, asked) if font.path.is_file() and _usable(font, HANGUL_PROBE)), None)
    return FontFiles(latin, hangul)


_warned: set[tuple[str, str]] = set()


def warn_missing(missing: str, where: str) -> None:
    """One warning for each character that will be drawn as an empty box, where (not again and again)."""
    new = "".join(dict.fromkeys(char for char in missing if (where, char) not in _warned))
    if not new:
        return
    _warned.update((where, char) for char in new)
    shown = ", ".join(f"'{char}' (U+{ord(char):04X})" for char in new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
    warnings.warn(
        f"{where}: no font found here has {shown}, so they are drawn as empty boxes; install the Debian packages "
        f"{FONT_PACKAGES} (make install does), or put NanumGothic.ttf in {ASSET_FONTS}",
        MissingGlyphWarning, stacklevel=3,
    )


def _drawable(char: str) -> bool:
    """Characters that need a glyph (not spaces, joiners or marks that ride on the one before)."""
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf", "Mn", "Me")


# ---- Pillow -------------------------------------------------------------------------------------

Face = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class TextFont:
    """One size of the font chain: each character is set in the first face that has it."""

    size: int
    faces: tuple[Face, ...]
    cmaps: tuple[frozenset[int] | None, ...]  # None: unknown (Pillow's built-in font), taken to cover ASCII

    def _has(self, index: int, char: str) -> bool:
        cmap = self.cmaps[index]
        return ord(char) < 128 if cmap is None else ord(char) in cmap

    def missing(self, text: str) -> str:
        """The characters of `text` that no face can draw."""
        return "".join(dict.fromkeys(c for c in text if _drawable(c) and not any(self._has(i, c) for i in range(len(self.faces)))))

    def runs(self, text: str) -> list[tuple[Face, str]]:
        """`text` cut where the face changes; spaces and combining marks stay with the run they are in."""
        runs: list[tuple[int, str]] = []
        for char in text:
            if runs and not _drawable(char):
                index = runs[-1][0]
            else:
                index = next((i for i in range(len(self.faces)) if self._has(i, char)), 0)
            if runs and runs[-1][0] == index:
                runs[-1] = (index, runs[-1][1] + char)
            else:
                runs.append((index, char))
        return [(self.faces[index], chunk) for index, chunk in runs]

    @property
    def ascent(self) -> int:
        face = self.faces[0]
        return face.getmetrics()[0] if isinstance(face, ImageFont.FreeTypeFont) else 0

    @property
    def line_height(self) -> int:
        face = self.faces[0]
        return round(sum(face.getmetrics()) * 1.15) if isinstance(face, ImageFont.FreeTypeFont) else self.size + 4

    def length(self, text: str) -> float:
        """Width in pixels of one line of `text`, as drawn by `draw_text`."""
        return sum(face.getlength(chunk) for face, chunk in self.runs(text))


@lru_cache(maxsize=64)
def text_font(size: int) -> TextFont:
    """DejaVu Sans then the Hangul font at `size` pixels; Pillow's own font if neither is here."""
    faces, cmaps = [], []
    for font in font_files().chain:
        try:
            faces.append(ImageFont.truetype(str(font.path), size, index=font.index))
        except OSError:
            continue
        cmaps.append(font.cmap)
    if not faces:  # no font files at all: Pillow's bundled font, Latin only
        try:
            faces.append(ImageFont.load_default(size=size))
        except TypeError:  # Pillow without FreeType: the fixed bitmap font
            faces.append(ImageFont.load_default())
        cmaps.append(None)
    return TextFont(size, tuple(faces), tuple(cmaps))


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: TextFont, fill: object = "black") -> float:
    """Draw `text` with its top-left at `xy` (as ImageDraw.text does), each character in a face
    that has it, all on one baseline; lines split at newlines. Returns the widest line's width."""
    missing = font.missing(text)
    if missing:
        warn_missing(missing, "drawing text")
    x0, y = xy
    widest = 0.0
    for line in text.split("\n"):
        x = x0
        baseline = y + font.ascent
        for face, chunk in font.runs(line):
            if isinstance(face, ImageFont.FreeTypeFont):
                draw.text((x, baseline), chunk, fill=fill, font=face, anchor="ls")
            else:
                draw.text((x, y), chunk, fill=fill, font=face)
            x += face.getlength(chunk)
        widest = max(widest, x - x0)
        y += font.line_height
    return widest


# ---- SVG ----------------------------------------------------------------------------------------

def svg_font_family(text: str = "") -> str:
    """The font-family for an SVG text element holding `text`: DejaVu Sans where it has every
    character, else the Hangul font found here first (cairosvg draws with the first family
    only; that font's Latin is complete), `SVG_FONT_FAMILY` when there is none (with a warning)."""
    fonts = font_files()
    if fonts.latin is not None and all(ord(c) in fonts.latin.cmap for c in text if _drawable(c)):
        return SVG_LATIN_FAMILY
    if fonts.hangul is None:
        missing = uncovered(text)
        if missing:
            warn_missing(missing, "writing SVG text")
        return SVG_FONT_FAMILY
    family = _family(str(fonts.hangul.path), fonts.hangul.index)
    return f"{family}, DejaVu Sans, sans-serif"


# ---- fpdf2 --------------------------------------------------------------------------------------

class _DroppedHintingSource(logging.Filter):
    """fontTools says it drops NanumGothic's TSI* tables (VTT hinting sources, of no use in a
    PDF) when fpdf2 subsets the font: once a table for every PDF written, nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "%s NOT subset; don't know how to subset; dropped" and str(record.args and record.args[0]).startswith("TSI"))


_SUBSET_LOG = logging.getLogger("fontTools.subset")


def use_pdf_fonts(pdf: FPDF) -> str:
    """Register DejaVu Sans and the Hangul font in `pdf`, the Hangul one as the fallback for
    what DejaVu lacks, and return the family to `set_font`. With neither, the core Helvetica
    (Latin-1 only: see `pdf_text`), and a warning."""
    if not any(isinstance(f, _DroppedHintingSource) for f in _SUBSET_LOG.filters):
        _SUBSET_LOG.addFilter(_DroppedHintingSource())
    fonts = font_files()
    families = []
    for family, font in ((PDF_LATIN, fonts.latin), (PDF_HANGUL, fonts.hangul)):
        if font is not None:
            pdf.add_font(family, "", str(font.path), collection_font_number=font.index)
            families.append(family)
    if not families:
        warnings.warn(f"no TrueType font found here: the PDF falls back to Helvetica, which has Latin-1 only; install the Debian packages {FONT_PACKAGES}",
                      MissingGlyphWarning, stacklevel=2)
        return "helvetica"
    if len(families) > 1:
        pdf.set_fallback_fonts(families[1:], exact_match=False)
    return families[0]


def pdf_text(family: str, text: str) -> str:
    """`text` as it can be set in `family`: warns about characters no registered font has
    (fpdf2 would only log them when the file is written), and replaces what the core font
    cannot encode."""
    if family == "helvetica":
        encoded = text.encode("latin-1", "replace").decode("latin-1")
        missing = "".join(dict.fromkeys(c for c, e in zip(text, encoded) if c != e))
        if missing:
            warn_missing(missing, "writing a PDF")
        return encoded
    missing = uncovered(text)
    if missing:
        warn_missing(missing, "writing a PDF")
    return text


def uncovered(text: str) -> str:
    """The characters of `text` that need a glyph and have none in the fonts found here."""
    cmaps = [font.cmap for font in font_files().chain]
    return "".join(dict.fromkeys(c for c in text if _drawable(c) and not any(ord(c) in cmap for cmap in cmaps)))


def reset() -> None:
    """Look for the fonts again (after installing some, or in tests)."""
    font_files.cache_clear()
    text_font.cache_clear()
    _warned.clear()
