"""Her persona adapter: a LoRA trained on her card alone, so a small model answers as her.

An adapter is a peft LoRA folder (``adapter_config.json``, ``adapter_model.safetensors``) plus
``atelier-adapter.json``: the card fingerprint it was trained from, the base model, the seed
and what training measured. It is keyed by the fingerprint of the parts of her card that the
training data reads (name, identity, canon, voice, safety): editing her palette keeps it, editing
her canon makes it stale, and a stale adapter is not loaded (it would teach the old canon).

Where one is looked for, first found wins:
- ``<cache_dir>/adapters/<persona id>/<fingerprint>/``: what ``atelier persona tune`` writes;
- ``<personas_dir>/adapters/<persona id>/``: the adapter shipped beside her card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from persona.card import PersonaCard

METADATA = "atelier-adapter.json"
TRAINED_FROM = ("id", "name", "identity", "canon", "voice", "safety")  # what the training data is built from


def card_fingerprint(card: PersonaCard) -> str:
    """16 hex digits that change whenever anything the adapter learned from changes."""
    data = card.model_dump(mode="json", include=set(TRAINED_FROM))
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def tuned_adapter_dir(cache_dir: Path, card: PersonaCard) -> Path:
    """Where `atelier persona tune` writes her adapter for the card as it is now."""
    return Path(cache_dir).expanduser() / "adapters" / card.id / card_fingerprint(card)


def shipped_adapter_dir(personas_dir: Path, persona_id: str) -> Path:
    return Path(personas_dir) / "adapters" / persona_id


def read_metadata(folder: Path) -> dict:
    return json.loads((Path(folder) / METADATA).read_text())


@dataclass(frozen=True)
class AdapterState:
    """What is known about her adapter: `path` is set only when it can be used."""

    path: Path | None
    status: str  # "fresh", "stale" or "missing"; the runtime adds "other-model" (trained on another base model) and "off" (dialogue.adapter: none)
    message: str  # one line for start-up and `atelier doctor`

    @property
    def usable(self) -> bool:
        return self.path is not None


def find_adapter(card: PersonaCard, cache_dir: Path, personas_dir: Path) -> AdapterState:
    fingerprint = card_fingerprint(card)
    tuned = tuned_adapter_dir(cache_dir, card)
    shipped = shipped_adapter_dir(personas_dir, card.id)
    for folder in (tuned, shipped):
        if (folder / METADATA).is_file() and read_metadata(folder).get("card_fingerprint") == fingerprint:
            return AdapterState(folder, "fresh", f"persona adapter for {card.id}: {folder}")
    older = [folder for folder in (shipped, *sorted((tuned.parent).glob("*"))) if (folder / METADATA).is_file()]
    if older:
        return AdapterState(None, "stale", f"the persona adapter for {card.id} is stale: her card changed since {older[0]} was trained; "
                                           f"replying without it (run `atelier persona tune {card.id}` to rebuild it)")
    return AdapterState(None, "missing", f"no persona adapter for {card.id} (run `atelier persona tune {card.id}` to train one)")
