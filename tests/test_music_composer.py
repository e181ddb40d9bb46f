"""The symbolic composer: the same plan always gives the same notes; every note stays inside its
section; chords sound the Roman numerals and move smoothly; the persona's motif returns in the
melody section after section; drums stay on the drum channel; quiet sections play less."""

from __future__ import annotations

import pytest

from pipelines.music.composer import Timeline, compose, motif_occurrences, signature_motif, voice_movement
from pipelines.music.harmony import parse_chord
from pipelines.music.plan import CompositionPlan, Key
from pipelines.music.planner import MusicBrief, ProceduralPlanner
from pipelines.music.score import DRUM_CHANNEL, Score
from pipelines.style import MotifNote

SECTIONS = [
    {"name": "intro", "bars": 4, "chords": ["i", "IV"], "energy": 0.2},
    {"name": "verse 1", "bars": 8, "chords": ["i", "bIII", "IV", "i"], "energy": 0.45},
    {"name": "chorus 1", "bars": 8, "chords": ["bIII", "IV", "i", "bVII"], "energy": 0.8, "loop": True},
    {"name": "verse 2", "bars": 8, "chords": ["i", "bIII", "IV", "i"], "energy": 0.5},
    {"name": "bridge", "bars": 8, "chords": ["v", "bIII", "IV", "IV"], "energy": 0.6},
    {"name": "chorus 2", "bars": 8, "chords": ["bIII", "IV", "i", "bVII"], "energy": 0.95},
    {"name": "outro", "bars": 4, "chords": ["i", "IV"], "energy": 0.2},
]
BAND = [
    {"name": "clarinet", "role": "melody", "program": 71},
    {"name": "Rhodes electric piano", "role": "chords", "program": 4},
    {"name": "fretless bass", "role": "bass", "program": 35},
    {"name": "brushed drums", "role": "drums", "program": 40},
    {"name": "soft analog synth pads", "role": "pad", "program": 89},
    {"name": "gayageum", "role": "arpeggio", "program": 107},
    {"name": "detuned upright piano", "role": "counter", "program": 3},
]


def make_plan(signature: list[MotifNote], **fields) -> CompositionPlan:
    data = {"title": "Test", "bpm": 88, "key": {"tonic": "D", "mode": "dorian"}, "genre": "lo-fi chamber", "seed": 5,
            "sections": SECTIONS, "instruments": BAND, "signature": [note.model_dump() for note in signature]}
    return CompositionPlan.model_validate({**data, **fields})


@pytest.fixture(scope="module")
def signature(haeun) -> list[MotifNote]:
    return haeun.music.signature_motif


@pytest.fixture(scope="module")
def plan(signature) -> CompositionPlan:
    return make_plan(signature)


@pytest.fixture(scope="module")
def score(plan) -> Score:
    return compose(plan)


def part(score: Score, role: str):
    return next(p for p in score.parts if p.role == role)


def notes_in_bar(notes, plan: CompositionPlan, bar: int, slack: float = 0.05):
    """Notes struck in a bar (a note nudged a few milliseconds early still belongs to it)."""
    length = plan.time_signature.beats_per_bar
    return [n for n in notes if bar * length - slack <= n.start < (bar + 1) * length - slack]


def semitone_steps(pitches: list[int]) -> list[int]:
    return [b - a for a, b in zip(pitches, pitches[1:])]


def contains(sequence: list[int], pattern: list[int]) -> bool:
    return any(sequence[i:i + len(pattern)] == pattern for i in range(len(sequence) - len(pattern) + 1))


# --- determinism and bounds ------------------------------------------------------------------------

def test_the_same_plan_gives_the_same_notes_and_another_seed_other_notes(plan, score):
    again = compose(plan)
    assert [(p.name, p.notes) for p in again.parts] == [(p.name, p.notes) for p in score.parts]
    other = compose(plan.model_copy(update={"seed": 6}))
    assert part(other, "melody").notes != part(score, "melody").notes
    assert part(other, "drums").notes != part(score, "drums").notes  # the performance differs too


def assert_inside_sections(score: Score) -> None:
    assert score.sections[0].start_beat == 0 and score.sections[-1].end_beat == score.total_beats
    for a, b in zip(score.sections, score.sections[1:]):
        assert a.end_beat == b.start_beat
    for p in score.parts:
        assert p.notes, f"{p.name} never plays"
        for note in p.notes:
            section = next(s for s in score.sections if s.start_beat <= note.start < s.end_beat)
            assert note.start + note.duration <= section.end_beat + 1e-9, (p.name, note, section)


