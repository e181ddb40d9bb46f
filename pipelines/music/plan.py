"""CompositionPlan: what a piece will be, decided before a note is written.

Producers need exact tempo, key, structure and parts, so a piece is planned first and
rendered second, on one tempo grid. A plan is plain data (JSON in and out, with a JSON
Schema from `plan_schema()`), so it can be edited by hand and rendered again:

    plan = CompositionPlan.from_data(json.loads(text), source="plan.json")  # PlanError names the field

Chords are Roman numerals relative to the key ("i", "bVII", "V7", "ivsus4"), one per bar,
repeated to fill the section, so the same plan works in any key. `bpm` always counts
quarter notes (in 6/8 or 12/8 the felt pulse is bpm / 1.5).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.style import MotifNote
from pipelines.validation import describe_validation_error

TONICS = ("C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B")
MODES = {  # semitones above the tonic
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "pentatonic major": (0, 2, 4, 7, 9),
    "pentatonic minor": (0, 3, 5, 7, 10),
}
ROLES = ("melody", "chords", "bass", "drums", "pad", "arpeggio", "counter")
CHORD = re.compile(r"^(?P<accidental>b|#)?(?P<degree>VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?P<quality>°|\+)?(?P<extension>maj7|7|sus2|sus4|add9|6)?$")
MAX_BARS = 400


class PlanError(ValueError):
    """An invalid plan; one line a problem, each naming the field."""


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Key(PlanModel):
    tonic: str = "C"
    mode: str = "major"

    @field_validator("tonic")
    @classmethod
    def _check_tonic(cls, value: str) -> str:
        value = value.strip()
        value = value[:1].upper() + value[1:]
        if value not in TONICS:
            raise ValueError(f"unknown tonic {value!r}; use one of {', '.join(TONICS)}")
        return value

    @field_validator("mode")
    @classmethod
    def _check_mode(cls, value: str) -> str:
        value = " ".join(value.lower().split())
        value = {"aeolian": "minor", "ionian": "major"}.get(value, value)
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; use one of {', '.join(MODES)}")
        return value

    @classmethod
    def parse(cls, text: str) -> Key:
        """'D dorian', 'F# minor', 'Eb' (major)."""
        tonic, _, mode = text.strip().partition(" ")
        return cls(tonic=tonic, mode=mode or "major")

    @property
    def pitch_class(self) -> int:
        names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
        return (names[self.tonic[0]] + {"#": 1, "b": -1}.get(self.tonic[1:], 0)) % 12

    @property
    def scale(self) -> tuple[int, ...]:
        """Pitch classes of the scale, tonic first."""
        return tuple((self.pitch_class + step) % 12 for step in MODES[self.mode])

    def __str__(self) -> str:
        return f"{self.tonic} {self.mode}"


class TimeSignature(PlanModel):
    numerator: int = Field(default=4, ge=1, le=15)
    denominator: Literal[2, 4, 8, 16] = 4

    @property
    def beats_per_bar(self) -> float:
        """In quarter notes, the unit of every time in a score."""
        return self.numerator * 4 / self.denominator


class Section(PlanModel):
    name: str = Field(min_length=1, max_length=40)
    bars: int = Field(ge=1, le=MAX_BARS)
    chords: list[str] = Field(min_length=1, max_length=32, description="Roman numerals, one per bar, repeated to fill the section")
    energy: float = Field(default=0.5, ge=0.0, le=1.0, description="0 sparse and quiet .. 1 every part, loud")
    loop: bool = Field(default=False, description="mark the section as a loop in the WAV files")

    @field_validator("chords")
    @classmethod
    def _check_chords(cls, value: list[str]) -> list[str]:
        for chord in value:
            if not CHORD.match(chord):
                raise ValueError(f"unknown chord {chord!r}; write Roman numerals such as 'i', 'IV', 'bVII', 'V7', 'iisus4'")
        return value

    @model_validator(mode="after")
    def _chords_fill_the_bars(self) -> Section:
        if self.bars % len(self.chords):
            raise ValueError(f"{self.bars} bars do not fit a progression of {len(self.chords)} chords: use a multiple of {len(self.chords)} bars")
        return self


class Instrument(PlanModel):
    name: str = Field(min_length=1, max_length=60)
    role: Literal[ROLES]
    program: int = Field(ge=0, le=127, description="General MIDI program (0 = acoustic grand piano); ignored for drums")


class CompositionPlan(PlanModel):
    title: str = Field(min_length=1, max_length=80)
    bpm: float = Field(ge=40, le=240)
    key: Key
    time_signature: TimeSignature = TimeSignature()
    sections: list[Section] = Field(min_length=1, max_length=32)
    instruments: list[Instrument] = Field(min_length=1, max_length=16)
    genre: str = ""
    mood: list[str] = []
    seed: int = Field(default=0, ge=0, lt=2**32)
    signature: list[MotifNote] = Field(default=[], description="the persona's motif; the melody develops it")
    persona: str = ""

    @model_validator(mode="after")
    def _check_whole(self) -> CompositionPlan:
        total = sum(section.bars for section in self.sections)
        if total > MAX_BARS:
            raise ValueError(f"the sections add up to {total} bars; at most {MAX_BARS}")
        if sum(1 for part in self.instruments if part.role == "drums") > 1:
            raise ValueError("one drums part at most (General MIDI has one drum channel)")
        if len([p for p in self.instruments if p.role != "drums"]) > 15:
            raise ValueError("at most 15 pitched parts (MIDI has 15 channels besides drums)")
        return self

    @classmethod
    def from_data(cls, data: Any, source: str = "plan") -> CompositionPlan:
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise PlanError(describe_validation_error(error, source)) from None

    @property
    def total_bars(self) -> int:
        return sum(section.bars for section in self.sections)

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def duration_s(self) -> float:
        return self.total_bars * self.time_signature.beats_per_bar * self.seconds_per_beat


def plan_schema() -> dict[str, Any]:
    return CompositionPlan.model_json_schema()
