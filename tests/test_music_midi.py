"""The MIDI writer: files that two independent parsers (mido, pretty_midi) read back as the
score — type 1, a conductor track, one named track a part, tempo, meter, key, section
markers, programs, drums on channel 10, and every note to the tick."""

from __future__ import annotations

from collections import defaultdict

import mido
import numpy as np
import pretty_midi
import pytest
from music_helpers import handmade_score

from pipelines.music.midi import TICKS_PER_BEAT, key_signature, variable_length, write_midi
from pipelines.music.plan import Key
from pipelines.music.score import DRUM_CHANNEL, Note, Part


@pytest.fixture(scope="module")
def score():
    return handmade_score(bars=(2, 4, 2), bpm=97.3, title="Night Walk")


@pytest.fixture(scope="module")
def midi_path(score, tmp_path_factory):
    return write_midi(score, tmp_path_factory.mktemp("midi") / "night-walk.mid")


def meta_events(track: mido.MidiTrack) -> list[tuple[int, mido.MetaMessage]]:
    tick, events = 0, []
    for message in track:
        tick += message.time
        if message.is_meta:
            events.append((tick, message))
    return events


def test_conductor_track_has_title_tempo_meter_key_and_section_markers(score, midi_path):
    midi = mido.MidiFile(midi_path)
    assert midi.type == 1 and midi.ticks_per_beat == TICKS_PER_BEAT
    assert len(midi.tracks) == len(score.parts) + 1
    conductor = {message.type: message for _, message in meta_events(midi.tracks[0])}
    assert conductor["track_name"].name == "Night Walk"
    assert mido.tempo2bpm(conductor["set_tempo"].tempo) == pytest.approx(97.3, abs=0.01)
    assert (conductor["time_signature"].numerator, conductor["time_signature"].denominator) == (4, 4)
    assert conductor["key_signature"].key == "Am"
    markers = [(tick, message.text) for tick, message in meta_events(midi.tracks[0]) if message.type == "marker"]
    assert markers == [(round(span.start_beat * TICKS_PER_BEAT), span.name) for span in score.sections]
    assert markers == [(0, "intro"), (8 * TICKS_PER_BEAT, "verse"), (24 * TICKS_PER_BEAT, "chorus")]


def test_pretty_midi_reads_tempo_meter_key_names_programs_and_drums(score, midi_path):
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    _, tempi = midi.get_tempo_changes()
    assert list(tempi) == [pytest.approx(97.3, abs=0.01)]
    assert [(sig.numerator, sig.denominator, sig.time) for sig in midi.time_signature_changes] == [(4, 4, 0.0)]
    assert [pretty_midi.key_number_to_key_name(key.key_number) for key in midi.key_signature_changes] == ["A minor"]
    assert [(i.name, i.program, i.is_drum) for i in midi.instruments] == [
        ("Lead Flute", 73, False), ("Piano", 0, False), ("Finger Bass", 33, False), ("Drums", 0, True),
    ]
    assert [len(instrument.notes) for instrument in midi.instruments] == [len(part.notes) for part in score.parts]
    seconds_per_beat = round(60_000_000 / 97.3) / 1e6  # MIDI stores whole microseconds a beat
    for instrument, part in zip(midi.instruments, score.parts):
        expected = sorted((n.start * seconds_per_beat, (n.start + n.duration) * seconds_per_beat, n.pitch, n.velocity) for n in part.notes)
        got = sorted((n.start, n.end, n.pitch, n.velocity) for n in instrument.notes)
        assert np.allclose(got, expected, rtol=0, atol=1e-6)


def test_every_note_is_on_its_channel_to_the_tick(score, midi_path):
    midi = mido.MidiFile(midi_path)
    for track, part in zip(midi.tracks[1:], score.parts):
        names = [message.name for _, message in meta_events(track) if message.type == "track_name"]
        assert names == [part.name]
        tick, sounding, notes, channels, programs = 0, {}, [], set(), []
        for message in track:
            tick += message.time
            if message.type == "program_change":
                programs.append(message.program)
            if message.type in ("note_on", "note_off"):
                channels.add(message.channel)
                if message.type == "note_on" and message.velocity > 0:
                    sounding[message.note] = (tick, message.velocity)
                else:
                    start, velocity = sounding.pop(message.note)
                    notes.append((start, tick, message.note, velocity))
        assert channels == {part.channel}
        assert programs == [0 if part.is_drums else part.program]
        expected = [(round(n.start * 480), round((n.start + n.duration) * 480), n.pitch, n.velocity) for n in part.notes]
        assert sorted(notes) == sorted(expected)
        assert not sounding
    assert score.parts[-1].channel == DRUM_CHANNEL