def test_every_note_sounds_inside_the_piece_and_its_own_section(score, plan):
    assert_inside_sections(score)
    assert [(s.name, s.loop) for s in score.sections] == [(s.name, s.loop) for s in plan.sections]
    assert score.sections[2].start_beat == 12 * 4 and score.sections[2].end_beat == 20 * 4


def test_a_pitch_is_never_struck_while_it_still_sounds(score):
    for p in score.parts:
        by_pitch: dict[int, list] = {}
        for note in p.notes:
            by_pitch.setdefault(note.pitch, []).append(note)
        for notes in by_pitch.values():
            notes.sort(key=lambda n: n.start)
            assert all(a.start + a.duration <= b.start + 1e-9 for a, b in zip(notes, notes[1:])), p.name


def test_the_performance_moves_notes_only_a_few_milliseconds(plan, score):
    on_the_beat = [n.start - round(n.start) for n in part(score, "bass").notes if abs(n.start - round(n.start)) < 0.1]
    assert max(abs(offset) for offset in on_the_beat) * plan.seconds_per_beat <= 0.02
    assert len(set(on_the_beat)) > 10  # not a machine
    assert len({n.velocity for n in part(score, "drums").notes}) > 10


# --- harmony -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("symbol", "key", "notes"), [
    ("i", "D dorian", {"D", "F", "A"}),
    ("IV", "D dorian", {"G", "B", "D"}),
    ("bIIImaj7", "D dorian", {"F", "A", "C", "E"}),
    ("VII", "A minor", {"G", "B", "D"}),
    ("bVII", "A minor", {"G", "B", "D"}),
    ("V7", "A minor", {"E", "G#", "B", "D"}),
    ("bVI", "C major", {"G#", "C", "D#"}),
    ("vii°", "C major", {"B", "D", "F"}),
    ("vii°7", "C major", {"B", "D", "F", "G#"}),
    ("iisus4", "C major", {"D", "G", "A"}),
    ("Isus2", "C major", {"C", "D", "G"}),
    ("I+", "C major", {"C", "E", "G#"}),
    ("I6", "C major", {"C", "E", "G", "A"}),
    ("Iadd9", "C major", {"C", "E", "G", "D"}),
    ("#iv°", "C major", {"F#", "A", "C"}),
    ("II", "C lydian", {"D", "F#", "A"}),
    ("iii", "A pentatonic minor", {"C", "D#", "G"}),
])
def test_roman_numerals_are_read_in_the_key_and_mode(symbol, key, notes):
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert {names[pc] for pc in parse_chord(symbol, Key.parse(key)).pitch_classes} == notes


def test_each_bar_of_chords_sounds_its_numeral(plan, score):
    timeline = Timeline(plan)
    chords = part(score, "chords").notes
    assert {n.pitch % 12 for n in notes_in_bar(chords, plan, 4)} == {2, 5, 9}  # verse 1, bar 1: 'i' in D dorian is D F A
    for bar in timeline.bars:  # what sounds in each bar, held common tones included
        sounding = {n.pitch % 12 for n in chords if n.start < bar.end - 0.1 and n.start + n.duration > bar.start + 0.1}
        assert sounding == set(bar.chord.pitch_classes), bar.chord.symbol
    assert {n.pitch % 12 for n in notes_in_bar(part(score, "arpeggio").notes, plan, 13)} == {7, 11, 2}  # chorus 1: IV


def bar_voicings(notes, plan: CompositionPlan) -> list[tuple[int, ...]]:
    """The first chord struck in each bar."""
    voicings = []
    for bar in range(plan.total_bars):
        struck = notes_in_bar(notes, plan, bar)
        if struck:
            first = min(n.start for n in struck)
            voicings.append(tuple(sorted(n.pitch for n in struck if n.start - first < 0.05)))
    return voicings


def root_position(symbol: str, key: Key) -> tuple[int, ...]:
    chord = parse_chord(symbol, key)
    return tuple(48 + chord.root + interval for interval in chord.intervals)


def test_voice_leading_moves_less_than_root_position_chords():
    plan = make_plan([], sections=[{"name": "verse", "bars": 16, "chords": ["I", "vi", "IV", "V", "iii", "vi", "ii", "V7"], "energy": 0.5}],
                     key={"tonic": "C", "mode": "major"}, genre="pop")
    voiced = bar_voicings(part(compose(plan), "chords").notes, plan)
    naive = [root_position(symbol, plan.key) for symbol in plan.sections[0].chords * 2]
    assert len(voiced) == 16
    moved = sum(voice_movement(a, b) for a, b in zip(voiced, voiced[1:]))
    stacked = sum(voice_movement(a, b) for a, b in zip(naive, naive[1:]))
    assert moved < 0.6 * stacked
    assert all(max(v) - min(v) <= 16 and 48 <= min(v) and max(v) <= 76 for v in voiced)  # a comfortable range


