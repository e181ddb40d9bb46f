"""Studio work to publish, as the studio's tabs save it in its library, made cheaply: a look, a
collection of two looks, a print run, and a composition with a short sine master."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from music_helpers import handmade_plan

from persona.engine.library import Artifact, Library
from pipelines.fashion.spec import DesignSpec


def spec(name: str, category: str, colours: list[tuple[str, str, float]], **fields) -> DesignSpec:
    return DesignSpec.model_validate({"name": name, "category": category, "palette": [{"name": n, "hex": h, "share": s} for n, h, s in colours], **fields})


MOON = spec("Moon Tide", "dress", [("ink blue", "#1f2a44", 0.6), ("pearl", "#efe9dc", 0.4)], silhouette="a-line", fabric={"type": "silk", "finish": "sheen"})
HARBOUR = spec("Harbour Coat", "coat", [("camel", "#b08a5a", 0.7), ("ink blue", "#1f2a44", 0.3)], fabric={"type": "wool"})


def png(path, colour=(200, 120, 90)):
    from PIL import Image

    Image.new("RGB", (64, 64), colour).save(path)
    return path


def studio_work(library: Library, files: Path) -> dict[str, Artifact]:
    """One library artifact of every publishable kind, and a chat transcript (not publishable)."""
    files.mkdir(parents=True, exist_ok=True)
    look = library.add("look", "Moon Tide: look", {"spec": MOON.model_dump(mode="json"), "seed": 3}, [png(files / "moon tide look.png")])
    board = png(files / "board.png")
    (files / "collection.json").write_text("{}")
    collection = library.add("collection", "Tidal Hours", {"name": "Tidal Hours", "brief": "the sea at dusk",
                                                           "looks_specs": [MOON.model_dump(mode="json"), HARBOUR.model_dump(mode="json")]},
                             [board, files / "collection.json"])
    prints = library.add("print", "2 prints: magnolias at dusk", {"brief": "magnolias at dusk", "count": 2, "size": 64, "seed": 1},
                         [png(files / "print-1.png"), png(files / "print-2.png", (90, 60, 120))])
    plan = handmade_plan(title="Violet Hour", bpm=84, key="D minor")
    wav = files / "master.wav"
    soundfile.write(wav, 0.1 * np.sin(np.linspace(0, 440 * 2 * np.pi, 44100 * 2)).repeat(2).reshape(-1, 2), 44100, subtype="PCM_16")
    (files / "bundle.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (files / "song.mid").write_bytes(b"MThd")
    composition = library.add("composition", "Violet Hour", {"plan": plan.model_dump(mode="json"), "brief": "a slow song at dusk"},
                              [files / "bundle.zip", wav, files / "song.mid", png(files / "roll.png")])
    transcript = files / "chat.json"
    transcript.write_text("[]")
    chat = library.add("chat", "Chat with minji", {"fan_id": "minji"}, [transcript])
    return {"look": look, "collection": collection, "print": prints, "composition": composition, "chat": chat}
