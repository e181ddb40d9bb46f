"""``atelier persona tune ID``: train her LoRA adapter on the CPU from her card alone.

    atelier persona tune haeun                          into the cache, where the chat looks first
    atelier persona tune haeun --steps 80 --seed 1      shorter, another seed
    atelier persona tune haeun --output DIR             into DIR (e.g. configs/personas/adapters/haeun to ship it)

A progress bar with the time left goes to stderr; the adapter's folder goes to stdout. Ctrl-C
cancels: nothing is written, and the adapter that was there (if any) stays.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from persona.card import load_persona
from persona.engine.settings import Settings
from serving.cli_checks import CommandError, UsageError, check_output_folder, persona_id_argument

MAX_STEPS = 100_000


def add_command(personas: argparse._SubParsersAction) -> None:
    tune = personas.add_parser(
        "tune", help="train her persona adapter (LoRA) on the CPU from her card",
        description="Train a LoRA adapter for the persona on the embedded dialogue model, on the CPU, from her card alone "
                    "(her canon, voice, greetings and safety lines). The chat loads it while her card stays as it was trained.")
    tune.add_argument("persona", type=persona_id_argument, help="persona id")
    tune.add_argument("--steps", type=int, help="optimiser steps (default: 180, about 8 minutes on two cores)")
    tune.add_argument("--seed", type=int, help="same card, base model, seed and steps give the same adapter (default: 0)")
    tune.add_argument("--output", type=Path, help="folder to write the adapter into (default: the cache, where the chat looks first)")
    tune.set_defaults(run=run_persona_tune)


def check_arguments(args: argparse.Namespace) -> None:
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise UsageError(f"--steps must be between 1 and {MAX_STEPS}, got {args.steps}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be between 0 and {2**32 - 1}, got {args.seed}")
    if args.output is not None:
        check_output_folder(args.output, "--output")


def run_persona_tune(args: argparse.Namespace, settings: Settings) -> int:
    check_arguments(args)
    card = load_persona(args.persona, settings.personas_dir)
    from persona.adapter.train import TuneCancelled, TuneConfig, tune_persona
    from pipelines.dialogue import prepare_embedded_model

    if settings.dialogue.model_dir is not None:  # the base the local backend loads (docs/adapter.md: a larger one on a GPU)
        settings.check_model_folders(dialogue=True)
        model_dir = settings.dialogue.model_dir
    else:
        model_dir = prepare_embedded_model(settings.cache_path)
    defaults = TuneConfig()
    config = TuneConfig(steps=args.steps or defaults.steps, seed=defaults.seed if args.seed is None else args.seed,
                        context_tokens=settings.dialogue.context_tokens)
    cancel = threading.Event()
    print(f"Training {card.name}'s adapter: {config.steps} steps on {config.threads} CPU threads (Ctrl-C cancels).", file=sys.stderr)
    started = time.perf_counter()
    with tqdm(total=config.steps, unit="step", desc="tuning", file=sys.stderr, dynamic_ncols=True) as bar:
        def advance(step: int, steps: int, loss: float) -> None:
            bar.set_postfix_str(f"loss {loss:.3f}")
            bar.update(step - bar.n)

        try:
            result = tune_persona(card, model_dir, settings.cache_path, config, output_dir=args.output, progress=advance, cancel=cancel)
        except (KeyboardInterrupt, TuneCancelled):
            cancel.set()
            bar.close()
            raise CommandError(f"cancelled after {time.perf_counter() - started:.0f} s; nothing was written "
                               f"(an adapter trained before stays where it was)") from None
    metadata = result.metadata
    size_mb = (result.folder / "adapter_model.safetensors").stat().st_size / 1e6
    print(f"Trained in {metadata['train_seconds'] / 60:.1f} min on {metadata['examples']} conversations "
          f"(final loss {metadata['final_loss']}, {size_mb:.1f} MB).", file=sys.stderr)
    print(result.folder)
    return 0