def test_common_tones_are_held_across_the_bar_line(plan, score):
    # The intro's i -> IV (D F A -> G B D) keeps D: the pad holds it instead of striking it again.
    pad = part(score, "pad").notes
    held = [n for n in pad if n.start < 4 and n.pitch % 12 == 2]
    assert held and all(n.duration >= 2 * 4 - 0.1 for n in held)
    assert all(n.duration <= 4 + 0.01 for n in pad if n.pitch % 12 in (5, 9, 7, 11) and n.start < 16)


def test_the_bass_plays_each_chords_root_on_the_downbeat_in_a_low_register(plan, score):
    timeline = Timeline(plan)
    bass = part(score, "bass").notes
    for bar in timeline.bars:
        struck = notes_in_bar(bass, plan, bar.index)
        if struck:
            first = min(struck, key=lambda n: n.start)
            assert first.pitch % 12 == bar.chord.root and first.start - bar.start < 0.05
    assert all(28 <= n.pitch <= 55 for n in bass)


# --- the signature motif -------------------------------------------------------------------------

def test_the_signature_returns_in_most_sections(plan, score):
    found = motif_occurrences(score)
    sections = {o.section for o in found}
    assert len(sections) >= 0.75 * len(plan.sections)
    assert {"chorus 1", "chorus 2"} <= sections
    assert {o.form for o in found} >= {"motif", "head"}  # literal and varied statements
    # In D dorian the motif is in the key already: the chorus states its exact intervals.
    chorus = [n.pitch for n in part(score, "melody").notes if 48 <= n.start < 80]
    assert contains(semitone_steps(chorus), [3, 4, 2, -2, -2, -3, -2])


def test_the_motif_is_varied_not_only_repeated(score, plan):
    melody = part(score, "melody").notes
    openings = {}
    for occurrence in motif_occurrences(score):
        following = [n for n in melody if occurrence.start_beat - 0.05 <= n.start][:8]
        openings[occurrence] = (following[0].pitch, tuple(round(n.duration * 4) for n in following[:4]))
    assert len({pitch for pitch, _ in openings.values()}) >= 3  # moved to other scale steps
    assert len({rhythm for _, rhythm in openings.values()}) >= 2  # augmented, diminished or ornamented
    assert len({o.form for o in openings}) >= 2


def test_a_signature_outside_the_key_keeps_its_steps_on_the_keys_scale(signature):
    plan = make_plan(signature, key={"tonic": "Eb", "mode": "major"})
    names = {3: "Eb", 5: "F", 7: "G", 8: "Ab", 10: "Bb", 0: "C", 2: "D"}
    pitches = [Timeline(plan).degree_pitch(d) for d in signature_motif(plan).pitched]
    assert [names[p % 12] for p in pitches] == ["Eb", "G", "Bb", "C", "Bb", "Ab", "F", "Eb"]  # its last note becomes the tonic
    score = compose(plan)
    assert {n.pitch % 12 for n in part(score, "melody").notes} <= set(Key.parse("Eb major").scale)
    assert len({o.section for o in motif_occurrences(score)}) >= 5


def test_without_a_signature_the_seed_gives_the_piece_a_motif_of_its_own():
    motifs = {signature_motif(make_plan([], seed=seed)).steps for seed in range(6)}
    assert len(motifs) >= 4
    score = compose(make_plan([], seed=3))
    assert len({o.section for o in motif_occurrences(score)}) >= 5


def test_the_melody_puts_chord_tones_on_strong_beats_and_ends_on_the_tonic(plan, score):
    timeline = Timeline(plan)
    melody = part(score, "melody").notes
    strong = [n for n in melody if min(abs(n.start % 4 - beat) for beat in (0, 2, 4)) < 0.05]  # beats 1 and 3
    on_chord = [n for n in strong if n.pitch % 12 in timeline.bar_at(n.start + 0.05).chord.pitch_classes]
    assert len(on_chord) >= 0.7 * len(strong)
    assert melody[-1].pitch % 12 == plan.key.pitch_class
    assert all(n.pitch % 12 in plan.key.scale for n in melody)


# --- parts, channels, arrangement --------------------------------------------------------------

