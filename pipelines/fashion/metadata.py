"""What every fashion image carries inside its PNG file.

Two text chunks, so the image explains itself wherever it goes:

- ``parameters``: the A1111 text (prompt, negative prompt, steps, seed, model) that
  common image tools and galleries read;
- ``atelier:spec``: the DesignSpec as JSON, so the design can be opened and made again.

    save_png(image, path, spec, parameters=record.a1111_parameters())
    spec, parameters = read_png_metadata(path)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image, PngImagePlugin

from pipelines.fashion.spec import DesignSpec

SPEC_CHUNK = "atelier:spec"
PARAMETERS_CHUNK = "parameters"


def procedural_parameters(spec: DesignSpec, what: str) -> str:
    """The `parameters` text of an image drawn without a model: what it is, and its seed."""
    return f"{what}: {spec.name}\nSteps: 0, Seed: {spec.provenance.seed}, Model: {spec.provenance.backend}"


def save_png(image: Image.Image, path: Path, spec: DesignSpec, parameters: str) -> Path:
    """Write the PNG with both chunks; the file appears whole or not at all."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMETERS_CHUNK, parameters)  # iTXt: UTF-8, for prompts in any language
    info.add_itxt(SPEC_CHUNK, spec.model_dump_json())
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".png.part")
    try:
        with os.fdopen(handle, "wb") as file:
            image.save(file, format="PNG", pnginfo=info, compress_level=3)  # level 6 takes twice as long for a few % smaller files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_png_metadata(path: Path) -> tuple[DesignSpec | None, str]:
    """(spec, parameters text) from a PNG; None and "" where a chunk is missing."""
    with Image.open(path) as image:
        chunks = dict(image.text)
    raw = chunks.get(SPEC_CHUNK)
    spec = DesignSpec.model_validate_json(raw) if raw else None
    return spec, chunks.get(PARAMETERS_CHUNK, "")