def test_note_offs_come_before_note_ons_at_the_same_tick(score, tmp_path):
    repeated = Part("Organ", "chords", 19, 0, [Note(beat, 1.0, 60, 80) for beat in range(8)] + [Note(0.0, 8.0, 48, 60)])
    overlapping = Part("Bells", "counter", 14, 1, [Note(0.0, 3.0, 72, 90), Note(2.0, 2.0, 72, 90), Note(2.0, 1.0, 72, 50)])
    score.parts, original = [repeated, overlapping], score.parts
    try:
        path = write_midi(score, tmp_path / "legato.mid")
    finally:
        score.parts = original
    for track in mido.MidiFile(path).tracks[1:]:
        tick, order, held = 0, defaultdict(list), set()
        for message in track:
            tick += message.time
            if message.type in ("note_on", "note_off"):
                is_on = message.type == "note_on" and message.velocity > 0
                order[tick].append(is_on)
                assert (message.note in held) != is_on, f"note {message.note} {'started twice' if is_on else 'stopped unheld'} at tick {tick}"
                (held.add if is_on else held.discard)(message.note)
        for tick, kinds in order.items():
            assert kinds == sorted(kinds), f"a note-on precedes a note-off at tick {tick}"
    # The overlapping repeat is cut where the next starts; of two notes at one start the longer plays.
    bells = pretty_midi.PrettyMIDI(str(path)).instruments[1]
    beat = 60 / score.plan.bpm
    assert [(n.start / beat, n.end / beat, n.velocity) for n in bells.notes] == [
        (0.0, pytest.approx(2.0), 90), (pytest.approx(2.0), pytest.approx(4.0), 90),
    ]


@pytest.mark.parametrize("key, expected, mido_name", [
    ("C major", (0, False), "C"),
    ("A minor", (0, True), "Am"),
    ("D dorian", (0, True), "Am"),  # a mode takes its relative minor's signature
    ("E phrygian", (0, True), "Am"),
    ("F lydian", (0, False), "C"),  # ... or its relative major's
    ("G mixolydian", (0, False), "C"),
    ("Eb major", (-3, False), "Eb"),
    ("F# minor", (3, True), "F#m"),
    ("D# minor", (6, True), "D#m"),
    ("G# major", (-4, False), "Ab"),  # eight sharps are spelt as four flats
    ("C# major", (7, False), "C#"),
    ("Bb dorian", (-4, True), "Fm"),
    ("E harmonic minor", (1, True), "Em"),
    ("D pentatonic major", (2, False), "D"),
])
def test_key_signatures_for_keys_and_modes(key, expected, mido_name, tmp_path):
    assert key_signature(Key.parse(key)) == expected
    score = handmade_score(bars=(1,), key=key, roles=("bass",))
    midi = mido.MidiFile(write_midi(score, tmp_path / "key.mid"))
    assert [m.key for _, m in meta_events(midi.tracks[0]) if m.type == "key_signature"] == [mido_name]


def test_compound_meter_and_slow_tempo(tmp_path):
    score = handmade_score(bars=(2, 2), bpm=41.5, time_signature=(6, 8), roles=("chords", "drums"))
    midi = pretty_midi.PrettyMIDI(str(write_midi(score, tmp_path / "waltz.mid")))
    assert [(sig.numerator, sig.denominator) for sig in midi.time_signature_changes] == [(6, 8)]
    assert midi.get_tempo_changes()[1][0] == pytest.approx(41.5, abs=0.01)
    markers = mido.MidiFile(tmp_path / "waltz.mid").tracks[0]
    assert [(tick, m.text) for tick, m in meta_events(markers) if m.type == "marker"] == [(0, "intro"), (2 * 3 * 480, "verse")]


@pytest.mark.parametrize("value, encoded", [
    (0, "00"), (0x40, "40"), (0x7F, "7f"), (0x80, "8100"), (0x2000, "c000"),
    (0x3FFF, "ff7f"), (0x4000, "818000"), (0x100000, "c08000"), (0x0FFFFFFF, "ffffff7f"),
])
def test_variable_length_quantities_match_the_standard(value, encoded):
    assert variable_length(value).hex() == encoded


def test_two_parts_on_one_channel_is_a_clear_error(score, tmp_path):
    score.parts, original = [Part("A", "melody", 0, 2), Part("B", "bass", 33, 2)], score.parts
    try:
        with pytest.raises(ValueError, match="'A' and 'B' share MIDI channel 2"):
            write_midi(score, tmp_path / "clash.mid")
    finally:
        score.parts = original