def test_drums_play_on_the_drum_channel_alone(score):
    drums = part(score, "drums")
    assert drums.channel == DRUM_CHANNEL and drums.is_drums
    others = [p.channel for p in score.parts if p is not drums]
    assert DRUM_CHANNEL not in others and len(set(others)) == len(others) and all(0 <= c < 16 for c in others)
    assert {n.pitch for n in drums.notes} <= set(range(35, 82))
    assert {36, 42} <= {n.pitch for n in drums.notes}
    assert [(p.name, p.program) for p in score.parts] == [(i["name"], i["program"]) for i in BAND]


def test_a_quiet_intro_plays_fewer_parts_and_fewer_notes_than_the_chorus(plan, score):
    def per_bar(start: float, end: float, bars: int) -> tuple[int, float]:
        sounding = [p for p in score.parts if any(start <= n.start < end for n in p.notes)]
        count = sum(1 for p in score.parts for n in p.notes if start <= n.start < end)
        return len(sounding), count / bars

    intro_parts, intro_density = per_bar(0, 16, 4)
    chorus_parts, chorus_density = per_bar(48, 80, 8)
    assert intro_parts < chorus_parts and chorus_parts == len(plan.instruments)
    assert intro_density < chorus_density / 3
    intro = [n.velocity for n in part(score, "chords").notes if n.start < 16]
    chorus = [n.velocity for n in part(score, "chords").notes if 48 <= n.start < 80]
    assert max(intro) < sum(chorus) / len(chorus)


def test_drum_fills_end_sections_and_the_piece_ends_without_one(plan, score):
    drums = part(score, "drums").notes
    toms = {50, 48, 47, 45, 43}
    verse_end = [n for n in drums if 44 <= n.start < 48 and n.pitch in toms]
    assert verse_end  # the bar before the chorus
    assert not [n for n in drums if n.pitch in toms and not any(s.end_beat - 4 <= n.start < s.end_beat for s in score.sections)]


def test_a_second_part_in_a_role_plays_something_else_and_effects_are_held(signature):
    band = BAND + [{"name": "haegeum", "role": "melody", "program": 110}, {"name": "rain field recordings", "role": "pad", "program": 122}]
    plan = make_plan(signature, instruments=band)
    score = compose(plan)
    first, second = [p for p in score.parts if p.role == "melody"]
    assert first.notes and second.notes and first.notes != second.notes
    assert not [n for n in second.notes if n.start < 48]  # a counter-line waits for the lively sections
    rain = score.parts[-1].notes
    assert {n.pitch for n in rain} == {62} and min(n.duration for n in rain) >= 4 * 4 - 0.05


def test_a_section_with_nothing_loud_enough_still_plays():
    plan = make_plan([], sections=[{"name": "intro", "bars": 4, "chords": ["i"], "energy": 0.0}],
                     instruments=[{"name": "drums", "role": "drums", "program": 0}, {"name": "flute", "role": "melody", "program": 73}])
    drums, flute = compose(plan).parts
    assert flute.notes and not drums.notes  # the part that enters first plays anyway


# --- meters and planned pieces -------------------------------------------------------------------

@pytest.mark.parametrize(("numerator", "denominator"), [(3, 4), (6, 8), (12, 8), (5, 4)])
def test_other_meters_keep_to_their_bars(signature, numerator, denominator):
    plan = make_plan(signature, time_signature={"numerator": numerator, "denominator": denominator})
    score = compose(plan)
    assert_inside_sections(score)
    length = plan.time_signature.beats_per_bar
    assert score.total_beats == plan.total_bars * length
    downbeats = [n.start / length for n in part(score, "drums").notes if n.pitch == 36]
    kicks = {round(bar) for bar in downbeats if abs(bar - round(bar)) * length < 0.05}
    assert set(range(12, 20)) <= kicks  # every chorus bar starts with a kick
    assert len({o.section for o in motif_occurrences(score)}) >= 5
    chords = part(score, "chords").notes
    assert {n.pitch % 12 for n in notes_in_bar(chords, plan, 4)} == {2, 5, 9}


def test_planned_pieces_compose_end_to_end(haeun):
    planner = ProceduralPlanner(haeun.music, persona=haeun.name)
    for text, genre in (("rainy Seoul night, hopeful", None), ("temple bells at dawn", "gugak fusion"), ("a slow waltz", None)):
        plan = planner.plan(MusicBrief(text=text, minutes=3, genre=genre, seed=2))
        score = compose(plan)
        assert_inside_sections(score)
        assert abs(score.seconds(score.total_beats) - 180) < 15
        assert len({o.section for o in motif_occurrences(score)}) >= 0.75 * len(plan.sections)
