"""``atelier persona tune ID``: train her LoRA adapter on the CPU from her card alone."""

from __future__ import annotations

import argparse

from serving.cli_checks import persona_id_argument
from serving.settings import Settings


def add_command(personas: argparse._SubParsersAction) -> None:
    tune = personas.add_parser("tune", help="train her persona adapter (LoRA) on the CPU from her card")
    tune.add_argument("persona", type=persona_id_argument, help="persona id")
    tune.set_defaults(run=run_persona_tune)


def run_persona_tune(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError("atelier persona tune")
