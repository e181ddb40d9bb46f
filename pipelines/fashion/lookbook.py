"""Exporting a collection: one folder and a zip of it, with a lookbook PDF.

    export_collection(collection, persona.visual, Path("out"), progress=print)

    out/<slug>/collection.json        the looks' specs, the brief and the coherence figures
    out/<slug>/board.png              the line-up
    out/<slug>/lookbook.pdf           a cover with the board, then a page a look: flats, print, spec
    out/<slug>/looks/NN-<id>/         spec.json, front.svg, back.svg, front.png, back.png, print.png
    out/<slug>.zip                    the same files

The folder is built beside its final place and renamed into it, so a failed export leaves
nothing half-written. Every PNG carries its spec and an A1111 ``parameters`` chunk.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fpdf import FPDF
from PIL import Image

from pipelines.fashion.collection import Coherence, Collection, lineup_board
from pipelines.fashion.flats import draw_flats, flat_to_png
from pipelines.fashion.metadata import procedural_parameters, save_png
from pipelines.fashion.prints import make_tile
from pipelines.fashion.spec import DesignSpec
from pipelines.fonts import pdf_text, use_pdf_fonts
from pipelines.names import slugify as _slugify

if TYPE_CHECKING:
    from pipelines.fashion.diffusion import DesignImage

PRINT_TILE_PX = 1024
PDF_IMAGE_PX = 640  # images are placed about 12 cm tall: more pixels only make the PDF slower to write and read

Progress = Callable[[str, float], None]
RenderLook = Callable[[DesignSpec, Image.Image], "DesignImage"]


def slugify(text: str) -> str:
    """The collection's folder name: 'Flowers on Venus' -> 'flowers-on-venus', '금성의 꽃' -> '금성의-꽃'."""
    return _slugify(text, default="collection")


def print_tile(spec: DesignSpec, size: int = PRINT_TILE_PX) -> Image.Image | None:
    """The look's print at print resolution, or None for a solid."""
    if spec.print.type == "solid":
        return None
    return make_tile(spec.print, spec.palette, spec.provenance.seed, size)


@dataclass(frozen=True)
class Lookbook:
    """What `export_collection` made: the folder, its zip and the collection's coherence."""

    folder: Path
    archive: Path
    coherence: Coherence

    @property
    def pdf(self) -> Path:
        return self.folder / "lookbook.pdf"

    @property
    def board(self) -> Path:
        return self.folder / "board.png"


def export_collection(
    collection: Collection, out_dir: Path, *, overwrite: bool = False, progress: Progress | None = None, render_look: RenderLook | None = None
) -> Lookbook:
    """Write the collection folder and its zip. With `render_look`
    (spec, front flat -> DesignImage, e.g. a diffusion model's `from_flat`), each look's
    folder also gets look.png with its generation parameters."""
    report = progress or (lambda step, done: None)
    slug = slugify(collection.name)
    final = out_dir / slug
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists; choose another --out or pass overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{slug}-", dir=out_dir))
    building.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        tiles: dict[str, Image.Image] = {}
        pages: list[tuple[DesignSpec, Image.Image, Image.Image, Image.Image | None]] = []
        for index, spec in enumerate(collection.looks, start=1):
            report(f"look {index} of {len(collection.looks)}: {spec.name}", (index - 1) / (len(collection.looks) + 2))
            tile = print_tile(spec)
            if tile is not None:
                tiles[spec.id] = tile
            front, back = _write_look(building / "looks" / f"{index:02d}-{spec.id}", spec, tile)
            if render_look is not None:
                look = render_look(spec, front)
                save_png(look.image, building / "looks" / f"{index:02d}-{spec.id}" / "look.png", look.spec, look.record.a1111_parameters())
            pages.append((spec, front, back, tile))
        report("line-up board", len(collection.looks) / (len(collection.looks) + 2))
        board = lineup_board(collection, prints=tiles)
        board.save(building / "board.png")
        coherence = collection.coherence()
        (building / "collection.json").write_text(json.dumps({**collection.model_dump(mode="json"), "coherence": coherence.model_dump()}, indent=2, ensure_ascii=False))
        report("lookbook", (len(collection.looks) + 1) / (len(collection.looks) + 2))
        write_lookbook(building / "lookbook.pdf", collection, board, pages)
        zip_folder(building, out_dir / f"{slug}.zip.part", slug)
        if final.exists():
            shutil.rmtree(final)
        building.rename(final)
        (out_dir / f"{slug}.zip.part").replace(out_dir / f"{slug}.zip")
        report("done", 1.0)
        return Lookbook(final, out_dir / f"{slug}.zip", coherence)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        (out_dir / f"{slug}.zip.part").unlink(missing_ok=True)
        raise


