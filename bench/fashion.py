"""Fashion benchmark: prints one JSON object.

CPU (always):
- seconds for a 12-look collection from a brief, step by step: candidate specs, the first
  cut, flats, print tiles, board and lookbook (the whole export), as `atelier design` runs it;
- print tiles per second at 1024² over every print type, and the same tiles side by side
  with a plain numpy fill of the same size (the floor any tile costs: allocating and
  converting the pixels), as a ratio.
- the steps whose speed the tests do not assert (they must hold on a slower machine): 3000
  candidates from one brief, one view of a detailed flat, and refusing a decompression bomb
  from its PNG header.

GPU (with --gpu, on a machine with CUDA and diffusers): SDXL-architecture UNet+VAE with
random weights (the compute is the same as real weights) at 1024², 30 steps, and the
SDXL-Turbo architecture at 512², 1 step, fp16, SDPA, with and without torch.compile.

Run: .venv/bin/python bench/fashion.py [--gpu]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.cpu import describe_cpu  # noqa: E402

from persona.card import load_persona  # noqa: E402
from pipelines.fashion.brief import DesignBrief, ProceduralDesigner  # noqa: E402
from pipelines.fashion.collection import propose_collection  # noqa: E402
from pipelines.fashion.flats import draw_flats  # noqa: E402
from pipelines.fashion.images import UploadError, load_upload  # noqa: E402
from pipelines.fashion.lookbook import export_collection  # noqa: E402
from pipelines.fashion.prints import make_tile  # noqa: E402
from pipelines.fashion.spec import DesignSpec, Print  # noqa: E402
from pipelines.fashion.vocabulary import PRINT_TYPES  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402


def collection_seconds(brief: str, looks: int = 12) -> dict:
    settings = load_settings()
    card = load_persona(settings.persona, settings.personas_dir)
    started = time.perf_counter()
    candidates = ProceduralDesigner(card.fashion, card.visual).design(DesignBrief(text=brief, n=10 * looks, seed=0))
    specs_s = time.perf_counter() - started
    collection = propose_collection(candidates, looks, name=brief.title(), brief=brief)
    cut_s = time.perf_counter() - started - specs_s
    steps: dict[str, float] = {}
    last = [time.perf_counter(), "looks"]

    def progress(step: str, done: float) -> None:
        name = "looks" if step.startswith("look ") else step
        if name != last[1]:
            steps[last[1]] = steps.get(last[1], 0.0) + time.perf_counter() - last[0]
            last[:] = [time.perf_counter(), name]

    with tempfile.TemporaryDirectory() as out:
        export_collection(collection, Path(out), progress=progress)
    total = time.perf_counter() - started
    return {"looks": looks, "candidates": len(candidates), "seconds": round(total, 2), "specs_s": round(specs_s, 3), "first_cut_s": round(cut_s, 3),
            "flats_and_prints_s": round(steps.get("looks", 0), 2), "board_s": round(steps.get("line-up board", 0), 2), "lookbook_s": round(steps.get("lookbook", 0), 2)}


def tiles_per_second(size: int = 1024, rounds: int = 2) -> dict:
    palette = [{"hex": "#2E3A5C", "name": "Monsoon Indigo", "share": 0.55}, {"hex": "#E0703A", "name": "Persimmon", "share": 0.25},
               {"hex": "#A8C3B1", "name": "Celadon", "share": 0.2}]
    from pipelines.fashion.spec import PaletteColor

    colors = [PaletteColor(**color) for color in palette]
    jobs = [(Print(type=kind, motif="moon over rooftops"), seed) for seed in range(rounds) for kind in PRINT_TYPES]
    started = time.perf_counter()
    for print_, seed in jobs:
        make_tile(print_, colors, seed, size)
    ours = len(jobs) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _, seed in jobs:
        Image.fromarray(np.full((size, size, 3), seed, np.uint8))
    floor = len(jobs) / (time.perf_counter() - started)
    return {"size": size, "tiles": len(jobs), "tiles_per_s": round(ours, 2), "tiles_per_minute": round(60 * ours), "plain_fill_per_s": round(floor, 1), "ours_over_plain_fill": round(ours / floor, 4)}


def step_seconds() -> dict:
    """Seconds for 3000 candidates from one brief, milliseconds per view of a detailed coat's
    flat, and seconds to refuse a 20000 × 20000 PNG (about 50 kB) from its header."""
    settings = load_settings()
    card = load_persona(settings.persona, settings.personas_dir)
    designer = ProceduralDesigner(card.fashion, card.visual)
    started = time.perf_counter()
    designer.design(DesignBrief(text="rainy Seoul night, hopeful", n=3000, seed=1))
    candidates_s = time.perf_counter() - started

    coat = DesignSpec.model_validate({
        "name": "Bench coat", "category": "coat", "length": "knee", "neckline": "lapel", "closure": "button-front",
        "details": ["flap-pockets", "belt", "quilting", "epaulettes", "cuffs"],
        "palette": [{"hex": "#7A3B69", "name": "Plum", "share": 0.7}, {"hex": "#E8C547", "name": "Mustard", "share": 0.3}],
    })
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        draw_flats(coat)
    flat_view_ms = 1000 * (time.perf_counter() - started) / (2 * rounds)

    bomb = _blank_png(20000, 20000)
    started = time.perf_counter()
    try:
        load_upload(bomb)
    except UploadError:
        pass
    else:
        raise SystemExit("error: the decompression bomb was not refused")
    bomb_s = time.perf_counter() - started
    return {"candidates_3000_s": round(candidates_s, 2), "flat_view_ms": round(flat_view_ms, 2),
            "bomb_bytes": len(bomb), "bomb_refused_s": round(bomb_s, 4)}


def _blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of any size, built chunk by chunk: tiny on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width // 8)
    rows = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def gpu(steps_sdxl: int = 30) -> dict:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    torch.backends.cuda.matmul.allow_tf32 = True
    result = {"device": torch.cuda.get_device_name(0)}
    # SDXL's published UNet and VAE shapes, written out: nothing is fetched from a hub.
    sdxl_unet = dict(sample_size=128, in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), block_out_channels=(320, 640, 1280), layers_per_block=2,
                     transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048, attention_head_dim=(5, 10, 20), use_linear_projection=True,
                     addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
    vae_config = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                      block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=1024, scaling_factor=0.13025)
    unet = UNet2DConditionModel(**sdxl_unet).to("cuda", torch.float16).eval()
    vae = AutoencoderKL(**vae_config).to("cuda", torch.float16).eval()

    def run(size: int, steps: int, guidance: bool) -> float:
        batch = 2 if guidance else 1  # classifier-free guidance doubles the batch
        latents = torch.randn(batch, 4, size // 8, size // 8, device="cuda", dtype=torch.float16)
        text = torch.randn(batch, 77, 2048, device="cuda", dtype=torch.float16)
        added = {"text_embeds": torch.randn(batch, 1280, device="cuda", dtype=torch.float16), "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * batch, device="cuda", dtype=torch.float16)}
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            for step in range(steps):
                noise = unet(latents, 999 - step, encoder_hidden_states=text, added_cond_kwargs=added).sample
                latents = latents - 0.01 * noise
            vae.decode(latents[:1] / vae.config.scaling_factor)
        torch.cuda.synchronize()
        return time.perf_counter() - started

    for name, size, steps, guidance in (("sdxl_1024_30_steps", 1024, steps_sdxl, True), ("sdxl_turbo_512_1_step", 512, 1, False)):
        run(size, 2, guidance)  # warm up
        result[f"{name}_s"] = round(min(run(size, steps, guidance) for _ in range(3)), 3)
    unet = torch.compile(unet, mode="max-autotune-no-cudagraphs")
    for name, size, steps, guidance in (("sdxl_1024_30_steps", 1024, steps_sdxl, True), ("sdxl_turbo_512_1_step", 512, 1, False)):
        run(size, 2, guidance)  # compiles
        result[f"{name}_compiled_s"] = round(min(run(size, steps, guidance) for _ in range(3)), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="also time the SDXL architectures on CUDA")
    args = parser.parse_args()
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu()}
    result["collection_12_looks"] = collection_seconds("flowers on Venus")
    result["print_tiles_1024"] = tiles_per_second()
    result["steps"] = step_seconds()
    if args.gpu:
        result["gpu"] = gpu()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
