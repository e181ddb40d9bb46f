"""``atelier compose``: the music pipeline from the command line.

    atelier compose "rainy Seoul night, hopeful" --minutes 3 --out DIR    brief -> plan -> notes -> bundle
    atelier compose "rainy Seoul night" --plan-only > plan.json           the plan alone, to edit
    atelier compose --plan plan.json --out DIR                            render an edited plan (or a manifest.json)

The bundle (Type-1 MIDI, stems, master, piano roll, manifest, zip) lands in DIR/<title>/;
stdout gets a JSON summary (bundle, BPM, key, duration, her signature report) and stderr the
progress, plus a warning for each way the piece strays from her signature.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from tqdm import tqdm

from persona.card import load_persona
from persona.engine.settings import Settings
from serving.cli_checks import CommandError, UsageError, brief_problems, check_brief, check_output_folder, persona_id_argument

if TYPE_CHECKING:
    from pipelines.music.bundle import Bundle

BRIEF_OPTIONS = ("minutes", "bpm", "key", "genre", "meter")  # MusicBrief fields a flag of the same name sets


def add_commands(commands: argparse._SubParsersAction) -> None:
    compose = commands.add_parser(
        "compose", help="compose a piece from a brief, or render an edited plan, as a DAW-ready bundle",
        description="Plan a piece from a brief and the persona's music DNA (or read an edited plan), compose it and export "
                    "a bundle: Type-1 MIDI, 48 kHz 24-bit stems, a master at -14 LUFS, a piano roll and a manifest, "
                    "as a folder and a zip. Prints a summary and how close the piece is to her signature.")
    compose.add_argument("brief", nargs="?", help='the brief, e.g. "rainy Seoul night, hopeful"')
    compose.add_argument("--plan", type=Path, help="render this plan instead of planning from a brief: a plan JSON "
                                                   "(from --plan-only, edited) or a bundle's manifest.json")
    compose.add_argument("--plan-only", action="store_true", help="print the plan as JSON and stop: nothing is composed or written")
    compose.add_argument("--out", type=Path, help="folder to write the bundle into (required unless --plan-only)")
    compose.add_argument("--minutes", type=float, help="how long the piece should be (default: 3)")
    compose.add_argument("--bpm", type=float, help="a fixed tempo in quarter notes a minute (default: from the brief and her DNA)")
    compose.add_argument("--key", help="a fixed key, e.g. 'D dorian', 'F# minor', 'Eb' (default: from the brief and her DNA)")
    compose.add_argument("--genre", help="a fixed genre, e.g. 'city pop' (default: one of hers)")
    compose.add_argument("--meter", help="a fixed time signature, e.g. '3/4', '6/8'")
    compose.add_argument("--seed", type=int, help="same brief and seed, same piece (default: 0); with --plan, replaces the plan's seed")
    compose.add_argument("--persona", type=persona_id_argument, help="persona id (default: the configured persona)")
    compose.add_argument("--llm", action="store_true", help="plan with the configured dialogue model (one that supports JSON schema, e.g. vLLM)")
    compose.add_argument("--soundfont", type=Path, help="General MIDI .sf2 to render the stems with (default: music.soundfont, else the system's)")
    compose.add_argument("--commercial", action="store_true", help="refuse to export anything under a non-commercial licence")
    compose.add_argument("--overwrite", action="store_true", help="replace a bundle of the same name in --out")
    compose.set_defaults(run=run_compose)


def fail(message: str) -> CommandError:
    """A problem other than a wrong argument: the plan, the bundle, a licence, a model (exit status 1)."""
    return CommandError(message)


def run_compose(args: argparse.Namespace, settings: Settings) -> int:
    check_arguments(args)
    check_models(args, settings)
    from pipelines.music.bundle import BundleExistsError, LicenceError, export_bundle, slugify
    from pipelines.music.composer import compose
    from pipelines.music.plan import PlanError
    from pipelines.music.signature import SignatureCatalogue

    card = load_persona(args.persona or settings.persona, settings.personas_dir)
    if args.plan_only:
        print(json.dumps(planned(args, card, settings).model_dump(mode="json"), indent=2, ensure_ascii=False))
        return 0
    soundfont = chosen_soundfont(args, settings)  # a missing soundfont or a bad plan fails before anything is written
    started = time.perf_counter()
    plan = read_plan(args.plan, args.seed) if args.plan else planned(args, card, settings)

    with tqdm(total=100, unit="%", desc="composing", file=sys.stderr) as bar:
        def advance(stage: str, percent: float) -> None:
            bar.set_postfix_str(stage[:40])
            bar.update(round(percent) - bar.n)

        advance("compose", 0)
        try:
            score = compose(plan)
        except PlanError as error:
            raise fail(f"{args.plan or 'the plan'}: {error}") from None
        advance("signature", 4)
        catalogue = SignatureCatalogue.from_dna(card.music, persona=card.name)
        # Her earlier bundles join the catalogue; one this export would replace does not.
        earlier = catalogue.add_bundles(args.out, exclude=[args.out / slugify(plan.title)]) if args.out.is_dir() else []
        report = catalogue.report(score)
        musicgen = musicgen_stems(score, settings, card.music, args.brief, args.commercial)
        advance("export", 10)
        try:
            bundle = export_bundle(
                score, args.out, soundfont=soundfont, musicgen=musicgen, commercial=args.commercial, overwrite=args.overwrite,
                progress=lambda stage, fraction: advance(stage, 10 + 90 * fraction),
            )
        except (BundleExistsError, LicenceError) as error:
            raise fail(str(error)) from None

    if earlier:
        print(f"her catalogue: {len(catalogue.pieces) - len(earlier)} reference pieces from her DNA and "
              f"{len(earlier)} earlier bundle{'' if len(earlier) == 1 else 's'} in {args.out}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    for warning in report.drift:
        print(f"warning: off her signature: {warning}", file=sys.stderr)
    print(json.dumps(summary(bundle, plan, report, time.perf_counter() - started), indent=2, ensure_ascii=False))
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """The arguments fit together (UsageError otherwise), before anything is imported or read."""
    example = 'atelier compose "rainy Seoul night, hopeful" --out DIR'
    if args.plan and args.brief:
        raise UsageError("give a brief or --plan, not both")
    if not args.plan and args.brief is None:
        raise UsageError(f"give a brief (e.g. {example}) or --plan FILE")
    if args.brief is not None:
        check_brief(args.brief, example)
    if args.plan:
        given = [f"--{name}" for name in (*BRIEF_OPTIONS, "llm") if getattr(args, name) not in (None, False)]
        if given:
            raise UsageError(f"{', '.join(given)} shape a plan from a brief; with --plan, edit the plan instead")
        if args.plan_only:
            raise UsageError("--plan-only prints the plan made from a brief; with --plan you already have it")
    if args.out is None and not args.plan_only:
        raise UsageError("--out is required: the folder to write the bundle into")
    if args.out is not None:
        check_output_folder(args.out)
    if args.soundfont is not None and not args.soundfont.expanduser().is_file():
        raise UsageError(f"--soundfont: {args.soundfont} is not a file; give a General MIDI .sf2 (e.g. /usr/share/sounds/sf2/TimGM6mb.sf2)")


def check_models(args: argparse.Namespace, settings: Settings) -> None:
    """Before composing: a commercial export refuses non-commercial MusicGen weights, and every
    model folder this run would load exists."""
    config = settings.music.musicgen
    if config is not None and args.commercial and not args.plan_only:
        from pipelines.music.bundle import LicenceError

        try:
            config.refuse_commercial_use()
        except LicenceError as error:
            raise fail(f"{error} (or unset music.musicgen)") from None
    settings.check_model_folders(dialogue=args.llm, musicgen=not args.plan_only)


def chosen_soundfont(args: argparse.Namespace, settings: Settings) -> Path | None:
    """--soundfont, else music.soundfont; either must exist (else the system's soundfont or the built-in synth)."""
    for soundfont, name in ((args.soundfont, "--soundfont"), (settings.music.soundfont, "music.soundfont")):
        if soundfont is not None:
            if not Path(soundfont).expanduser().is_file():
                raise fail(f"{name}: {soundfont} is not a file; give a General MIDI .sf2 (e.g. /usr/share/sounds/sf2/TimGM6mb.sf2)")
            return Path(soundfont).expanduser()
    return None


def brief_of(args: argparse.Namespace):
    from pipelines.music.planner import MusicBrief

    fields: dict[str, Any] = {name: getattr(args, name) for name in BRIEF_OPTIONS if getattr(args, name) is not None}
    try:
        return MusicBrief(text=args.brief, seed=0 if args.seed is None else args.seed, **fields)
    except ValidationError as error:
        raise brief_problems(error, {}) from None


def planned(args: argparse.Namespace, card, settings: Settings):
    from pipelines.music.planner import ProceduralPlanner

    brief = brief_of(args)
    if args.llm:
        return asyncio.run(drafted(brief, card, settings))
    return ProceduralPlanner(card.music, persona=card.name).plan(brief)


async def drafted(brief, card, settings: Settings):
    from pipelines.dialogue import create_backend
    from pipelines.music.llm_planner import plan_piece

    backend = create_backend(settings.dialogue, settings.cache_path, log=lambda line: print(line, file=sys.stderr))
    try:
        if not backend.supports_json_schema:
            print(f"the {backend.name} backend cannot answer under a JSON schema: planning procedurally", file=sys.stderr)
        return await plan_piece(brief, card.music, backend, persona=card.name)
    finally:
        await backend.aclose()


def read_plan(path: Path, seed: int | None):
    """A plan JSON, or the plan inside a bundle's manifest.json; PlanError names the field."""
    from pipelines.music.plan import CompositionPlan, PlanError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"--plan {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"--plan {path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise fail(f"--plan {path}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    if isinstance(data, dict) and str(data.get("format", "")).startswith("atelier-music-bundle/") and "plan" in data:
        data = data["plan"]  # a bundle's manifest: render its plan again
    if seed is not None and isinstance(data, dict):
        data = {**data, "seed": seed}
    try:
        return CompositionPlan.from_data(data, source=str(path))
    except PlanError as error:
        raise fail(str(error).replace("\n", "\n       ")) from None


def musicgen_stems(score, settings: Settings, music, brief: str | None, commercial: bool) -> list:
    """MusicGen's stem (melody-conditioned on `score`, as long as the piece) when music.musicgen
    is configured; none otherwise. A commercial export with non-commercial weights is refused
    before the model is loaded."""
    from pipelines.music.bundle import LicenceError
    from pipelines.music.musicgen import MusicgenError, musicgen_prompt

    config = settings.music.musicgen
    if config is None:
        return []
    if commercial:
        try:
            config.refuse_commercial_use()
        except LicenceError as error:
            raise fail(f"{error} (or unset music.musicgen)") from None
    try:
        renderer = config.load()
        with tqdm(desc="MusicGen", unit="window", file=sys.stderr) as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return [renderer.render(score, musicgen_prompt(music, brief, score.plan), progress=advance)]
    except MusicgenError as error:
        raise fail(str(error)) from None


def summary(bundle: Bundle, plan, report, seconds: float) -> dict:
    manifest = bundle.manifest
    return {
        "bundle": str(bundle.folder),
        "zip": str(bundle.archive),
        "title": plan.title,
        "bpm": plan.bpm,
        "key": str(plan.key),
        "time_signature": manifest["time_signature"],
        "duration_s": round(plan.duration_s, 2),
        "bars": plan.total_bars,
        "sections": [section["name"] for section in manifest["sections"]],
        "parts": [entry["part"] for entry in bundle.stems],
        "renderer": manifest["renderer"]["name"],
        "loudness_lufs": manifest["loudness"]["integrated_lufs"],
        "true_peak_dbtp": manifest["loudness"]["true_peak_dbtp"],
        "commercial_use": manifest["commercial_use"],
        "seconds": round(seconds, 2),
        "signature": report.model_dump(mode="json"),
    }
