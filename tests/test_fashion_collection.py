"""Collections: the first cut, coherence and outliers, the line-up board, the lookbook export."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import pypdf
import pytest
from PIL import Image

from pipelines.fashion import lookbook
from pipelines.fashion.collection import Collection, lineup_board, measure_coherence, propose_collection
from pipelines.fashion.lookbook import export_collection
from pipelines.fashion.metadata import read_png_metadata, save_png
from pipelines.fashion.spec import DesignSpec, PaletteColor

INDIGO = {"hex": "#2E3A5C", "name": "Monsoon Indigo", "share": 0.6}
ACCENTS = [{"hex": "#E0703A", "name": "Persimmon", "share": 0.4}, {"hex": "#A8C3B1", "name": "Celadon", "share": 0.4}, {"hex": "#F2EDE3", "name": "Hanji White", "share": 0.4}]
GARMENTS = [("dress", "a-line", "midi"), ("coat", "cocoon", "knee"), ("trousers", "wide-leg", "ankle"), ("skirt", "a-line", "midi"),
            ("blouse", "boxy", "hip"), ("jacket", "boxy", "waist"), ("jumpsuit", "straight", "ankle"), ("cape", "tent", "knee")]
PRINTS = ["floral", "celestial", "ripple", "stripes", "solid", "checks"]


def candidates(count: int) -> list[DesignSpec]:
    specs = []
    for i in range(count):
        category, silhouette, length = GARMENTS[i % len(GARMENTS)]
        specs.append(DesignSpec(id=f"look-{i:02d}", name=f"Venus Bloom {i}", category=category, silhouette=silhouette, length=length,
                                print={"type": PRINTS[i % len(PRINTS)], "motif": "flowers on Venus"}, palette=[INDIGO, ACCENTS[i % 3]],
                                concept=["flower", "Venus"], provenance={"seed": i}))
    return specs


def test_the_first_cut_is_varied_in_shape_and_deterministic():
    pool = candidates(40)
    first = propose_collection(pool, 12, name="Flowers on Venus")
    assert [look.id for look in first.looks] == [look.id for look in propose_collection(pool, 12, name="Flowers on Venus").looks]
    assert len(first.looks) == 12 and len({look.id for look in first.looks}) == 12
    assert {look.category for look in first.looks} == {g[0] for g in GARMENTS}  # every garment kind before any repeats
    with pytest.raises(ValueError, match="no candidates"):
        propose_collection([], 12)


def test_coherence_measures_and_outliers_are_flagged_not_removed():
    looks = candidates(8)
    steady = measure_coherence(looks)
    assert steady.outliers == [] and steady.body_part_variety == 1.0 and steady.silhouette_variety == 6 / 8
    lime = looks[0].model_copy(update={"id": "lime", "palette": [PaletteColor(hex="#B6FF00", name="Lime", share=1.0)]})
    odd = measure_coherence([*looks, lime])
    assert odd.outliers == ["lime"] and "colour" in odd.outlier_reasons["lime"]
    assert odd.palette_spread > steady.palette_spread
    assert len(Collection(name="c", looks=[*looks, lime]).looks) == 9  # flagged, still there: the cut is the designer's


def test_the_board_shows_every_look_with_its_palette():
    collection = Collection(name="Board", looks=candidates(4))
    board = lineup_board(collection, width_per_look=200)
    assert board.size[0] == 4 * 200
    colours = {colour for _, colour in board.convert("RGB").getcolors(1_000_000)}
    assert (0x2E, 0x3A, 0x5C) in colours and (0xE0, 0x70, 0x3A) in colours  # swatches


def test_png_metadata_round_trips_and_reads_as_a1111_parameters(tmp_path):
    spec = candidates(1)[0]
    path = save_png(Image.new("RGB", (8, 8), "white"), tmp_path / "look.png", spec, "flowers\nNegative prompt: text\nSteps: 30, Seed: 7, Model: sdxl")
    read, parameters = read_png_metadata(path)
    assert read == spec and "Seed: 7" in parameters
    assert Image.open(path).text["parameters"].startswith("flowers")  # what A1111-reading tools look for
    assert not list(tmp_path.glob("*.part"))


def test_export_writes_the_folder_zip_and_lookbook(tmp_path):
    collection = Collection(name="Flowers on Venus", brief="flowers on Venus", looks=candidates(5))
    steps = []
    lookbook = export_collection(collection, tmp_path, progress=lambda step, done: steps.append(done))
    folder = lookbook.folder
    assert folder == tmp_path / "flowers-on-venus" and steps[-1] == 1.0 and steps == sorted(steps)
    assert lookbook.archive == tmp_path / "flowers-on-venus.zip" and lookbook.pdf.is_file() and lookbook.board.is_file()
    assert lookbook.coherence == collection.coherence()
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(tmp_path / "flowers-on-venus.zip") as archive:
        assert sorted(name.removeprefix("flowers-on-venus/") for name in archive.namelist()) == files
    saved = json.loads((folder / "collection.json").read_text())
    assert [look["id"] for look in saved["looks"]] == [look.id for look in collection.looks] and "palette_spread" in saved["coherence"]
    look = folder / "looks" / "01-look-00"
    assert DesignSpec.model_validate_json((look / "spec.json").read_text()) == collection.looks[0]
    assert ET.parse(look / "front.svg").getroot().tag.endswith("svg")
    spec, parameters = read_png_metadata(look / "print.png")
    assert spec == collection.looks[0] and "Seed: 0" in parameters
    assert Image.open(look / "print.png").size == (1024, 1024)
    assert not (folder / "looks" / "05-look-04" / "print.png").exists()  # a solid has no print
    pdf = pypdf.PdfReader(folder / "lookbook.pdf")
    assert len(pdf.pages) == 1 + 5
    assert "Flowers on Venus" in pdf.pages[0].extract_text() and "Venus Bloom 2" in pdf.pages[3].extract_text()
    with pytest.raises(FileExistsError, match="already exists"):
        export_collection(collection, tmp_path)


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(lookbook, "write_lookbook", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_collection(Collection(name="Broken", looks=candidates(2)), tmp_path)
    assert list(tmp_path.iterdir()) == []
