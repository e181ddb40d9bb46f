"""Hangul in what Atelier draws itself: the line-up board, the lookbook PDF, the piano roll,
the studio's swatch strip, and the folder names made from Korean titles.

Text is checked as drawn: the ink of a title is compared with the same text set in the
Korean font alone (it must match) and in DejaVu alone (empty boxes: it must not)."""

from __future__ import annotations

import io
import logging
import unicodedata
import warnings

import numpy as np
import pypdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from music_helpers import handmade_score
from pipelines import fonts
from pipelines.fashion import lookbook
from pipelines.fashion.collection import Collection, lineup_board
from pipelines.fashion.lookbook import export_collection
from pipelines.fashion.spec import PaletteColor
from pipelines.music import pianoroll
from pipelines.names import MAX_BYTES, slugify
from test_fashion_collection import candidates

TITLE = "금성의 꽃 장마"  # Hangul and spaces only: one font sets all of it, so a reference rendering matches it exactly
LOOK_NAME = "물결 원피스"  # her label's dress
BOARD_TITLE_BOX_HEIGHT = 60  # the board's title band, above the flats


@pytest.fixture(autouse=True)
def fresh_fonts():
    fonts.reset()
    yield
    fonts.reset()


def hangul_font() -> fonts.FontFile:
    found = fonts.font_files().hangul
    assert found is not None, "no Hangul font: install Debian's fonts-nanum (make install does)"
    return found


def latin_font() -> fonts.FontFile:
    found = fonts.font_files().latin
    assert found is not None, "no DejaVu Sans: install Debian's fonts-dejavu-core (make install does)"
    return found


def without_fonts(monkeypatch, latin: bool) -> fonts.FontFiles:
    """Pretend this machine has no Hangul font (and no DejaVu either unless `latin`); returns the real ones."""
    real = fonts.FontFiles(latin_font(), hangul_font())
    pretend = fonts.FontFiles(real.latin if latin else None, None)
    monkeypatch.setattr(fonts, "font_files", lambda: pretend)
    fonts.text_font.cache_clear()
    return real


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """The ink inside `box` (pixels nearer the darkest than the lightest there, so any ink
    colour on any paper compares with black on white), cropped to its bounding box."""
    grey = np.asarray(image.convert("L").crop(box)).astype(float)
    dark = grey < (grey.min() + grey.max()) / 2
    rows, columns = np.nonzero(dark)
    assert len(rows), "nothing drawn there"
    return dark[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ink masks laid top-left on top-left."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    padded = []
    for mask in (a, b):
        canvas = np.zeros((height, width), dtype=bool)
        canvas[: mask.shape[0], : mask.shape[1]] = mask
        padded.append(canvas)
    return float((padded[0] & padded[1]).sum() / (padded[0] | padded[1]).sum())


def set_alone(font: fonts.FontFile, size: int, text: str) -> np.ndarray:
    """`text` in that one font, as Pillow draws it: the reference (Korean font) or the empty boxes (DejaVu)."""
    image = Image.new("L", (40 + size * len(text), 2 * size + 20), 255)
    ImageDraw.Draw(image).text((20, 10), text, font=ImageFont.truetype(str(font.path), size, index=font.index), fill=0)
    return ink(image, (0, 0, *image.size))


def korean_collection() -> Collection:
    looks = candidates(2)
    looks[0] = looks[0].model_copy(update={"name": LOOK_NAME})
    return Collection(name=TITLE, brief="금성의 꽃, 장마 - 서하은", looks=looks)


def board_title(board: Image.Image) -> np.ndarray:
    return ink(board, (0, 0, board.width, BOARD_TITLE_BOX_HEIGHT))


# ---- the line-up board --------------------------------------------------------------------------

def test_the_board_draws_a_korean_title_in_the_korean_font():
    with warnings.catch_warnings():
        warnings.simplefilter("error", fonts.MissingGlyphWarning)
        board = lineup_board(korean_collection(), width_per_look=300)
    drawn = board_title(board)
    assert overlap(drawn, set_alone(hangul_font(), 28, TITLE)) > 0.95
    assert overlap(drawn, set_alone(latin_font(), 28, TITLE)) < 0.5  # not DejaVu's empty boxes


def test_a_look_named_in_korean_is_drawn_under_its_flat():
    board = lineup_board(korean_collection(), width_per_look=300)
    cell_h = int(300 * 800 / 600) + 70
    label_top = 60 + cell_h - 66
    number = fonts.text_font(15).length("01  ")
    drawn = ink(board, (12 + round(number) - 2, label_top - 4, 300, label_top + 22))  # the name, past its number
    assert overlap(drawn, set_alone(hangul_font(), 15, LOOK_NAME)) > 0.9


def test_without_a_hangul_font_the_board_warns_and_names_the_package(monkeypatch):
    """The comparison above can tell: with DejaVu alone the title is the empty boxes, and a warning says why."""
    real = without_fonts(monkeypatch, latin=True)
    with pytest.warns(fonts.MissingGlyphWarning, match="fonts-nanum") as caught:
        board = lineup_board(korean_collection(), width_per_look=300)
    assert "금" in str(caught[0].message)
    drawn = board_title(board)
    assert overlap(drawn, set_alone(real.latin, 28, TITLE)) > 0.95
    assert overlap(drawn, set_alone(real.hangul, 28, TITLE)) < 0.5


def below_baseline(font: fonts.FontFile, size: int, text: str) -> int:
    """How far the ink of `text` reaches below the baseline, set alone in that font (Hangul sits a little lower than Latin)."""
    image = Image.new("L", (300, 3 * size), 255)
    ImageDraw.Draw(image).text((10, 2 * size), text, font=ImageFont.truetype(str(font.path), size, index=font.index), fill=0, anchor="ls")
    return int(np.nonzero((np.asarray(image) < 128).any(axis=1))[0].max()) - 2 * size


def test_mixed_scripts_share_one_baseline():
    font = fonts.text_font(28)
    assert [face.path for face, _ in font.runs("물결 Mulgyeol 2027")] == [str(hangul_font().path), str(latin_font().path)]
    image = Image.new("L", (600, 80), 255)
    fonts.draw_text(ImageDraw.Draw(image), (10, 10), "물결 Mulgyeol", font, fill=0)
    dark = np.asarray(image) < 128
    hangul_bottom = np.nonzero(dark[:, : 10 + round(font.length("물결"))].any(axis=1))[0].max()
    latin_bottom = np.nonzero(dark[:, 10 + round(font.length("물결 M")) + 1 : 10 + round(font.length("물결 Mul"))].any(axis=1))[0].max()  # 'ul': no descender
    expected = below_baseline(hangul_font(), 28, "물결") - below_baseline(latin_font(), 28, "ul")
    assert abs((hangul_bottom - latin_bottom) - expected) <= 1


# ---- the lookbook PDF ---------------------------------------------------------------------------

def embedded_fonts(reader: pypdf.PdfReader) -> dict[str, bool]:
    """Base font name -> whether the font file is embedded, over every page."""
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font).get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            found[str(font["/BaseFont"]).split("+")[-1]] = any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
    return found


