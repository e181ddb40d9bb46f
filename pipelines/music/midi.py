"""Standard MIDI File writer: a Score as a Type-1 file a DAW opens with tempo, key and sections.

Track 0 is the conductor (title, tempo, time and key signature, a marker at each section);
then one named track per part, on the part's channel, with its program. The format is small
enough to write by hand, which keeps every byte explainable:

    write_midi(score, Path("piece.mid"))
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pipelines.music.plan import Key
from pipelines.music.score import DRUM_CHANNEL, Note, Part, Score

TICKS_PER_BEAT = 480

# Meta event types (SMF 1.0).
TRACK_NAME = 0x03
MARKER = 0x06
END_OF_TRACK = 0x2F
TEMPO = 0x51
TIME_SIGNATURE = 0x58
KEY_SIGNATURE = 0x59

# Sharps (+) or flats (-) of a major key, by letter; a sharp adds 7, a flat takes 7 away.
LETTER_SHARPS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
# How far round the circle of fifths each mode's signature lies from its tonic's major key
# (D dorian has C major's signature: D major's 2 sharps, minus 2).
MODE_FIFTHS = {
    "major": 0, "pentatonic major": 0, "lydian": 1, "mixolydian": -1,
    "minor": -3, "harmonic minor": -3, "pentatonic minor": -3, "dorian": -2, "phrygian": -4,
}
MINOR_MODES = {"minor", "harmonic minor", "pentatonic minor", "dorian", "phrygian"}


def playable_notes(part: Part) -> list[Note]:
    """The part's notes, in time order, as every player will sound them.

    A note that still sounds when the same pitch starts again ends there: otherwise the
    earlier note-off would cut the later note short. Of two notes with the same pitch and
    start, only the longer is kept.
    """
    notes = sorted(part.notes, key=lambda note: (note.start, note.pitch, note.duration))
    next_start: dict[int, float] = {}
    playable = []
    for note in reversed(notes):
        end = min(note.start + note.duration, next_start.get(note.pitch, float("inf")))
        next_start[note.pitch] = note.start
        if end > note.start:
            playable.append(replace(note, duration=end - note.start))
    return playable[::-1]


def key_signature(key: Key) -> tuple[int, bool]:
    """(sharps, is_minor) for the key-signature meta event; negative sharps are flats.

    MIDI knows only major and minor, so a mode gets the signature of its relative major
    (Lydian, Mixolydian) or relative minor (Dorian, Phrygian).
    """
    sharps = LETTER_SHARPS[key.tonic[0]] + {"#": 7, "b": -7}.get(key.tonic[1:], 0) + MODE_FIFTHS[key.mode]
    # D# major would need 9 sharps: spell it as Eb's 3 flats instead.
    while sharps > 7:
        sharps -= 12
    while sharps < -7:
        sharps += 12
    return sharps, key.mode in MINOR_MODES


def write_midi(score: Score, path: Path) -> Path:
    """Write the score as a Type-1 Standard MIDI File at 480 ticks per quarter note."""
    path = Path(path)
    path.write_bytes(midi_bytes(score))
    return path


def midi_bytes(score: Score) -> bytes:
    """The Type-1 Standard MIDI File of the score: a conductor track, then a track a part."""
    check_channels(score.parts)
    end_tick = max([to_ticks(score.total_beats)] + [to_ticks(note.start + note.duration) for part in score.parts for note in part.notes])
    tracks = [conductor_track(score, end_tick)] + [part_track(part, end_tick) for part in score.parts]
    header = chunk(b"MThd", struct.pack(">HHH", 1, len(tracks), TICKS_PER_BEAT))
    return header + b"".join(chunk(b"MTrk", track) for track in tracks)


def check_channels(parts: list[Part]) -> None:
    seen: dict[int, str] = {}
    for part in parts:
        if not 0 <= part.channel <= 15:
            raise ValueError(f"part {part.name!r}: MIDI channel {part.channel} is not in 0..15")
        if part.channel in seen:
            raise ValueError(f"parts {seen[part.channel]!r} and {part.name!r} share MIDI channel {part.channel}; give each part its own")
        seen[part.channel] = part.name


def conductor_track(score: Score, end_tick: int) -> bytes:
    plan = score.plan
    sharps, minor = key_signature(plan.key)
    denominator = plan.time_signature.denominator
    events = [
        (0, meta(TRACK_NAME, text_bytes(plan.title))),
        (0, meta(TEMPO, round(60_000_000 / plan.bpm).to_bytes(3, "big"))),
        # One metronome click per denominator beat (24 MIDI clocks a quarter), 8 32nds a quarter.
        (0, meta(TIME_SIGNATURE, bytes([plan.time_signature.numerator, denominator.bit_length() - 1, 96 // denominator, 8]))),
        (0, meta(KEY_SIGNATURE, struct.pack(">bB", sharps, int(minor)))),
    ]
    events += [(to_ticks(section.start_beat), meta(MARKER, text_bytes(section.name))) for section in score.sections]
    return track_bytes(events, end_tick)


def part_track(part: Part, end_tick: int) -> bytes:
    channel = part.channel
    # Drums ignore the part's program: program 0 on the drum channel is the GM standard kit.
    program = 0 if channel == DRUM_CHANNEL else part.program
    notes = []  # (tick, is_on, message): sorting puts note-offs before note-ons at a tick
    for note in playable_notes(part):
        on, off = to_ticks(note.start), to_ticks(note.start + note.duration)
        if off > on:  # shorter than a tick (1 ms) is inaudible, and would hang if reordered
            notes.append((on, True, bytes([0x90 | channel, note.pitch, note.velocity])))
            notes.append((off, False, bytes([0x80 | channel, note.pitch, 64])))
    notes.sort(key=lambda event: event[:2])
    events = [(0, meta(TRACK_NAME, text_bytes(part.name))), (0, bytes([0xC0 | channel, program]))]
    return track_bytes(events + [(tick, message) for tick, _, message in notes], end_tick)


def track_bytes(events: list[tuple[int, bytes]], end_tick: int) -> bytes:
    """Events (absolute tick, message), already in order, as delta-timed track data."""
    data = bytearray()
    now = 0
    for tick, message in events + [(max(end_tick, events[-1][0]), meta(END_OF_TRACK, b""))]:
        data += variable_length(tick - now) + message
        now = tick
    return bytes(data)


def meta(kind: int, payload: bytes) -> bytes:
    return bytes([0xFF, kind]) + variable_length(len(payload)) + payload


def variable_length(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, most significant first, high bit = more."""
    if value < 0:
        raise ValueError(f"negative delta time {value}")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack(">I", len(data)) + data


def text_bytes(text: str) -> bytes:
    """Latin-1 where it fits (what MIDI readers assume), UTF-8 for other scripts."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def to_ticks(beats: float) -> int:
    return round(beats * TICKS_PER_BEAT)
