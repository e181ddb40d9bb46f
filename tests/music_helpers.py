"""Helpers for the music export tests: Scores written by hand on a known grid (so every
expected tick, sample and section offset can be worked out exactly) and a RIFF chunk reader
independent of the WAV writer under test."""

from __future__ import annotations

import struct
from pathlib import Path

from pipelines.music.plan import CompositionPlan
from pipelines.music.score import DRUM_CHANNEL, Note, Part, Score, SectionSpan

# A minor: i - VI - III - VII, one chord a bar (roots as MIDI notes in octave 3).
ROOTS = (57, 53, 48, 55)
CHORD_TONES = {57: (0, 3, 7), 53: (0, 4, 7), 48: (0, 4, 7), 55: (0, 4, 7)}
A_MINOR_SCALE = (69, 71, 72, 74, 76, 77, 79, 81)
SECTION_NAMES = ("intro", "verse", "chorus", "bridge", "outro")

PARTS = {  # role: (name, GM program)
    "melody": ("Lead Flute", 73),
    "chords": ("Piano", 0),
    "bass": ("Finger Bass", 33),
    "pad": ("Warm Pad", 89),
    "drums": ("Drums", 0),
}
KICK, SNARE, CLOSED_HAT = 36, 38, 42


def handmade_plan(
    bars: tuple[int, ...] = (2, 4, 2), bpm: float = 120.0, title: str = "Test Piece",
    roles: tuple[str, ...] = ("melody", "chords", "bass", "drums"), key: str = "A minor",
    time_signature: tuple[int, int] = (4, 4), loops: tuple[bool, ...] | None = None,
) -> CompositionPlan:
    """Sections named intro, verse, chorus, ...; by default the second one loops."""
    loops = loops or tuple(index == 1 for index in range(len(bars)))
    tonic, mode = key.split(" ", 1)
    return CompositionPlan.from_data({
        "title": title,
        "bpm": bpm,
        "key": {"tonic": tonic, "mode": mode},
        "time_signature": {"numerator": time_signature[0], "denominator": time_signature[1]},
        "sections": [
            {"name": SECTION_NAMES[index % 5] + (str(index) if index >= 5 else ""), "bars": count, "chords": ["i"], "loop": loop}
            for index, (count, loop) in enumerate(zip(bars, loops))
        ],
        "instruments": [{"name": PARTS[role][0], "role": role, "program": PARTS[role][1]} for role in roles],
        "seed": 3,
    })


def handmade_score(**plan_options) -> Score:
    """A 3-part score with drums by default: melody in eighths, chords in halves, bass in quarters, a rock beat."""
    plan = handmade_plan(**plan_options)
    beats_per_bar = plan.time_signature.beats_per_bar
    parts, channel = [], 0
    for instrument in plan.instruments:
        if instrument.role == "drums":
            part_channel = DRUM_CHANNEL
        else:
            part_channel = channel
            channel += 2 if channel + 1 == DRUM_CHANNEL else 1
        notes = list(notes_for(instrument.role, plan.total_bars, beats_per_bar))
        parts.append(Part(instrument.name, instrument.role, instrument.program, part_channel, notes))
    sections, start = [], 0.0
    for section in plan.sections:
        end = start + section.bars * beats_per_bar
        sections.append(SectionSpan(section.name, start, end, section.loop))
        start = end
    return Score(plan, parts, sections)


def notes_for(role: str, bars: int, beats_per_bar: float):
    beats = int(beats_per_bar)
    for bar in range(bars):
        root = ROOTS[bar % len(ROOTS)]
        bar_start = bar * beats_per_bar
        if role == "melody":
            for step in range(2 * beats):
                yield Note(bar_start + step * 0.5, 0.45, A_MINOR_SCALE[(bar + step * 3) % 8], 90 + step % 3 * 10)
        elif role == "chords":
            for offset in range(0, beats, 2):
                for interval in CHORD_TONES[root]:
                    yield Note(bar_start + offset, min(1.9, beats - offset - 0.1), root + 12 + interval, 70)
        elif role == "pad":
            for interval in CHORD_TONES[root]:
                yield Note(bar_start, beats_per_bar, root + interval, 55)
        elif role == "bass":
            for beat in range(beats):
                yield Note(bar_start + beat, 0.9, root - 12, 100)
        elif role == "drums":
            for step in range(2 * beats):
                yield Note(bar_start + step * 0.5, 0.25, CLOSED_HAT, 70)
            for beat in range(beats):
                yield Note(bar_start + beat, 0.25, KICK if beat % 2 == 0 else SNARE, 110 if beat % 2 == 0 else 100)


def riff_chunks(path: Path) -> dict[bytes, bytes]:
    """{chunk id: body} of a RIFF/WAVE file, walked by hand (ids, sizes, even padding)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "not a RIFF/WAVE file"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "RIFF size does not match the file"
    chunks, offset = {}, 12
    while offset < len(data):
        kind, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        chunks[kind] = data[offset + 8 : offset + 8 + size]
        offset += 8 + size + size % 2
    assert offset == len(data), "chunks do not end at the end of the file"
    return chunks


def smpl_loops(path: Path) -> list[tuple[int, int, int, int]]:
    """(cue id, type, start, end) of each loop in the file's 'smpl' chunk (end is the last frame played)."""
    body = riff_chunks(path)[b"smpl"]
    count = struct.unpack("<I", body[28:32])[0]
    assert len(body) == 36 + 24 * count
    return [struct.unpack("<IIII", body[36 + 24 * index : 36 + 24 * index + 16]) for index in range(count)]
