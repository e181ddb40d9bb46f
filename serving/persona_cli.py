"""``atelier persona tune`` and ``atelier persona report``: her adapter and her voice.

    atelier persona tune haeun            train her LoRA adapter on the CPU from her card alone
    atelier persona report haeun          her voice fingerprint, compared with her example dialogue
"""

from __future__ import annotations

import argparse

from serving import persona_report_cli, persona_tune_cli


def add_commands(personas: argparse._SubParsersAction) -> None:
    """Adds `tune` and `report` to `atelier persona`."""
    persona_tune_cli.add_command(personas)
    persona_report_cli.add_command(personas)