def test_the_lookbook_embeds_the_korean_font_and_its_text_reads_back(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = export_collection(korean_collection(), tmp_path).folder
    assert not [w for w in caught if issubclass(w.category, fonts.MissingGlyphWarning)]
    assert not [r for r in caplog.records if "missing" in r.getMessage() and "glyph" in r.getMessage()], "fpdf2 found glyphs missing"
    assert not [r for r in caplog.records if r.name.startswith("fontTools")], "fontTools noise in the export's log"
    reader = pypdf.PdfReader(folder / "lookbook.pdf")
    embedded = embedded_fonts(reader)
    korean = hangul_font().path.stem  # fpdf2 names an embedded font by its file: NanumGothic
    assert any(name.startswith(korean) and is_embedded for name, is_embedded in embedded.items()), embedded
    assert any(name.startswith("DejaVuSans") and is_embedded for name, is_embedded in embedded.items()), embedded
    cover = reader.pages[0].extract_text()
    assert TITLE in cover and "Brief: 금성의 꽃, 장마 - 서하은" in cover
    assert f"01 {LOOK_NAME}" in " ".join(reader.pages[1].extract_text().split())
    assert reader.metadata.title == TITLE


def test_without_a_hangul_font_the_lookbook_warns(tmp_path, monkeypatch):
    without_fonts(monkeypatch, latin=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_collection(korean_collection(), tmp_path)
    assert any(issubclass(w.category, fonts.MissingGlyphWarning) and "writing a PDF" in str(w.message) and "금" in str(w.message) for w in caught)
    assert "atelier-hangul" not in str(pypdf.PdfReader(tmp_path / "금성의-꽃-장마" / "lookbook.pdf").pages[0]["/Resources"]["/Font"])


def test_without_any_font_file_the_lookbook_still_writes_latin(tmp_path, monkeypatch):
    without_fonts(monkeypatch, latin=False)
    collection = Collection(name="Flowers on Venus", looks=candidates(1))
    with pytest.warns(fonts.MissingGlyphWarning, match="Helvetica"):
        folder = export_collection(collection, tmp_path).folder
    assert "Flowers on Venus" in pypdf.PdfReader(folder / "lookbook.pdf").pages[0].extract_text()


# ---- the piano roll and the studio's swatch strip -------------------------------------------------

def test_the_piano_roll_draws_a_korean_title():
    title = "봄비 내리는 밤"
    with warnings.catch_warnings():
        warnings.simplefilter("error", fonts.MissingGlyphWarning)
        image = pianoroll.piano_roll(handmade_score(bars=(2,), title=title))
    drawn = ink(image, (0, 0, 600, pianoroll.TOP - 22))  # above the section names
    assert overlap(drawn, set_alone(hangul_font(), pianoroll.TITLE_SIZE, title)) > 0.95
    assert overlap(drawn, set_alone(latin_font(), pianoroll.TITLE_SIZE, title)) < 0.5


def test_the_swatch_strip_names_colours_in_korean():
    from studio.fashion_tab import swatch_strip

    strip = swatch_strip([PaletteColor(hex="#F2EDE3", name="한지", share=1.0)], width=300)
    drawn = ink(strip, (0, strip.height - 32, 300, strip.height - 14))  # the name line, above the hex
    assert overlap(drawn, set_alone(hangul_font(), 13, "한지")) > 0.9


# ---- SVG text (the technical flats' captions) ------------------------------------------------------

def svg_text(family: str, text: str) -> np.ndarray:
    import cairosvg

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="60"><rect width="400" height="60" fill="white"/>'
           f'<text x="10" y="40" font-family="{family}" font-size="28">{text}</text></svg>')
    return ink(Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg.encode()))), (0, 0, 400, 60))


