"""The symbolic composer: a CompositionPlan into a Score of notes.

Everything follows from the plan and its seed, so the same plan always gives the same notes
and a hand-edited plan renders again predictably. Each part is written over one shared
timeline of bars (each bar knows its section, its chord and the chord after it):

- chords: Roman numerals read in the plan's key and mode, voiced in a comfortable range,
  each voicing the one that moves least from the one before, so common tones stay put;
- melody: the persona's signature motif, moved into the key and fitted to the bar, returns
  in every section in a new guise (a sequence on another scale step, inverted, augmented,
  diminished, fragmented, ornamented); the bars after it answer with chord tones on the
  strong beats and end the phrase on a stable tone;
- bass, pad, arpeggio, counter-line and drums follow the chords, the genre's groove and each
  section's energy: a quiet intro gets a few parts playing little, a chorus all of them.

Times are in quarter-note beats. No note starts before its section or sounds past its end,
so every section (a loop in particular) can be cut out and played alone.

    score = compose(plan)
    motif_occurrences(score)  # where the signature returns, and in what form
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pipelines.music.harmony import Chord, genre_family, parent_steps, parse_chord
from pipelines.music.plan import CompositionPlan, Instrument, Section, TimeSignature
from pipelines.music.score import DRUM_CHANNEL, Note, Part, Score, SectionSpan
from pipelines.style import NOTE_NAME, MotifNote

EPSILON = 1e-6

# --- voicing -----------------------------------------------------------------------------------

def voice_movement(previous: Sequence[int], following: Sequence[int]) -> int:
    """Semitones the voices move from one voicing to the next: voice by voice (low to high) when
    both have as many notes, otherwise each note to the nearest note of the other chord."""
    if len(previous) == len(following):
        return sum(abs(a - b) for a, b in zip(sorted(previous), sorted(following)))
    there = sum(min(abs(a - b) for b in following) for a in previous)
    back = sum(min(abs(a - b) for a in previous) for b in following)
    return there + back


MAX_SPREAD = 16  # semitones from a voicing's lowest note to its highest


@functools.lru_cache(maxsize=4096)
def voicings(chord: Chord, low: int, high: int) -> tuple[tuple[int, ...], ...]:
    """Every way to place each chord tone once in [low, high] within MAX_SPREAD."""
    options = [[pitch for pitch in range(low, high + 1) if pitch % 12 == pc] for pc in chord.pitch_classes]
    found = {tuple(sorted(combination)) for combination in itertools.product(*options) if max(combination) - min(combination) <= MAX_SPREAD}
    if not found:  # a range too narrow for the chord: stack it from the bottom
        base = low + (chord.root - low) % 12
        found = {tuple(base + interval for interval in chord.intervals)}
    return tuple(sorted(found))


def voice_lead(chords: Sequence[Chord], low: int, high: int) -> list[tuple[int, ...]]:
    """One voicing per chord, each chosen to move least from the one before (common tones are
    held where they can be), kept near the middle of the range so the line does not drift."""
    center = (low + high) / 2

    def shape(voicing: tuple[int, ...]) -> float:
        """What makes a voicing awkward on its own: far from the centre, spread wide, semitone clusters."""
        clusters = sum(1 for a, b in zip(voicing, voicing[1:]) if b - a == 1)
        return 0.25 * abs(sum(voicing) / len(voicing) - center) + 0.1 * (voicing[-1] - voicing[0]) + 0.5 * clusters

    chosen: list[tuple[int, ...]] = []
    for chord in chords:
        candidates = voicings(chord, low, high)
        if not chosen:
            def cost(voicing: tuple[int, ...]) -> float:
                return 4 * shape(voicing) + (0.0 if voicing[0] % 12 == chord.root else 1.5)
        else:
            previous = chosen[-1]

            def cost(voicing: tuple[int, ...]) -> float:
                return voice_movement(previous, voicing) + shape(voicing)
        chosen.append(min(candidates, key=lambda voicing: (cost(voicing), voicing)))
    return chosen


# --- meter and swing ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Meter:
    bar: float  # quarter-note beats in a bar
    pulse: float  # beats in one felt beat: a quarter in 4/4, a dotted quarter in 6/8 and 12/8
    compound: bool

    @property
    def pulses(self) -> int:
        return max(1, round(self.bar / self.pulse))

    @property
    def split(self) -> float:
        """The pulse's halves (simple meters) or thirds (compound): eighth notes in 4/4 and 6/8."""
        return self.pulse / (3 if self.compound else 2)

    @property
    def grid(self) -> float:
        """The finest step parts play on: sixteenths in 4/4 and 6/8."""
        return self.pulse / (6 if self.compound else 4)

    def weight(self, offset: float) -> float:
        """How strong a position in the bar is: 2 on a strong beat, 1 on another beat, 0.4 between."""
        position = offset / self.pulse
        index = round(position)
        if abs(position - index) > EPSILON:
            return 0.4
        if index == 0 or (self.pulses >= 4 and self.pulses % 2 == 0 and index == self.pulses // 2):
            return 2.0
        return 1.0


def meter_of(time_signature: TimeSignature) -> Meter:
    numerator, denominator = time_signature.numerator, time_signature.denominator
    compound = denominator >= 8 and numerator % 3 == 0
    pulse = (12 if compound else 4) / denominator
    return Meter(time_signature.beats_per_bar, pulse, compound)


SWING = {"lofi": 0.1, "neosoul": 0.06, "jazz": 0.12}  # offbeat eighths played late, as a fraction of the beat


# --- the timeline ------------------------------------------------------------------------------

@dataclass
class Passage:
    """One section of the plan laid on the timeline."""

    index: int
    section: Section
    span: SectionSpan
    kind: str  # intro, verse, chorus, bridge, outro, ... read from the section's name
    bars: list[Bar]
    is_last: bool

    @property
    def energy(self) -> float:
        return self.section.energy

    @property
    def start(self) -> float:
        return self.span.start_beat

    @property
    def end(self) -> float:
        return self.span.end_beat


@dataclass
class Bar:
    index: int
    start: float
    end: float
    chord: Chord
    next_chord: Chord | None  # the chord of the following bar; None after the last bar
    passage: Passage
    in_passage: int


SECTION_KINDS = ("intro", "verse", "pre-chorus", "prechorus", "chorus", "hook", "refrain", "bridge", "interlude", "breakdown",
                 "break", "solo", "groove", "loop", "drop", "build", "outro", "coda", "ending")


def section_kind(name: str) -> str:
    """'Chorus 2' -> 'chorus'; 'the hook' -> 'hook'; unknown names count as a verse."""
    words = name.lower().replace("_", " ").split()
    return next((kind for word in words for kind in SECTION_KINDS if word.startswith(kind)), "verse")


class Timeline:
    """Bars and sections in beats, with the chords read in the plan's key."""

    def __init__(self, plan: CompositionPlan):
        self.plan = plan
        self.key = plan.key
        self.meter = meter_of(plan.time_signature)
        self.family = genre_family(plan.genre)
        self.swing = SWING.get(self.family, 0.0) if not self.meter.compound else 0.0
        self.passages: list[Passage] = []
        self.bars: list[Bar] = []
        bar_length = self.meter.bar
        for index, section in enumerate(plan.sections):
            start = len(self.bars) * bar_length
            span = SectionSpan(section.name, start, start + section.bars * bar_length, section.loop)
            passage = Passage(index, section, span, section_kind(section.name), [], index == len(plan.sections) - 1)
            for number in range(section.bars):
                chord = parse_chord(section.chords[number % len(section.chords)], self.key)
                bar_start = start + number * bar_length
                bar = Bar(len(self.bars), bar_start, bar_start + bar_length, chord, None, passage, number)
                passage.bars.append(bar)
                self.bars.append(bar)
            self.passages.append(passage)
        for bar, following in zip(self.bars, self.bars[1:]):
            bar.next_chord = following.chord
        self.total = len(self.bars) * bar_length
        self.scale = self.key.scale  # the key's own notes (five in a pentatonic key)
        self.steps = parent_steps(self.key.mode)
        self.anchor = 60 + self.key.pitch_class  # degree 0: the tonic at or above middle C

    def bar_at(self, beat: float) -> Bar:
        return self.bars[min(max(int((beat + EPSILON) // self.meter.bar), 0), len(self.bars) - 1)]

    def passage_at(self, beat: float) -> Passage:
        return self.bar_at(beat).passage

    def swung_note(self, beat: float, length: float, limit: float) -> tuple[float, float]:
        """A note's start after swing, and its length shortened by as much so it ends where it
        would have (and never past ``limit``)."""
        start = self.swung(beat)
        return start, min(length - (start - beat), limit - start)

    def swung(self, beat: float) -> float:
        """Offbeat eighths (and the sixteenths between) pushed late in swung genres."""
        if not self.swing:
            return beat
        position = (beat % self.meter.pulse) / self.meter.pulse
        if abs(position - 0.5) < EPSILON:
            return beat + self.swing * self.meter.pulse
        if abs(position - 0.25) < EPSILON or abs(position - 0.75) < EPSILON:
            return beat + self.swing * self.meter.pulse / 2
        return beat

    def degree_pitch(self, degree: int) -> int:
        """Scale degree (0 = the tonic above middle C, 7 an octave higher) to a MIDI note."""
        return self.anchor + 12 * (degree // 7) + self.steps[degree % 7]

    def pitch_degree(self, pitch: int) -> int:
        """The scale degree of a pitch; a note outside the scale counts as the degree below it."""
        octave, within = divmod(pitch - self.anchor, 12)
        return 7 * octave + max(i for i, step in enumerate(self.steps) if step <= within)


# --- notes as they are written, before the performance touches them ----------------------------

class Hit(NamedTuple):
    start: float
    length: float
    pitch: int
    velocity: float


def level(base: float, span: float, energy: float) -> float:
    """A velocity that rises with the section's energy."""
    return base + span * energy


def sustain_with_ties(bars: Sequence[Bar], chord_voicings: dict[int, tuple[int, ...]], velocity: float) -> list[Hit]:
    """Each bar's voicing held for the bar; a pitch the next voicing keeps is held on, not struck again."""
    hits: list[Hit] = []
    held: dict[int, tuple[float, float]] = {}  # pitch -> (start, end)
    for bar in bars:
        voicing = chord_voicings[bar.index]
        for pitch in list(held):
            if pitch not in voicing or held[pitch][1] < bar.start - EPSILON:
                start, end = held.pop(pitch)
                hits.append(Hit(start, end - start, pitch, velocity))
        for pitch in voicing:
            start = held[pitch][0] if pitch in held else bar.start
            held[pitch] = (start, bar.end)
    hits.extend(Hit(start, end - start, pitch, velocity) for pitch, (start, end) in held.items())
    return hits


# --- chords, pad, arpeggio, counter-line, texture ----------------------------------------------

COMPING_4_4 = {  # (beat, length, accent) for a middling and a lively bar of 4/4
    "pop": ([(0, 2, 1.0), (2, 2, 0.9)], [(0, 1, 1.0), (1, 1, 0.8), (2, 1, 0.9), (3, 1, 0.8)]),
    "citypop": ([(0, 1.5, 1.0), (1.5, 2.5, 0.85)], [(0, 1, 1.0), (1.5, 0.5, 0.8), (2.5, 0.5, 0.8), (3, 1, 0.9)]),
    "neosoul": ([(0, 2.5, 1.0), (2.5, 1.5, 0.8)], [(0, 1.5, 1.0), (1.5, 1, 0.7), (2.5, 1.5, 0.85)]),
    "jazz": ([(0, 1.5, 1.0), (2.5, 1.5, 0.8)], [(0, 1, 0.9), (1.5, 1, 0.8), (3, 1, 0.85)]),
    "lofi": ([(0, 2.5, 1.0), (2.5, 1.5, 0.8)], [(0, 1.5, 1.0), (1.5, 0.5, 0.7), (2.5, 1.5, 0.85)]),
    "ambient": ([(0, 4, 1.0)], [(0, 2, 1.0), (2, 2, 0.85)]),
    "downtempo": ([(0, 3, 1.0), (3, 1, 0.8)], [(0, 1.5, 1.0), (1.5, 1.5, 0.85), (3, 1, 0.8)]),
    "gugak": ([(0, 2, 1.0), (2, 2, 0.85)], [(0, 1.5, 1.0), (1.5, 1, 0.8), (2.5, 1.5, 0.85)]),
}


def comping(timeline: Timeline, energy: float) -> list[tuple[float, float, float]]:
    """When the chords strike within a bar; None of these cross the bar line."""
    meter = timeline.meter
    if energy < 0.35:
        return [(0.0, meter.bar, 1.0)]
    lively = energy >= 0.65
    if not meter.compound and meter.pulse == 1 and meter.pulses == 4:
        return COMPING_4_4[timeline.family][lively]
    pulses = meter.pulses
    if not lively or pulses == 1:
        middle = pulses // 2 or pulses
        return [(0.0, middle * meter.pulse, 1.0)] + ([(middle * meter.pulse, meter.bar - middle * meter.pulse, 0.85)] if middle < pulses else [])
    return [(index * meter.pulse, meter.pulse, 1.0 if index == 0 else 0.8) for index in range(pulses)]


def write_chords(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    velocity = level(46, 36, passage.energy)
    if passage.energy < 0.35:
        return sustain_with_ties(passage.bars, voiced, velocity)
    hits = []
    pattern = comping(timeline, passage.energy)
    for bar in passage.bars:
        for offset, length, accent in pattern:
            start, length = timeline.swung_note(bar.start + offset, length * 0.95, bar.end)
            hits.extend(Hit(start, length, pitch, velocity * accent) for pitch in voiced[bar.index])
    return hits


def write_pad(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    return sustain_with_ties(passage.bars, voiced, level(34, 30, passage.energy))


def write_arpeggio(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    meter = timeline.meter
    step = meter.split if passage.energy < 0.7 or meter.compound else meter.grid
    velocity = level(42, 34, passage.energy)
    hits = []
    for bar in passage.bars:
        voicing = voiced[bar.index]
        tones = [*voicing, voicing[0] + 12]
        if passage.energy >= 0.7:  # up and down again
            tones = tones + tones[-2:0:-1]
        for number in range(int(round(meter.bar / step))):
            start, length = timeline.swung_note(bar.start + number * step, step * 0.9, bar.end)
            accent = 1.0 if meter.weight(number * step) >= 1 else 0.8
            hits.append(Hit(start, length, tones[number % len(tones)], velocity * accent))
    return hits


def guide_tone(chord: Chord, previous: int, low: int, high: int, rng: random.Random) -> int:
    """The chord's third or seventh (its colour), nearest the line's last note."""
    colours = [chord.intervals[1]] + [i for i in chord.intervals[3:] if i in (9, 10, 11)]
    pitches = [p for p in range(low, high + 1) if (p - chord.root) % 12 in {c % 12 for c in colours}]
    return min(pitches, key=lambda p: (abs(p - previous), rng.random()))


def write_counter(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    """A slow line of guide tones under the melody: two notes a bar, one in short bars."""
    meter = timeline.meter
    low, high = 55, 72
    velocity = level(44, 30, passage.energy)
    previous = 64
    hits = []
    for bar in passage.bars:
        halves = [0.0] if meter.pulses < 3 else [0.0, (meter.pulses // 2) * meter.pulse]
        for number, offset in enumerate(halves):
            end = halves[number + 1] if number + 1 < len(halves) else meter.bar
            chord = bar.chord
            previous = guide_tone(chord, previous, low, high, rng)
            hits.append(Hit(bar.start + offset, (end - offset) * 0.95, previous, velocity))
    return hits


def write_texture(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    """A sound effect (rain, sea, breath) held on the tonic, struck again every four bars so a
    sample that fades keeps sounding."""
    velocity = level(38, 32, passage.energy)
    hits = []
    for first in range(0, len(passage.bars), 4):
        bars = passage.bars[first:first + 4]
        hits.append(Hit(bars[0].start, bars[-1].end - bars[0].start, timeline.anchor, velocity))
    return hits


# --- bass ----------------------------------------------------------------------------------------

BASS_4_4 = {  # a lively bar of 4/4: (beat, length, tone); R root, 5 fifth, 8 octave, 3 third, A a step into the next root
    "pop": [(0, 0.5, "R"), (0.5, 0.5, "R"), (1, 0.5, "R"), (1.5, 0.5, "R"), (2, 0.5, "R"), (2.5, 0.5, "R"), (3, 0.5, "5"), (3.5, 0.5, "A")],
    "citypop": [(0, 0.5, "R"), (0.5, 0.5, "8"), (1, 0.5, "R"), (1.5, 0.5, "8"), (2, 0.5, "R"), (2.5, 0.5, "8"), (3, 0.5, "5"), (3.5, 0.5, "A")],
    "neosoul": [(0, 1.5, "R"), (1.5, 0.5, "R"), (2.5, 1, "5"), (3.5, 0.5, "A")],
    "jazz": [(0, 1, "R"), (1, 1, "3"), (2, 1, "5"), (3, 1, "A")],
    "lofi": [(0, 1.5, "R"), (2.5, 0.5, "5"), (3, 0.5, "R"), (3.5, 0.5, "A")],
    "ambient": [(0, 2, "R"), (2, 2, "5")],
    "downtempo": [(0, 2.5, "R"), (2.5, 0.5, "R"), (3, 1, "5")],
    "gugak": [(0, 1.5, "R"), (1.5, 1, "5"), (2.5, 1, "R"), (3.5, 0.5, "A")],
}
BASS_LOW, BASS_HIGH = 28, 50


def bass_line(timeline: Timeline, energy: float) -> list[tuple[float, float, str]]:
    meter = timeline.meter
    if energy < 0.45:
        return [(0.0, meter.bar, "R")]
    pulses = meter.pulses
    if energy < 0.7 or pulses == 1:
        middle = pulses // 2 or pulses
        return [(0.0, middle * meter.pulse, "R")] + ([(middle * meter.pulse, meter.bar - middle * meter.pulse, "5")] if middle < pulses else [])
    if not meter.compound and meter.pulse == 1 and pulses == 4:
        return BASS_4_4[timeline.family]
    line = [(index * meter.pulse, meter.pulse, "R") for index in range(pulses - 1)]
    last = (pulses - 1) * meter.pulse
    return line + [(last, meter.pulse - meter.split, "5"), (meter.bar - meter.split, meter.split, "A")]


def nearest_in_range(pitch_class: int, near: int, low: int, high: int) -> int:
    candidates = [p for p in range(low, high + 1) if p % 12 == pitch_class]
    return min(candidates, key=lambda p: (abs(p - near), p))


def bass_tone(tone: str, root: int, bar: Bar, timeline: Timeline) -> int:
    chord = bar.chord
    if tone == "5":
        fifth = root + chord.fifth
        return fifth if fifth <= BASS_HIGH else fifth - 12
    if tone == "3":
        return root + chord.intervals[1]
    if tone == "8":
        return root + 12 if root + 12 <= BASS_HIGH + 5 else root
    if tone == "A":
        following = bar.next_chord
        if following is None or following.root == chord.root:
            return bass_tone("5", root, bar, timeline)
        target = nearest_in_range(following.root, root, BASS_LOW, BASS_HIGH)
        if timeline.family in ("jazz", "neosoul", "citypop"):  # chromatic approach from below
            return target - 1 if target - 1 >= BASS_LOW else target + 1
        below = [p for p in range(target - 2, target) if p % 12 in timeline.scale]
        return below[-1] if below else target - 1
    return root


def write_bass(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    velocity = level(58, 34, passage.energy)
    line = bass_line(timeline, passage.energy)
    hits = []
    previous = 38
    for bar in passage.bars:
        root = nearest_in_range(bar.chord.root, previous, BASS_LOW, BASS_HIGH - 7)
        previous = root
        for offset, length, tone in line:
            start, length = timeline.swung_note(bar.start + offset, length * 0.92, bar.end)
            accent = 1.0 if offset == 0 else 0.85
            hits.append(Hit(start, length, bass_tone(tone, root, bar, timeline), velocity * accent))
    return hits


# --- drums ---------------------------------------------------------------------------------------
# Grooves are strings on a grid across one bar: 'X' accent, 'x' hit, 'g' ghost, '.' silence.

DRUM_SOUNDS = {"kick": 36, "snare": 38, "ghost": 38, "side": 37, "clap": 39, "hat": 42, "pedal": 44, "open": 46,
               "ride": 51, "shaker": 82, "conga": 64, "crash": 49}
FILL_TOMS = (50, 48, 47, 45, 43)
GROOVES_4_4 = {  # sixteenths
    "pop": {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x.", "open": "..............x."},
    "citypop": {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "xgxgxgxgxgxgxgxg", "open": "..x...x...x...x."},
    "neosoul": {"kick": "x......x..x.....", "snare": "....x.......x...", "ghost": "......g.......g.", "hat": "x.x.x.x.x.x.x.x."},
    "jazz": {"kick": "x.........x.....", "side": "....x.......x...", "ride": "x...x.x.x...x.x.", "pedal": "....x.......x..."},
    "lofi": {"kick": "x.....x...x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x.", "open": "......x........."},
    "ambient": {"kick": "x.........x.....", "side": "....x.......x...", "shaker": "x.x.x.x.x.x.x.x.", "ride": "x.......x......."},
    "downtempo": {"kick": "x.....x.x.......", "snare": "....x.......x...", "hat": "..x...x...x...x.", "shaker": "xgxgxgxgxgxgxgxg"},
    "gugak": {"kick": "x.....x...x.....", "side": "...x......x..x..", "conga": "..x.......x.....", "hat": "x.x.x.x.x.x.x.x."},
}
GROOVES_12_8 = {  # eighths, four dotted-quarter beats
    "gugak": {"kick": "x.....x.....", "side": "...x.....x.x", "conga": "..x.....x...", "hat": "x.xx.xx.xx.x"},
    "default": {"kick": "x.....x.....", "snare": "...x.....x..", "hat": "xxxxxxxxxxxx", "open": "..........x."},
}
GROOVE_3_4 = {"kick": "x...........", "snare": "....x...x...", "hat": "x.x.x.x.x.x."}  # sixteenths


def groove(timeline: Timeline) -> dict[str, str]:
    meter, family = timeline.meter, timeline.family
    if not meter.compound and meter.pulses in (2, 4) and meter.bar in (2, 4):
        pattern = GROOVES_4_4[family]
        return pattern if meter.bar == 4 else {voice: steps[:8] for voice, steps in pattern.items()}
    if not meter.compound and meter.pulses == 3 and meter.bar == 3:
        return GROOVE_3_4
    if meter.compound and meter.pulses in (2, 4):
        pattern = GROOVES_12_8.get(family, GROOVES_12_8["default"])
        return pattern if meter.pulses == 4 else {voice: steps[:6] for voice, steps in pattern.items()}
    return generic_groove(meter)


def generic_groove(meter: Meter) -> dict[str, str]:
    """Any other meter: kick on the first beat (and the middle one), snare before the middle
    and on the last beat, hats on every split of the beat."""
    per_pulse = 3 if meter.compound else 2
    pulses = meter.pulses
    kicks = {0} | ({math.ceil(pulses / 2)} if pulses >= 4 else set())
    snares = ({math.ceil(pulses / 2) - 1} if pulses >= 4 else set()) | ({pulses - 1} if pulses >= 2 else set())

    def line(beats: set[int]) -> str:
        return "".join(("x" if pulse in beats else ".") + "." * (per_pulse - 1) for pulse in range(pulses))

    return {"kick": line(kicks), "snare": line(snares), "hat": "x" * (pulses * per_pulse)}


def drum_pattern(timeline: Timeline, energy: float) -> list[tuple[float, int, float]]:
    """(offset in the bar, drum sound, accent). Quiet sections keep the kick on the beat, a side
    stick for the snare and half the hats; open hats wait for the loudest sections."""
    meter = timeline.meter
    light, peak = energy < 0.55, energy >= 0.8
    lines = groove(timeline)
    hits = []
    open_steps = set()
    if peak and "open" in lines:
        open_steps = {index for index, mark in enumerate(lines["open"]) if mark != "."}
    for voice, steps in lines.items():
        step = meter.bar / len(steps)
        for index, mark in enumerate(steps):
            if mark == ".":
                continue
            offset = index * step
            accent = {"X": 1.0, "x": 0.8, "g": 0.4}[mark]
            sound = DRUM_SOUNDS[voice]
            if voice == "open" and not peak:
                continue
            if voice == "hat" and index in open_steps:
                continue
            if light:
                if voice == "ghost" or (voice in ("hat", "shaker") and mark == "g"):
                    continue
                if voice in ("snare", "clap"):
                    sound, accent = DRUM_SOUNDS["side"], accent * 0.8
                if voice == "kick" and meter.weight(offset) < 1:
                    continue
                if voice in ("hat", "shaker") and abs(offset / meter.split - round(offset / meter.split)) > EPSILON:
                    continue
            hits.append((offset, sound, accent))
    return hits


def fill(timeline: Timeline, bar: Bar, energy: float) -> tuple[float, list[tuple[float, int, float]]]:
    """The last beat (two in lively sections) of a section's last bar as a fill: snare, then toms
    falling. Returns where the fill starts in the bar and its hits."""
    meter = timeline.meter
    beats = 2 if energy >= 0.7 and meter.pulses >= 3 else 1
    start = meter.bar - beats * meter.pulse
    step = meter.split if meter.compound or energy < 0.55 else meter.grid
    count = int(round(beats * meter.pulse / step))
    snares = count // 2
    hits = []
    for number in range(count):
        if number < snares:
            sound = DRUM_SOUNDS["snare"] if energy >= 0.55 else DRUM_SOUNDS["side"]
        else:
            toms = count - snares
            sound = FILL_TOMS[round((number - snares) * (len(FILL_TOMS) - 1) / max(toms - 1, 1))]
        hits.append((start + number * step, sound, 0.6 + 0.4 * number / max(count - 1, 1)))
    return start, hits


def write_drums(timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
    velocity = level(56, 50, passage.energy)
    pattern = drum_pattern(timeline, passage.energy)
    previous = timeline.passages[passage.index - 1] if passage.index else None
    hits = []
    for bar in passage.bars:
        bar_hits = pattern
        if bar is passage.bars[-1] and not passage.is_last and passage.energy >= 0.3:
            fill_start, fill_hits = fill(timeline, bar, passage.energy)
            kept = [hit for hit in pattern if hit[0] < fill_start - EPSILON]
            landing = [hit for hit in pattern if hit[1] == DRUM_SOUNDS["kick"] and abs(hit[0] - fill_start) < EPSILON]
            bar_hits = kept + landing + fill_hits
        for offset, sound, accent in bar_hits:
            start, length = timeline.swung_note(bar.start + offset, 0.25, bar.end)
            hits.append(Hit(start, length, sound, velocity * accent))
    entering = previous is not None and passage.energy >= 0.7 and passage.energy > previous.energy
    if entering or (passage.index == 0 and passage.energy >= 0.8):
        hits.append(Hit(passage.start, 1.0, DRUM_SOUNDS["crash"], velocity))
    return hits


# --- the signature motif -------------------------------------------------------------------------

@dataclass(frozen=True)
class Motif:
    """A melodic idea: scale degrees (0 = the tonic above middle C, 7 an octave up; None a rest)
    and their lengths in beats."""

    degrees: tuple[int | None, ...]
    beats: tuple[float, ...]

    @property
    def length(self) -> float:
        return sum(self.beats)

    @property
    def pitched(self) -> list[int]:
        return [degree for degree in self.degrees if degree is not None]

    @property
    def steps(self) -> tuple[int, ...]:
        """Scale steps from each note to the next: what stays the same when the motif moves."""
        pitched = self.pitched
        return tuple(b - a for a, b in zip(pitched, pitched[1:]))

    def moved(self, steps: int) -> Motif:
        return Motif(tuple(None if d is None else d + steps for d in self.degrees), self.beats)

    def inverted(self) -> Motif:
        """Every interval turned upside down around the first note."""
        axis = self.pitched[0]
        return Motif(tuple(None if d is None else 2 * axis - d for d in self.degrees), self.beats)

    def stretched(self, factor: float) -> Motif:
        return Motif(self.degrees, tuple(beat * factor for beat in self.beats))

    def then(self, other: Motif) -> Motif:
        return Motif(self.degrees + other.degrees, self.beats + other.beats)

    def head(self, notes: int) -> Motif:
        """The first ``notes`` pitched notes (with any rests between them)."""
        count = 0
        for index, degree in enumerate(self.degrees):
            count += degree is not None
            if count == notes:
                return Motif(self.degrees[:index + 1], self.beats[:index + 1])
        return self


def head_steps(steps: int) -> int:
    """How many of a motif's steps its opening must keep to still be heard as the motif."""
    return max(3, math.ceil(0.6 * steps))


def letter_steps(name: str) -> int:
    """Diatonic position of a note name, ignoring accidentals: C4 = 28, D4 = 29, C5 = 35."""
    match = NOTE_NAME.match(name)
    assert match is not None
    return 7 * int(match["octave"]) + "CDEFGAB".index(match["letter"].upper())


def motif_from_notes(notes: Sequence[MotifNote], timeline: Timeline) -> Motif:
    """The persona's motif as degrees of the plan's key. A motif whose notes all belong to the
    key keeps its exact pitches; otherwise it is moved note by note onto the key's scale with
    its last note as the tonic, keeping its contour and its steps."""
    pitched = [note for note in notes if note.midi is not None]
    if all(note.midi % 12 in {(timeline.key.pitch_class + s) % 12 for s in timeline.steps} for note in pitched):
        degrees = [None if note.midi is None else timeline.pitch_degree(note.midi) for note in notes]
    else:
        reference = pitched[-1]
        tonic = reference.midi + (timeline.key.pitch_class - reference.midi + 6) % 12 - 6  # the tonic nearest the last note
        base = 7 * ((tonic - timeline.anchor) // 12)
        degrees = [None if note.midi is None else base + letter_steps(note.pitch) - letter_steps(reference.pitch) for note in notes]
    return Motif(tuple(degrees), tuple(note.beats for note in notes))


def fit_to_bars(motif: Motif, meter: Meter) -> Motif:
    """Stretch a motif to a whole number of bars, its onsets on the meter's grid."""
    bars = max(1, round(motif.length / meter.bar))
    factor = bars * meter.bar / motif.length
    if abs(factor - 1) < EPSILON:
        return motif
    onsets = [0.0]
    for beat in motif.beats[:-1]:
        onsets.append(onsets[-1] + beat * factor)
    snapped = [round(onset / meter.grid) * meter.grid for onset in onsets]
    if any(b <= a for a, b in zip(snapped, snapped[1:])) or snapped[-1] >= bars * meter.bar:
        return motif.stretched(factor)  # too many notes for the grid: keep the proportions instead
    ends = snapped[1:] + [bars * meter.bar]
    return Motif(motif.degrees, tuple(end - start for start, end in zip(snapped, ends)))


def derive_motif(rng: random.Random, meter: Meter) -> Motif:
    """A motif of the seed's own when the plan has none: a rhythm of beat cells, steps with one
    leap, ending long on a note of the tonic chord."""
    bars = max(2 if meter.bar <= 4 else 1, math.ceil(5 / meter.pulses))  # five beats at least: room for an idea
    if meter.compound:
        cells = [(1.0,), (2 / 3, 1 / 3), (1 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3)]
    else:
        cells = [(1.0,), (0.5, 0.5), (0.75, 0.25), (0.5, 0.25, 0.25)]
    pulses = bars * meter.pulses
    beats: list[float] = []
    for number in range(pulses - 2):
        cell = rng.choice(cells[1:] if number == 0 else cells)  # it opens with a figure, not one long note
        beats.extend(fraction * meter.pulse for fraction in cell)
    beats.append(2 * meter.pulse)
    degrees = [rng.choice((0, 2, 4))]
    leap_at = rng.randrange(1, len(beats) - 1)
    for index in range(1, len(beats) - 1):
        size = rng.choice((2, 3, 4)) if index == leap_at else 1
        degrees.append(degrees[-1] + size * rng.choice((-1, 1)))
    degrees.append(min((-3, 0, 2, 4, 7), key=lambda d: (abs(d - degrees[-1]), d)))  # home to the tonic chord
    return Motif(tuple(degrees), tuple(beats))


def signature_motif(plan: CompositionPlan, timeline: Timeline | None = None) -> Motif:
    """The motif the melody develops: the plan's signature in its key, fitted to its bars, or
    one drawn from the seed when the plan has no signature."""
    timeline = timeline or Timeline(plan)
    if sum(1 for note in plan.signature if note.midi is not None) >= 2:
        return fit_to_bars(motif_from_notes(plan.signature, timeline), timeline.meter)
    return derive_motif(random.Random(f"{plan.seed}:motif"), timeline.meter)


# --- melody --------------------------------------------------------------------------------------

FORMS_BY_KIND = {  # the motif's guise in a section's first phrase, then the ones its later phrases draw from
    "intro": ("augmentation", "fragment"),
    "verse": ("sequence", "ornament", "inversion", "diminution"),
    "chorus": ("statement", "sequence", "ornament"),
    "hook": ("statement", "sequence", "ornament"),
    "refrain": ("statement", "sequence", "ornament"),
    "groove": ("statement", "sequence", "ornament"),
    "loop": ("statement", "sequence", "ornament"),
    "bridge": ("inversion", "fragment", "diminution"),
    "solo": ("diminution", "inversion", "sequence"),
    "interlude": ("fragment", "augmentation", "inversion"),
    "breakdown": ("fragment", "augmentation"),
    "outro": ("fragment", "statement"),
    "coda": ("fragment", "statement"),
    "ending": ("fragment", "statement"),
}
MOVES = {  # scale steps each guise may be moved by, in order of preference; the chords decide
    "statement": (0,),
    "sequence": (1, -1, 2, -2, 3, -3, 4),
    "inversion": (0, 2, -2, 1, -1, 4, -3),
    "augmentation": (0, 2, -2, 4),
    "diminution": (0, 1, -1, 2, -2),
    "fragment": (0, 1, -1, 2, -2),
    "ornament": (0, 1, -1, 2, -2),
}


class MelodyWriter:
    """The melody of one part: per phrase, the motif in some guise, then an answer."""

    def __init__(self, timeline: Timeline, motif: Motif, rng: random.Random):
        self.timeline = timeline
        self.motif = motif
        self.rng = rng
        pitches = [timeline.degree_pitch(d) for d in motif.pitched]
        self.center = sum(pitches) / len(pitches)
        self.low = max(48, round(self.center) - 10)
        self.high = min(96, round(self.center) + 12)
        self.scale_pitches = [p for p in range(self.low, self.high + 1) if p % 12 in timeline.scale]
        self.motif_bars = max(1, round(motif.length / timeline.meter.bar))

    def __call__(self, timeline: Timeline, voiced: dict[int, tuple[int, ...]], rng: random.Random, passage: Passage) -> list[Hit]:
        return self.write(passage)

    def write(self, passage: Passage) -> list[Hit]:
        meter = self.timeline.meter
        phrase_bars = max(2, 2 * self.motif_bars)
        hits: list[Hit] = []
        previous_form = ""
        previous_pitch = round(self.center)
        phrases = range(0, len(passage.bars), phrase_bars)
        for number, first_bar in enumerate(phrases):
            bars = passage.bars[first_bar:first_bar + phrase_bars]
            start, end = bars[0].start, bars[-1].end
            if passage.energy < 0.3 and number > 0:
                break  # a quiet section states the idea once and lets it ring
            form = self.choose_form(passage, number, previous_form)
            final_phrase = passage.is_last and (passage.energy < 0.3 or first_bar + phrase_bars >= len(passage.bars))
            if final_phrase and form == "augmentation":
                form = "fragment"  # leave room to come home
            variant, form = self.variant(form, end - start)
            motif_hits = self.place(variant, form, start)
            hits.extend(motif_hits)
            previous_form = form
            if motif_hits:
                previous_pitch = motif_hits[-1].pitch
            answer_start = start + variant.length
            breath = meter.split if end - answer_start > meter.pulse else 0.0
            if passage.energy >= 0.3 and end - breath - answer_start >= meter.pulse - EPSILON:
                hits.extend(self.answer(passage, answer_start, end - breath, previous_pitch, cadence=final_phrase))
            elif final_phrase and hits:
                hits[-1] = hits[-1]._replace(pitch=self.home(hits[-1].pitch))
        return hits

    def choose_form(self, passage: Passage, number: int, previous: str) -> str:
        forms = FORMS_BY_KIND.get(passage.kind, FORMS_BY_KIND["verse"])
        if number == 0 and passage.kind not in ("verse", "bridge"):
            return forms[0]
        choices = [form for form in (forms[:2] if number == 0 else forms) if form != previous] or list(forms)
        return self.rng.choice(choices)

    def variant(self, form: str, room: float) -> tuple[Motif, str]:
        """The motif in the asked-for guise, or the nearest one that fits the room."""
        for candidate in (form, "fragment", "diminution", "statement"):
            shaped = self.shaped(candidate)
            if shaped is not None and shaped.length <= room + EPSILON:
                return shaped, candidate
        notes, length = 0, 0.0
        for degree, beat in zip(self.motif.degrees, self.motif.beats):
            if length + beat > room + EPSILON:
                break
            length += beat
            notes += degree is not None
        return self.motif.head(max(notes, 1)), "statement"

    def shaped(self, form: str) -> Motif | None:
        motif = self.motif
        steps = len(motif.steps)
        if form in ("statement", "sequence"):
            return motif
        if form == "inversion":
            return motif.inverted()
        if form == "augmentation":
            return motif.stretched(2.0)
        if form == "diminution":
            half = motif.stretched(0.5)
            return half.then(half.moved(self.rng.choice((1, -1))))
        if form == "fragment":
            notes = head_steps(steps) + 1
            if notes >= len(motif.pitched):
                return None
            head = motif.head(notes)
            return head.then(head.moved(self.rng.choice((1, -1, 2))))
        if form == "ornament":
            return self.ornamented()
        raise ValueError(f"unknown form {form!r}")

    def ornamented(self) -> Motif | None:
        """A turn (the note, the step above, the note) on the longest note of the motif's second
        half, so its opening stays recognisable."""
        motif = self.motif
        grid = self.timeline.meter.grid
        pitched_indices = [i for i, d in enumerate(motif.degrees) if d is not None]
        late = pitched_indices[head_steps(len(motif.steps)):]
        candidates = [i for i in late if motif.beats[i] >= 3 * grid - EPSILON]
        if not candidates:
            return None
        index = max(candidates, key=lambda i: (motif.beats[i], i))
        degree, beat = motif.degrees[index], motif.beats[index]
        assert degree is not None
        degrees = motif.degrees[:index] + (degree, degree + 1, degree) + motif.degrees[index + 1:]
        beats = motif.beats[:index] + (grid, grid, beat - 2 * grid) + motif.beats[index + 1:]
        return Motif(degrees, beats)

    def place(self, variant: Motif, form: str, start: float) -> list[Hit]:
        """The variant at ``start``, moved by the scale step that puts most chord tones on the
        strong beats, in the octave nearest the melody's centre."""
        best: tuple[float, list[Hit]] | None = None
        for preference, steps in enumerate(MOVES[form]):
            hits = self.realise(variant.moved(steps), start)
            score = self.fit(hits) - 0.05 * preference
            if best is None or score > best[0] + EPSILON:
                best = (score, hits)
        assert best is not None
        return best[1]

    def realise(self, motif: Motif, start: float) -> list[Hit]:
        pitches = [self.timeline.degree_pitch(d) for d in motif.pitched]
        shift = 12 * round((self.center - sum(pitches) / len(pitches)) / 12)
        velocity = level(64, 36, self.timeline.passage_at(start).energy)
        hits, time = [], start
        for degree, beat in zip(motif.degrees, motif.beats):
            if degree is not None:
                offset = time - self.timeline.bar_at(time).start
                accent = 1.0 if self.timeline.meter.weight(offset) >= 2 else 0.88
                hits.append(Hit(time, beat * 0.96, self.timeline.degree_pitch(degree) + shift, velocity * accent))
            time += beat
        return hits

    def fit(self, hits: Sequence[Hit]) -> float:
        """How well notes sit on the chords: chord tones on strong beats count most; notes
        outside the range count against."""
        score = 0.0
        for hit in hits:
            bar = self.timeline.bar_at(hit.start)
            weight = self.timeline.meter.weight(hit.start - bar.start)
            if hit.pitch % 12 in bar.chord.pitch_classes:
                score += weight
            elif hit.pitch % 12 not in self.timeline.scale:
                score -= weight
            if not self.low <= hit.pitch <= self.high:
                score -= 1.0
        return score

    def answer(self, passage: Passage, start: float, end: float, previous: int, cadence: bool) -> list[Hit]:
        """A reply to the motif from ``start`` to ``end``: chord tones on strong beats, steps
        between, the last note long and on a stable tone (the tonic to end the piece)."""
        meter = self.timeline.meter
        rhythm = self.answer_rhythm(start, end, passage.energy)
        velocity = level(62, 36, passage.energy)
        hits = []
        direction = self.rng.choice((-1, 1))
        for number, (time, length) in enumerate(rhythm):
            bar = self.timeline.bar_at(time)
            weight = meter.weight(time - bar.start)
            last = number == len(rhythm) - 1
            if last:
                pitch = self.home(previous) if cadence else self.rest_on(bar.chord, previous)
            elif weight >= 2 or (weight >= 1 and self.rng.random() < 0.6):
                pitch = self.chord_tone(bar.chord, previous)
            else:
                pitch, direction = self.step(previous, direction)
            start, length = self.timeline.swung_note(time, length * 0.95, end)
            hits.append(Hit(start, length, pitch, velocity * (1.0 if weight >= 2 else 0.86)))
            previous = pitch
        return hits

    def answer_rhythm(self, start: float, end: float, energy: float) -> list[tuple[float, float]]:
        meter = self.timeline.meter
        if meter.compound:
            cells = [(1.0,), (2 / 3, 1 / 3), (1 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3)]
        else:
            cells = [(1.0,), (0.5, 0.5), (0.75, 0.25), (0.5, 0.25, 0.25)]
        weights = [3, 3, 1 + energy * 2, energy * 2] if energy >= 0.5 else [4, 2, 1, 0.2]
        notes: list[list[float]] = []  # [start, length]
        time = start
        next_pulse = math.ceil((start - EPSILON) / meter.pulse) * meter.pulse
        if next_pulse - time > EPSILON:  # begin off the beat: one note up to it
            notes.append([time, next_pulse - time])
            time = next_pulse
        final_length = min(end - time, meter.pulse * (2 if end - time >= 3 * meter.pulse else 1))
        while time < end - final_length - EPSILON:
            room = end - final_length - time
            if notes and self.rng.random() < 0.35 - 0.2 * energy:
                notes[-1][1] += min(meter.pulse, room)  # hold across the beat
                time += min(meter.pulse, room)
                continue
            cell = self.rng.choices(cells, weights)[0] if room >= meter.pulse - EPSILON else (1.0,)
            for fraction in cell:
                length = min(fraction * meter.pulse, room)
                notes.append([time, length])
                time += length
                room -= length
                if room <= EPSILON:
                    break
        if end - time > EPSILON:
            notes.append([time, end - time])
        return [(note[0], note[1]) for note in notes if note[1] > EPSILON]

    def chord_tone(self, chord: Chord, previous: int) -> int:
        candidates = [p for p in self.scale_pitches if p % 12 in chord.pitch_classes] or self.scale_pitches
        ranked = sorted(candidates, key=lambda p: (abs(p - previous) if p != previous else 2.5, p))
        return ranked[0] if self.rng.random() < 0.7 or len(ranked) == 1 else ranked[1]

    def step(self, previous: int, direction: int) -> tuple[int, int]:
        """The next scale note up or down (sometimes a third), turning back at the range's edges."""
        if self.rng.random() < 0.3:
            direction = -direction
        index = min(range(len(self.scale_pitches)), key=lambda i: abs(self.scale_pitches[i] - previous))
        size = 2 if self.rng.random() < 0.15 else 1
        target = index + direction * size
        if not 0 <= target < len(self.scale_pitches):
            direction = -direction
            target = index + direction * size
        return self.scale_pitches[max(0, min(target, len(self.scale_pitches) - 1))], direction

    def rest_on(self, chord: Chord, previous: int) -> int:
        """A phrase ending: the root, third or fifth of the chord, nearest the last note."""
        candidates = [p for p in self.scale_pitches if p % 12 in chord.stable_classes] or self.scale_pitches
        return min(candidates, key=lambda p: (abs(p - previous), p))

    def home(self, previous: int) -> int:
        """The tonic nearest the last note."""
        tonic = self.timeline.key.pitch_class
        candidates = [p for p in range(self.low - 5, self.high + 6) if p % 12 == tonic]
        return min(candidates, key=lambda p: (abs(p - previous), p))


# --- where the motif returns -------------------------------------------------------------------

class MotifOccurrence(NamedTuple):
    section: str
    start_beat: float
    form: str  # "motif": its steps on any scale degree, at any speed; "inverted"; "head": its opening


def motif_occurrences(score: Score) -> list[MotifOccurrence]:
    """Where the signature motif's steps (or their inversion, or the motif's opening) sound in
    the melody, note after note within one section. Rhythm is ignored, so augmented and
    diminished statements count; so does a statement moved to another scale degree."""
    melody = score.melody
    if melody is None or not melody.notes:
        return []
    timeline = Timeline(score.plan)
    steps = signature_motif(score.plan, timeline).steps
    if len(steps) < 2:
        return []
    opening = head_steps(len(steps))
    patterns = [("motif", steps), ("inverted", tuple(-s for s in steps))]
    if opening < len(steps):
        patterns.append(("head", steps[:opening]))
    notes = sorted(melody.notes, key=lambda note: (note.start, note.pitch))
    degrees = [timeline.pitch_degree(note.pitch) for note in notes]
    moves = [b - a for a, b in zip(degrees, degrees[1:])]
    found = []
    index = 0
    while index < len(moves):
        for form, pattern in patterns:
            if tuple(moves[index:index + len(pattern)]) == pattern and together(notes[index:index + len(pattern) + 1], timeline):
                found.append(MotifOccurrence(timeline.passage_at(notes[index].start).section.name, notes[index].start, form))
                index += len(pattern)
                break
        else:
            index += 1
    return found


def together(notes: Sequence[Note], timeline: Timeline) -> bool:
    """Notes heard as one idea: in one section, none more than a bar after the previous one ends."""
    section = timeline.passage_at(notes[0].start).index
    return all(timeline.passage_at(b.start).index == section and b.start - (a.start + a.duration) <= timeline.meter.bar + EPSILON
               for a, b in zip(notes, notes[1:]))


# --- the whole score ---------------------------------------------------------------------------

ENTRY_ENERGY = {"chords": 0.0, "pad": 0.0, "melody": 0.15, "bass": 0.3, "drums": 0.3, "arpeggio": 0.45, "counter": 0.6}
ALSO_ROLE = {"melody": "counter", "chords": "arpeggio"}  # what a second part given the same role plays instead
CHORD_RANGE, PAD_RANGE, ARPEGGIO_RANGE = (52, 74), (55, 79), (60, 84)
TIMING_SPREAD_S = 0.006  # how far (seconds) a player drifts from the grid
VELOCITY_SPREAD = 4


@dataclass
class PartPlan:
    instrument: Instrument
    role: str  # what it plays: its role, or the one it takes as a second part in that role
    entry: float  # the section energy from which it plays
    texture: bool  # a sound effect (General MIDI 120-127): held, not played


def part_plans(plan: CompositionPlan) -> list[PartPlan]:
    seen: dict[str, int] = {}
    plans = []
    for instrument in plan.instruments:
        earlier = seen.get(instrument.role, 0)
        seen[instrument.role] = earlier + 1
        role = ALSO_ROLE.get(instrument.role, instrument.role) if earlier else instrument.role
        texture = instrument.program >= 120 and instrument.role not in ("drums", "melody", "bass")
        plans.append(PartPlan(instrument, role, ENTRY_ENERGY[role] + 0.2 * earlier, texture))
    return plans


def channels(instruments: Sequence[Instrument]) -> list[int]:
    free = iter(channel for channel in range(16) if channel != DRUM_CHANNEL)
    return [DRUM_CHANNEL if instrument.role == "drums" else next(free) for instrument in instruments]


def compose(plan: CompositionPlan) -> Score:
    """The plan's notes, the same every time for the same plan."""
    timeline = Timeline(plan)
    motif = signature_motif(plan, timeline)
    chords = [bar.chord for bar in timeline.bars]
    ranges = {"chords": CHORD_RANGE, "pad": PAD_RANGE, "arpeggio": ARPEGGIO_RANGE}
    voiced = {role: dict(enumerate(voice_lead(chords, *span))) for role, span in ranges.items()}
    parts = part_plans(plan)
    quietest = min(part.entry for part in parts)
    score_parts = []
    for index, (part, channel) in enumerate(zip(parts, channels(plan.instruments))):
        rng = random.Random(f"{plan.seed}:{index}:{part.instrument.role}:{part.instrument.name}")
        writer = writer_for(part, timeline, motif, rng)
        hits: list[Hit] = []
        for passage in timeline.passages:
            # A section always has something playing: the parts that enter first play anyway.
            if passage.energy >= part.entry - EPSILON or part.entry == quietest:
                hits.extend(writer(timeline, voiced.get(part.role, voiced["chords"]), rng, passage))
        notes = perform(hits, timeline, rng, drums=channel == DRUM_CHANNEL)
        instrument = part.instrument
        score_parts.append(Part(instrument.name, instrument.role, instrument.program, channel, notes))
    return Score(plan, score_parts, [passage.span for passage in timeline.passages])


Writer = Callable[[Timeline, dict[int, tuple[int, ...]], random.Random, Passage], list[Hit]]


def writer_for(part: PartPlan, timeline: Timeline, motif: Motif, rng: random.Random) -> Writer:
    if part.texture:
        return write_texture
    if part.role == "melody":
        return MelodyWriter(timeline, motif, rng)
    return {"chords": write_chords, "pad": write_pad, "arpeggio": write_arpeggio, "counter": write_counter,
            "bass": write_bass, "drums": write_drums}[part.role]


def perform(hits: Sequence[Hit], timeline: Timeline, rng: random.Random, drums: bool) -> list[Note]:
    """Notes as a player would give them: a few milliseconds off the grid and a little louder or
    softer, but never before the start of their section nor past its end."""
    spread = TIMING_SPREAD_S / timeline.plan.seconds_per_beat * (0.6 if drums else 1.0)
    notes = []
    for hit in hits:
        passage = timeline.passage_at(hit.start)
        start = min(max(hit.start + rng.gauss(0, spread / 2), passage.start), passage.end - 0.01)
        start = max(start, 0.0)
        end = min(hit.start + hit.length, passage.end)
        if end - start <= EPSILON:
            continue
        velocity = round(hit.velocity + rng.gauss(0, VELOCITY_SPREAD / 2))
        notes.append(Note(round(start, 6), round(end - start, 6), hit.pitch, min(max(velocity, 1), 127)))
    return without_overlaps(notes)


def without_overlaps(notes: list[Note]) -> list[Note]:
    """A pitch struck again while it still sounds is cut short first, as MIDI needs."""
    by_pitch: dict[int, list[Note]] = {}
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        by_pitch.setdefault(note.pitch, []).append(note)
    kept = []
    for same in by_pitch.values():
        for note, following in zip(same, same[1:] + [None]):
            if following is not None and note.start + note.duration > following.start:
                length = round(following.start - note.start, 6)
                if length <= 0.005:
                    continue
                note = Note(note.start, length, note.pitch, note.velocity)
            kept.append(note)
    return sorted(kept, key=lambda n: (n.start, n.pitch))
