"""``atelier design`` and ``atelier prints``: the fashion pipeline from the command line.

    atelier design "flowers on Venus" --looks 12 --out DIR     candidates -> a collection -> folder, zip, lookbook
    atelier prints "celestial garden" --count 100 --out DIR    seamless print tiles with their specs inside
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from persona.card import load_persona
from persona.engine.settings import ConfigError, Settings
from serving.cli_checks import CommandError, UsageError, brief_problems, check_brief, check_output_folder, check_range, persona_id_argument


def add_commands(commands: argparse._SubParsersAction) -> None:
    design = commands.add_parser("design", help="design a collection from a brief: flats, prints, board, lookbook",
                                 description="Make many candidate designs from a brief and the persona's fashion DNA, propose a "
                                             "collection of varied looks, and export it as a folder and a zip with a lookbook PDF.")
    design.add_argument("brief", help='the brief, e.g. "flowers on Venus"')
    design.add_argument("--looks", type=int, default=12, help="looks in the collection (default: 12)")
    design.add_argument("--candidates", type=int, help="candidates to choose from (default: 10 per look)")
    design.add_argument("--seed", type=int, default=0, help="same brief and seed, same designs (default: 0)")
    design.add_argument("--out", type=Path, required=True, help="folder to write the collection into")
    design.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
    design.add_argument("--llm", action="store_true", help="draft candidates with the configured dialogue model (one that supports JSON schema, e.g. vLLM)")
    design.add_argument("--overwrite", action="store_true", help="replace a collection of the same name in --out")
    design.add_argument("--no-render", action="store_true", help="skip the diffusion looks even when fashion.diffusion is configured")
    design.add_argument("--steps", type=int, help="diffusion steps for the looks (default: the model's)")
    design.add_argument("--size", type=int, help="look size in pixels (default: the model's, e.g. 1024 for SDXL)")
    design.set_defaults(run=run_design)

    prints = commands.add_parser("prints", help="make seamless print tiles from a brief",
                                 description="Make seamless print tiles from a brief in the persona's palette; each PNG carries its spec.")
    prints.add_argument("brief", help='the brief, e.g. "celestial garden"')
    prints.add_argument("--count", type=int, default=100, help="how many tiles (default: 100)")
    prints.add_argument("--size", type=int, default=1024, help="tile size in pixels (default: 1024, print resolution)")
    prints.add_argument("--seed", type=int, default=0)
    prints.add_argument("--out", type=Path, required=True, help="folder to write the tiles into")
    prints.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
    prints.set_defaults(run=run_prints)


def run_design(args: argparse.Namespace, settings: Settings) -> int:
    check_brief(args.brief, 'atelier design "flowers on Venus" --out DIR')
    check_range("--looks", args.looks, 1, 200)
    count = 10 * args.looks if args.candidates is None else args.candidates
    check_range("--candidates", count, args.looks, 5000)
    if args.steps is not None:
        check_range("--steps", args.steps, 1, 500)
    if args.size is not None:
        check_range("--size", args.size, 64, 4096)
    check_output_folder(args.out)
    settings.check_model_folders(dialogue=args.llm)
    if not args.no_render:
        try:
            settings.check_model_folders(diffusion=True)
        except ConfigError as error:
            raise ConfigError(f"{error} (or pass --no-render)") from None

    from pipelines.fashion.brief import DesignBrief, ProceduralDesigner
    from pipelines.fashion.collection import propose_collection
    from pipelines.fashion.lookbook import export_collection

    try:
        brief = DesignBrief(text=args.brief, n=count, seed=args.seed)
    except ValidationError as error:
        raise brief_problems(error, {"n": "--candidates"}) from None
    card = load_persona(args.persona or settings.persona, settings.personas_dir)
    started = time.perf_counter()
    if args.llm:
        candidates = asyncio.run(_drafted(brief, card, settings))
    else:
        candidates = ProceduralDesigner(card.fashion, card.visual).design(brief)
    print(f"{len(candidates)} candidates from {', '.join(brief.keywords) or 'her DNA'}", file=sys.stderr)
    collection = propose_collection(candidates, args.looks, name=args.brief.strip().title(), brief=args.brief)
    render_look = None if args.no_render else _look_renderer(settings, card, args.steps, args.size)
    with tqdm(total=100, unit="%", desc="exporting", file=sys.stderr) as bar:
        def progress(step: str, done: float) -> None:
            bar.set_postfix_str(step[:40])
            bar.update(round(100 * done) - bar.n)

        try:
            lookbook = export_collection(collection, args.out, overwrite=args.overwrite, progress=progress, render_look=render_look)
        except FileExistsError as error:
            raise CommandError(str(error)) from None
    print(json.dumps({"collection": str(lookbook.folder), "zip": str(lookbook.archive), "looks": len(collection.looks), "candidates": len(candidates),
                      "seconds": round(time.perf_counter() - started, 2), "coherence": lookbook.coherence.model_dump()}, indent=2))
    return 0


def _look_renderer(settings: Settings, card, steps: int | None, size: int | None):
    """A look from each flat with the configured diffusion model (through its ControlNet when
    one is set, else from the spec alone); None when no model is configured."""
    config = settings.fashion.diffusion
    if config is None:
        return None
    from pipelines.fashion.diffusion import DiffusionError, DiffusionModelError

    try:
        designer = config.load()
    except DiffusionModelError as error:
        raise CommandError(f"{error} (or pass --no-render)") from None
    for flag, value, check in (("--steps", steps, designer._steps), ("--size", size, designer._size)):
        if value is not None:  # what this model takes (a distilled model's few steps, its size multiple)
            try:
                check(value)
            except ValueError as error:
                raise UsageError(f"{flag}: {error}") from None
    print(f"looks: {designer.architecture} from {config.model_dir}" + (" through the flat's ControlNet" if config.controlnet_dir else ""), file=sys.stderr)

    def render(spec, front_flat):
        seed = spec.provenance.seed
        try:
            if config.controlnet_dir:
                return designer.from_flat(spec, front_flat, card.visual, seed=seed, steps=steps, size=size)
            return designer.generate(spec, card.visual, seed=seed, steps=steps, size=size)
        except DiffusionError as error:
            raise CommandError(f"{error} (or pass --no-render)") from None

    return render


async def _drafted(brief, card, settings: Settings):
    from pipelines.dialogue import create_backend
    from pipelines.fashion.llm_designer import design_candidates

    backend = create_backend(settings.dialogue, settings.cache_path, log=lambda line: print(line, file=sys.stderr))
    try:
        if not backend.supports_json_schema:
            print(f"the {backend.name} backend cannot answer under a JSON schema: designing procedurally", file=sys.stderr)
        return await design_candidates(brief, card.fashion, card.visual, backend)
    finally:
        await backend.aclose()


def run_prints(args: argparse.Namespace, settings: Settings) -> int:
    check_brief(args.brief, 'atelier prints "celestial garden" --out DIR')
    check_range("--count", args.count, 1, 5000)
    check_range("--size", args.size, 64, 4096)
    check_output_folder(args.out)

    from pipelines.fashion.brief import DesignBrief, ProceduralDesigner
    from pipelines.fashion.lookbook import slugify
    from pipelines.fashion.metadata import procedural_parameters, save_png
    from pipelines.fashion.prints import make_tile

    try:
        brief = DesignBrief(text=args.brief, n=args.count, seed=args.seed)
    except ValidationError as error:
        raise brief_problems(error, {"n": "--count"}) from None
    card = load_persona(args.persona or settings.persona, settings.personas_dir)
    folder = args.out / slugify(args.brief)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {args.out}: {folder} is a file, where the tiles' folder would go; move it or choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    designer = ProceduralDesigner(card.fashion, card.visual)
    started = time.perf_counter()
    for index, spec in enumerate(tqdm(designer.design(brief), desc="prints", unit="tile", file=sys.stderr), start=1):
        if spec.print.type == "solid":  # a print run is for patterns: a plain design gets the brief's ripple
            spec = spec.model_copy(update={"print": spec.print.model_copy(update={"type": "ripple"})})
        tile = make_tile(spec.print, spec.palette, spec.provenance.seed, args.size)
        save_png(tile, folder / f"{index:04d}-{spec.print.type}.png", spec, procedural_parameters(spec, f"{spec.print.type} print tile"))
    elapsed = time.perf_counter() - started
    print(json.dumps({"folder": str(folder), "tiles": args.count, "size": args.size, "seconds": round(elapsed, 2), "tiles_per_s": round(args.count / elapsed, 2)}, indent=2))
    return 0
