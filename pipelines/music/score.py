"""Score: the composed notes of a plan, on one tempo grid.

Every time is in quarter-note beats from the start of the piece; seconds are
`beats * plan.seconds_per_beat`. The composer writes a Score; the MIDI writer, the stem
renderers and the metrics read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.music.plan import CompositionPlan

DRUM_CHANNEL = 9  # General MIDI: channel 10, counted from 0


@dataclass(frozen=True)
class Note:
    start: float  # beats from the start of the piece
    duration: float  # beats
    pitch: int  # MIDI note number (C4 = 60); for drums, the General MIDI drum sound
    velocity: int  # 1..127

    def __post_init__(self) -> None:
        if not (0 <= self.pitch <= 127 and 1 <= self.velocity <= 127 and self.duration > 0 and self.start >= 0):
            raise ValueError(f"not a playable note: {self}")


@dataclass
class Part:
    name: str
    role: str
    program: int
    channel: int
    notes: list[Note] = field(default_factory=list)

    @property
    def is_drums(self) -> bool:
        return self.channel == DRUM_CHANNEL


@dataclass(frozen=True)
class SectionSpan:
    name: str
    start_beat: float
    end_beat: float
    loop: bool


@dataclass
class Score:
    plan: CompositionPlan
    parts: list[Part]
    sections: list[SectionSpan]

    @property
    def total_beats(self) -> float:
        return self.plan.total_bars * self.plan.time_signature.beats_per_bar

    def seconds(self, beats: float) -> float:
        return beats * self.plan.seconds_per_beat

    @property
    def melody(self) -> Part | None:
        return next((part for part in self.parts if part.role == "melody"), None)
