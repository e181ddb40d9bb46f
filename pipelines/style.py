"""The persona's style profile: the one place these types are defined.

The persona card holds them; the fashion and music pipelines take them as inputs.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
NOTE_NAME = re.compile(r"^(?P<letter>[A-Ga-g])(?P<accidental>#|b)?(?P<octave>-?\d)$")
SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


class StyleModel(BaseModel):
    """Strict base: an unknown key in a persona file is a typo, not data to drop."""

    model_config = ConfigDict(extra="forbid")


class NamedColor(StyleModel):
    name: str = Field(min_length=1)
    hex: str

    @field_validator("hex")
    @classmethod
    def _check_hex(cls, value: str) -> str:
        if not HEX_COLOR.match(value):
            raise ValueError(f"expected a colour like '#A1B2C3', got {value!r}")
        return value.upper()


class LoraRef(StyleModel):
    """A LoRA adapter in a local folder or file that carries the persona's look."""

    path: str = Field(min_length=1)
    weight: float = Field(default=0.8, ge=0.0, le=2.0)
    trigger: str = ""


class VisualIdentity(StyleModel):
    palette: list[NamedColor] = Field(min_length=1)
    aesthetic: list[str] = []
    motifs: list[str] = []
    negative_prompt: str = ""
    reference_images: list[str] = []
    lora: LoraRef | None = None


class FashionDNA(StyleModel):
    silhouettes: list[str] = []
    fabrics: list[str] = []
    signature_details: list[str] = []


class MotifNote(StyleModel):
    """One note of the signature motif: a pitch name such as 'E4' or 'Bb3' (or 'rest')."""

    pitch: str
    beats: float = Field(gt=0, le=16)

    @field_validator("pitch")
    @classmethod
    def _check_pitch(cls, value: str) -> str:
        if value != "rest" and not NOTE_NAME.match(value):
            raise ValueError(f"expected a note like 'E4', 'F#3' or 'rest', got {value!r}")
        return value

    @property
    def midi(self) -> int | None:
        """MIDI note number (C4 = 60), or None for a rest."""
        match = NOTE_NAME.match(self.pitch)
        if match is None:
            return None
        offset = {"#": 1, "b": -1}.get(match["accidental"] or "", 0)
        return 12 * (int(match["octave"]) + 1) + SEMITONES[match["letter"].upper()] + offset


class MusicDNA(StyleModel):
    genres: list[str] = []
    tempo_range: tuple[int, int] = (80, 120)
    keys: list[str] = Field(default=[], description="keys and modes, e.g. 'A minor', 'D dorian'")
    instruments: list[str] = []
    signature_motif: list[MotifNote] = []

    @model_validator(mode="after")
    def _check_tempo(self) -> MusicDNA:
        low, high = self.tempo_range
        if not 20 <= low <= high <= 300:
            raise ValueError(f"tempo_range must be two BPM values with 20 <= low <= high <= 300, got {list(self.tempo_range)}")
        return self