@pytest.mark.parametrize("named_by", ["SVG_FONT_FAMILY", "svg_font_family"])
def test_svg_text_in_the_named_families_shows_hangul(named_by):
    """cairosvg sets text in the first family alone: the list must start with a font that has Hangul."""
    family = fonts.SVG_FONT_FAMILY if named_by == "SVG_FONT_FAMILY" else fonts.svg_font_family(LOOK_NAME)
    drawn = svg_text(family, LOOK_NAME)
    korean, boxes = set_alone(hangul_font(), 28, LOOK_NAME), set_alone(latin_font(), 28, LOOK_NAME)
    assert abs(drawn.shape[1] - korean.shape[1]) <= 3 and abs(drawn.shape[1] - boxes.shape[1]) > 10
    assert overlap(drawn, korean) > 0.5 > 0.2 > overlap(drawn, boxes)  # cairo hints differently from Pillow: close, not equal


def test_a_flat_captions_a_korean_look_name_in_the_korean_font():
    import re

    from pipelines.fashion.flats import draw_flat, flat_to_png

    spec = candidates(1)[0].model_copy(update={"name": LOOK_NAME})
    svg = draw_flat(spec, "front")
    family = re.search(r'<text class="caption"[^>]* font-family="([^"]+)"', svg).group(1)
    assert family == fonts.svg_font_family(f"{LOOK_NAME} — front") and not family.startswith("DejaVu")
    caption = f"{LOOK_NAME} — front"
    drawn = flat_to_png(svg, width=600)
    boxes = flat_to_png(svg.replace(family, fonts.SVG_LATIN_FAMILY), width=600)
    strip = (0, drawn.height - drawn.height // 12, drawn.width, drawn.height)  # the caption's strip
    assert overlap(ink(drawn, strip), ink(boxes, strip)) < 0.5, caption  # glyphs, not empty boxes


def test_latin_svg_text_keeps_dejavu():
    assert fonts.svg_font_family("Bloom Rain Column Dress — front") == fonts.SVG_LATIN_FAMILY
    assert fonts.svg_font_family("물결 Dress — front").startswith("NanumGothic")


# ---- folder names -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, slug", [
    ("금성의 꽃, 장마", "금성의-꽃-장마"),
    ("Flowers on Venus", "flowers-on-venus"),
    ("물결 SS27 / 서하은", "물결-ss27-서하은"),
    ("../../etc/passwd", "etc-passwd"),
    ("장마\x00\n\t비", "장마-비"),
    ("Ｖｅｎｕｓ　꽃", "venus-꽃"),  # full-width forms and the ideographic space
    ("café crème", "café-crème"),
    ("CON", "con_"),
    ("  ***  ", "untitled"),
])
def test_slugs_keep_letters_of_any_script_and_are_safe(text, slug):
    assert slugify(text) == slug


def test_slugs_are_nfc_and_bounded():
    decomposed = unicodedata.normalize("NFD", "금성의 꽃")  # as macOS file names and some keyboards give it
    assert len(decomposed) > len("금성의 꽃")
    assert slugify(decomposed) == "금성의-꽃" == unicodedata.normalize("NFC", slugify(decomposed))
    long = slugify("장마 " * 200)
    assert len(long) <= 60 and len(long.encode()) <= MAX_BYTES and not long.endswith("-")
    assert lookbook.slugify("※※") == "collection"


def test_a_korean_collection_exports_to_a_readable_folder(tmp_path):
    folder = export_collection(korean_collection(), tmp_path).folder
    assert folder == tmp_path / "금성의-꽃-장마" and (tmp_path / "금성의-꽃-장마.zip").is_file()
    assert sorted(path.name for path in folder.iterdir()) == ["board.png", "collection.json", "lookbook.pdf", "looks"]
