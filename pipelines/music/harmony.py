"""Harmony: what the planner and the composer both read in a key, a chord symbol and a genre.

- scales and modes: the seven-note scale a mode's degrees are counted in (a pentatonic key
  counts them in its parent major or minor scale);
- chords: a Roman numeral read in a key, as the pitch classes it sounds and the tones a
  phrase can rest on;
- genre families: a free-text genre as the family whose chord colours, instruments, grooves
  and comping it takes.

The plan's own vocabulary (the modes' steps, the chord spellings a plan accepts, keys) lives
in plan.py, which checks plans; this module reads it.

    parse_chord("bVIImaj7", Key.parse("A minor")).pitch_classes  # G B D F#
    genre_family("lo-fi chamber")                                # 'lofi'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pipelines.music.plan import CHORD, MODES, Key, PlanError

# --- scales and modes --------------------------------------------------------------------------

PARENT_MODES = {"pentatonic major": "major", "pentatonic minor": "minor"}  # where degrees are counted in a pentatonic key


def parent_steps(mode: str) -> tuple[int, ...]:
    """The seven-note scale a mode's degrees are counted in."""
    return MODES[PARENT_MODES.get(mode, mode)]


def key_parent_scale(key: Key) -> tuple[int, ...]:
    """Pitch classes of the seven-note scale the key's degrees are counted in, tonic first."""
    return tuple((key.pitch_class + step) % 12 for step in parent_steps(key.mode))


# --- chords ------------------------------------------------------------------------------------
# A numeral without an accidental is a degree of the key's own scale ("VII" in A minor is G);
# one with an accidental is counted from the major scale, as pop charts write it ("bVII" in
# A minor is G too, "bVI" in C major is Ab). Case gives the quality: "IV" major, "iv" minor.

ROMAN_DEGREES = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}


@dataclass(frozen=True)
class Chord:
    symbol: str
    root: int  # pitch class, 0 = C
    intervals: tuple[int, ...]  # semitones above the root: root, third (or sus tone), fifth, then any added tone

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple(sorted({(self.root + interval) % 12 for interval in self.intervals}))

    @property
    def stable_classes(self) -> tuple[int, ...]:
        """Root, third and fifth: where a phrase can come to rest."""
        return tuple((self.root + interval) % 12 for interval in self.intervals[:3])

    @property
    def fifth(self) -> int:
        return self.intervals[2]


def parse_chord(symbol: str, key: Key) -> Chord:
    """'i' in D dorian is D F A; 'bVIImaj7' in A minor is G B D F#; 'V7' in A minor is E G# B D."""
    return _parse_chord(symbol, key.pitch_class, key.mode)


@functools.lru_cache(maxsize=2048)
def _parse_chord(symbol: str, tonic: int, mode: str) -> Chord:
    match = CHORD.match(symbol)
    if match is None:
        raise PlanError(f"unknown chord {symbol!r}; write Roman numerals such as 'i', 'IV', 'bVII', 'V7', 'iisus4'")
    numeral, quality, extension = match["degree"], match["quality"], match["extension"]
    degree = ROMAN_DEGREES[numeral.lower()]
    if match["accidental"]:
        offset = MODES["major"][degree] + (1 if match["accidental"] == "#" else -1)
    else:
        offset = parent_steps(mode)[degree]
    if quality == "°":
        triad = (0, 3, 6)
    elif quality == "+":
        triad = (0, 4, 8)
    else:
        triad = (0, 4, 7) if numeral.isupper() else (0, 3, 7)
    if extension in ("sus2", "sus4"):
        triad = (0, 2 if extension == "sus2" else 5, triad[2])
    added = {"7": (9 if quality == "°" else 10,), "maj7": (11,), "6": (9,), "add9": (14,)}.get(extension or "", ())
    return Chord(symbol, (tonic + offset) % 12, triad + added)


# --- genre families ----------------------------------------------------------------------------

GENRE_FAMILIES = (  # a word in the genre's name -> the family whose chords, grooves and comping it uses
    ("city pop", "citypop"), ("citypop", "citypop"), ("gugak", "gugak"), ("korean traditional", "gugak"), ("sanjo", "gugak"),
    ("neo-soul", "neosoul"), ("neo soul", "neosoul"), ("soul", "neosoul"), ("r&b", "neosoul"), ("rnb", "neosoul"),
    ("jazz", "jazz"), ("swing", "jazz"), ("bossa", "jazz"), ("lo-fi", "lofi"), ("lofi", "lofi"), ("hip hop", "lofi"),
    ("hip-hop", "lofi"), ("chill", "lofi"), ("ambient", "ambient"), ("new age", "ambient"), ("downtempo", "downtempo"),
    ("trip hop", "downtempo"), ("trip-hop", "downtempo"), ("electronica", "downtempo"), ("electronic", "downtempo"),
)
FAMILIES = ("pop", "citypop", "gugak", "neosoul", "jazz", "lofi", "ambient", "downtempo")


def genre_family(genre: str) -> str:
    """'lo-fi chamber' -> 'lofi', 'gugak fusion' -> 'gugak'; anything unknown plays as 'pop'."""
    genre = genre.lower()
    return next((family for word, family in GENRE_FAMILIES if word in genre), "pop")