def _write_look(folder: Path, spec: DesignSpec, tile: Image.Image | None) -> tuple[Image.Image, Image.Image]:
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(spec.model_dump_json(indent=2))
    flats = draw_flats(spec, tile)
    images = []
    for view, svg in flats.items():
        (folder / f"{view}.svg").write_text(svg)
        image = flat_to_png(svg, width=1200)
        save_png(image, folder / f"{view}.png", spec, procedural_parameters(spec, f"technical flat, {view}"))
        images.append(image)
    if tile is not None:
        save_png(tile, folder / "print.png", spec, procedural_parameters(spec, f"{spec.print.type} print tile"))
    return images[0], images[1]


def zip_folder(folder: Path, zip_path: Path, root: str) -> None:
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{root}/{path.relative_to(folder).as_posix()}")


# ---- the PDF ------------------------------------------------------------------------------------

class _Lookbook(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.font_name = use_pdf_fonts(self)  # DejaVu Sans, Hangul from the Korean font; Helvetica (Latin-1) without either

    def text_line(self, x: float, y: float, text: str, size: float = 10) -> None:
        self.set_font(self.font_name, size=size)
        self.set_xy(x, y)
        self.cell(text=pdf_text(self.font_name, text))


def _spec_lines(spec: DesignSpec) -> list[str]:
    sleeve = "sleeveless" if spec.sleeve.length == "sleeveless" else f"{spec.sleeve.length} {spec.sleeve.type} sleeve"
    lines = [
        f"{spec.category}, {spec.silhouette}, {spec.fit} fit, {spec.length} length",
        f"neckline: {spec.neckline}; {sleeve}; closure: {spec.closure}",
        f"fabric: {spec.fabric.type} ({spec.fabric.finish})",
        f"print: {spec.print.type}" + (f" - {spec.print.motif}" if spec.print.motif else "") + f", {spec.print.scale} scale, {spec.print.repeat} repeat",
        f"details: {', '.join(spec.details) or 'none'}",
        f"{spec.season}, {spec.occasion}; concept: {', '.join(spec.concept) or '-'}",
        f"made by {spec.provenance.backend}, seed {spec.provenance.seed}",
    ]
    return lines


def _for_pdf(image: Image.Image) -> Image.Image:
    """On white, RGB, at most PDF_IMAGE_PX on its longer side."""
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
    flat.thumbnail((PDF_IMAGE_PX, PDF_IMAGE_PX))
    return flat


def write_lookbook(path: Path, collection: Collection, board: Image.Image, pages: list[tuple[DesignSpec, Image.Image, Image.Image, Image.Image | None]]) -> None:
    pdf = _Lookbook()
    pdf.set_title(collection.name)
    pdf.add_page()
    pdf.text_line(15, 12, collection.name, 22)
    if collection.brief:
        pdf.text_line(15, 22, f"Brief: {collection.brief}", 11)
    coherence = collection.coherence()
    pdf.text_line(15, 29, f"{len(collection.looks)} looks - palette spread {coherence.palette_spread:.1f} dE - "
                          f"silhouette variety {coherence.silhouette_variety:.2f} - outliers: {', '.join(coherence.outliers) or 'none'}", 9)
    width = 267
    height = width * board.height / board.width
    if height > 165:
        width, height = width * 165 / height, 165
    board = board.copy()
    board.thumbnail((2 * PDF_IMAGE_PX * 2, 2 * PDF_IMAGE_PX))
    pdf.image(board, x=15, y=36, w=width, h=height)
    for index, (spec, front, back, tile) in enumerate(pages, start=1):
        pdf.add_page()
        pdf.text_line(15, 10, f"{index:02d}  {spec.name}", 16)
        pdf.image(_for_pdf(front), x=10, y=20, h=120)
        pdf.image(_for_pdf(back), x=100, y=20, h=120)
        if tile is not None:
            pdf.image(_for_pdf(tile), x=200, y=22, w=70, h=70)
            pdf.text_line(200, 94, "print tile (repeats seamlessly)", 8)
        for row, color in enumerate(spec.palette):
            pdf.set_fill_color(*(int(color.hex[i : i + 2], 16) for i in (1, 3, 5)))
            pdf.rect(200, 102 + row * 7, 10, 5, style="F")
            pdf.text_line(212, 101.5 + row * 7, f"{color.name} {color.hex} {color.share:.0%}", 8)
        for row, line in enumerate(_spec_lines(spec)):
            pdf.text_line(15, 146 + row * 7, line, 10)
    pdf.output(str(path))
