"""``atelier persona tune`` and ``atelier persona report``: her adapter and her voice.

    atelier persona tune haeun            train her LoRA adapter on the CPU from her card alone
    atelier persona report haeun          her voice fingerprint, compared with her example dialogue
"""

from __future__ import annotations

import argparse

from serving.cli_checks import persona_id_argument
from serving.settings import Settings


def add_commands(personas: argparse._SubParsersAction) -> None:
    """Adds `tune` and `report` to `atelier persona`."""
    tune = personas.add_parser("tune", help="train her persona adapter (LoRA) on the CPU from her card")
    tune.add_argument("persona", type=persona_id_argument, help="persona id")
    tune.set_defaults(run=run_persona_tune)
    report = personas.add_parser("report", help="her voice fingerprint, compared with her example dialogue")
    report.add_argument("persona", type=persona_id_argument, help="persona id")
    report.set_defaults(run=run_persona_report)


def run_persona_tune(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError("atelier persona tune")


def run_persona_report(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError("atelier persona report")
