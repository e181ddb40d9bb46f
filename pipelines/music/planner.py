"""A producer's brief into a CompositionPlan, in the persona's musical style.

Producers say what they want in a few words ("rainy Seoul night, hopeful", three minutes).
The plan decides tempo, key, genre, structure, chords and parts before a note is written, so
it can be read, edited and rendered again. The procedural planner reads the brief's mood
words against the persona's MusicDNA with a seeded generator: the same brief and seed always
give the same plan. A dialogue model can draft the plan instead (llm_planner.py); this plan is
its example and its fallback.

    brief = MusicBrief(text="rainy Seoul night, hopeful", minutes=3, seed=7)
    plan = ProceduralPlanner(card.music, persona=card.name).plan(brief)

``bpm`` always counts quarter notes, as MIDI and DAWs do. In 6/8 and 12/8 the felt beat is
the dotted quarter, so there the felt tempo (bpm / 1.5) is what sits in the persona's range.
"""

from __future__ import annotations

import logging
import math
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.music.harmony import genre_family, key_parent_scale, parse_chord
from pipelines.music.plan import CHORD, MAX_BARS, CompositionPlan, Instrument, Key, Section, TimeSignature
from pipelines.style import MusicDNA

log = logging.getLogger(__name__)

METER = re.compile(r"^\s*(?P<numerator>\d{1,2})\s*/\s*(?P<denominator>\d{1,2})\s*$")


class MusicBrief(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=2000, description="the producer's words, e.g. 'rainy Seoul night, hopeful'")
    minutes: float = Field(default=3.0, ge=0.25, le=20, description="how long the piece should be")
    bpm: float | None = Field(default=None, ge=40, le=240, description="a fixed tempo in quarter notes per minute")
    key: str | None = Field(default=None, description="a fixed key, e.g. 'D dorian', 'F# minor', 'Eb' (major)")
    genre: str | None = Field(default=None, max_length=60, description="a fixed genre, e.g. 'city pop'")
    meter: str | None = Field(default=None, description="a fixed time signature, e.g. '3/4', '6/8'")
    seed: int = Field(default=0, ge=0, lt=2**32)

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        return None if value is None else str(Key.parse(value))

    @field_validator("meter")
    @classmethod
    def _check_meter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = METER.match(value)
        if match is None:
            raise ValueError(f"expected a time signature such as '4/4', '3/4' or '6/8', got {value!r}")
        time_signature = TimeSignature(numerator=int(match["numerator"]), denominator=int(match["denominator"]))
        return f"{time_signature.numerator}/{time_signature.denominator}"

    @property
    def time_signature(self) -> TimeSignature | None:
        if self.meter is None:
            return None
        numerator, denominator = self.meter.split("/")
        return TimeSignature(numerator=int(numerator), denominator=int(denominator))

    @classmethod
    def of(cls, brief: MusicBrief | str, **fields: Any) -> MusicBrief:
        if isinstance(brief, MusicBrief):
            return cls.model_validate({**brief.model_dump(), **fields}) if fields else brief
        return cls(text=brief, **fields)


# --- reading the brief's mood ------------------------------------------------------------------

@dataclass(frozen=True)
class Mood:
    """Where one mood word pulls a piece, each from -1 to +1."""

    tempo: float  # slower .. faster
    brightness: float  # darker modes (minor, phrygian) .. brighter ones (major, lydian)
    energy: float  # quieter, sparser sections .. louder, fuller ones


MOODS: dict[str, Mood] = {  # word beginnings: 'rain' reads 'rainy' and 'raining'; the longest match wins
    "rain": Mood(-0.8, -0.3, -0.2), "drizzl": Mood(-0.7, -0.3, -0.3), "storm": Mood(0.2, -0.6, 0.6),
    "night": Mood(-0.7, -0.6, -0.1), "midnight": Mood(-0.7, -0.6, -0.1), "dusk": Mood(-0.4, -0.3, -0.1),
    "dark": Mood(-0.3, -1.0, 0.0), "sad": Mood(-0.8, -1.0, -0.3), "sorrow": Mood(-0.8, -1.0, -0.3),
    "melanchol": Mood(-0.7, -0.9, -0.2), "lonel": Mood(-0.6, -0.8, -0.2), "grief": Mood(-0.9, -1.0, -0.3),
    "tear": Mood(-0.7, -0.9, -0.2), "heartbr": Mood(-0.6, -0.9, -0.1), "blue": Mood(-0.3, -0.6, 0.0),
    "nostalg": Mood(-0.3, -0.3, -0.1), "longing": Mood(-0.4, -0.5, -0.1), "hopeless": Mood(-0.6, -1.0, -0.3),
    "calm": Mood(-0.7, 0.1, -0.5), "quiet": Mood(-0.6, 0.0, -0.5), "sleep": Mood(-0.9, 0.0, -0.6),
    "dream": Mood(-0.5, 0.2, -0.3), "lullab": Mood(-0.9, 0.3, -0.6), "gentle": Mood(-0.5, 0.2, -0.4),
    "soft": Mood(-0.4, 0.1, -0.4), "slow": Mood(-1.0, 0.0, -0.3), "tired": Mood(-0.7, -0.3, -0.4),
    "winter": Mood(-0.3, -0.3, -0.1), "snow": Mood(-0.4, 0.1, -0.2), "cold": Mood(-0.2, -0.4, 0.0),
    "mist": Mood(-0.5, -0.2, -0.3), "fog": Mood(-0.5, -0.2, -0.3), "myster": Mood(-0.2, -0.6, 0.0),
    "tense": Mood(0.3, -0.7, 0.4), "angr": Mood(0.8, -0.8, 1.0), "hope": Mood(0.5, 0.9, 0.2),
    "bright": Mood(0.6, 1.0, 0.3), "happy": Mood(0.7, 1.0, 0.4), "joy": Mood(0.7, 1.0, 0.4),
    "sun": Mood(0.5, 0.8, 0.3), "summer": Mood(0.5, 0.7, 0.4), "spring": Mood(0.3, 0.7, 0.2),
    "dawn": Mood(0.2, 0.6, 0.1), "morning": Mood(0.3, 0.6, 0.1), "love": Mood(0.0, 0.4, 0.1),
    "warm": Mood(0.0, 0.4, 0.0), "dance": Mood(1.0, 0.5, 0.8), "party": Mood(0.9, 0.6, 0.9),
    "energ": Mood(0.9, 0.3, 0.9), "upbeat": Mood(0.9, 0.6, 0.7), "fast": Mood(1.0, 0.0, 0.5),
    "excit": Mood(0.8, 0.6, 0.8), "groov": Mood(0.4, 0.3, 0.5), "driv": Mood(0.6, 0.2, 0.5),
    "epic": Mood(0.3, 0.2, 1.0), "anthem": Mood(0.4, 0.6, 1.0), "triumph": Mood(0.5, 0.8, 0.9),
    "비": Mood(-0.8, -0.3, -0.2), "밤": Mood(-0.7, -0.6, -0.1), "희망": Mood(0.5, 0.9, 0.2), "슬픔": Mood(-0.8, -1.0, -0.3),
}
MODE_BRIGHTNESS = {"lydian": 1.0, "major": 0.75, "pentatonic major": 0.7, "mixolydian": 0.45, "dorian": 0.1,
                   "pentatonic minor": -0.3, "minor": -0.5, "harmonic minor": -0.65, "phrygian": -0.9}
DEFAULT_KEYS = ("C major", "G major", "F major", "D major", "A minor", "E minor", "D minor", "D dorian", "F lydian", "G mixolydian")
WORD = re.compile(r"[^\W\d_][\w'-]*")


def brief_words(text: str) -> list[str]:
    return [word.strip("'-") for word in WORD.findall(unicodedata.normalize("NFC", text))]


def mood_of(word: str) -> Mood | None:
    word = word.lower()
    if not word.isascii():
        return MOODS.get(word)
    stems = [stem for stem in MOODS if stem.isascii() and word.startswith(stem)]
    return MOODS[max(stems, key=len)] if stems else None


@dataclass(frozen=True)
class MoodReading:
    words: tuple[str, ...]  # the brief's words that carry a mood
    tempo: float
    brightness: float
    energy: float


def read_mood(text: str) -> MoodReading:
    """The average pull of the brief's mood words; all zero when it has none."""
    found = [(word, mood) for word in brief_words(text) if (mood := mood_of(word)) is not None]
    if not found:
        return MoodReading((), 0.0, 0.0, 0.0)
    count = len(found)
    return MoodReading(
        tuple(dict.fromkeys(word.lower() for word, _ in found)),
        sum(mood.tempo for _, mood in found) / count,
        sum(mood.brightness for _, mood in found) / count,
        sum(mood.energy for _, mood in found) / count,
    )


GENRE_WORDS = {  # words in a brief that call for a genre family
    "ambient": ("rain", "night", "dream", "calm", "space", "float", "mist", "fog", "ocean", "sleep", "quiet", "snow", "drift"),
    "citypop": ("city", "neon", "drive", "summer", "seoul", "tokyo", "night", "dance", "retro", "bright", "street", "highway"),
    "neosoul": ("soul", "warm", "love", "smooth", "groove", "velvet", "coffee", "late", "intimate"),
    "jazz": ("jazz", "smoky", "club", "swing", "bar", "cocktail"),
    "lofi": ("rain", "study", "cozy", "tape", "nostalg", "room", "cafe", "bedroom", "chill", "sketch"),
    "downtempo": ("night", "electronic", "slow", "deep", "rain", "underground", "subway", "neon"),
    "gugak": ("korea", "hanok", "hanbok", "traditional", "folk", "temple", "palace", "mountain", "river", "gayageum", "jangdan"),
    "pop": ("energetic", "loud", "anthem", "happy", "party", "pop"),
}


def genre_score(genre: str, words: Sequence[str]) -> int:
    cues = GENRE_WORDS.get(genre_family(genre), ())
    lowered = [word.lower() for word in words]
    return sum(1 for word in lowered for cue in cues if word.startswith(cue)) + sum(1 for word in lowered if word in genre.lower().split())


# --- instruments -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sound:
    """A General MIDI program for instruments whose names hold one of ``names`` (each name's words
    all present), and the roles it suits, best first."""

    names: tuple[str, ...]
    program: int
    roles: tuple[str, ...]


KEYS_ROLES = ("chords", "arpeggio", "melody")
LEAD_ROLES = ("melody", "counter", "arpeggio")
PLUCKED_ROLES = ("melody", "arpeggio", "counter")
PAD_ROLES = ("pad", "chords")
SOUNDS: tuple[Sound, ...] = (  # the first match wins: specific names before general ones
    Sound(("sewing", "typewriter", "woodblock", "wood block", "clock", "tick"), 115, ("arpeggio", "counter")),
    Sound(("field recording", "recording", "ambience", "seashore", "waves", "ocean", "surf"), 122, ("pad",)),
    Sound(("bird",), 123, ("pad",)), Sound(("breath",), 121, ("pad",)), Sound(("applause", "crowd"), 126, ("pad",)),
    Sound(("steel drum", "steelpan", "steel pan"), 114, PLUCKED_ROLES), Sound(("taiko",), 116, ("counter",)),
    Sound(("melodic tom",), 117, ("counter",)), Sound(("synth drum",), 118, ("counter",)),
    Sound(("drum", "kit", "brush", "beat", "janggu", "janggo", "jangu", "buk", "percussion", "cajon", "conga", "bongo",
           "tabla", "shaker", "장구", "북"), 0, ("drums",)),
    Sound(("bass clarinet",), 71, LEAD_ROLES), Sound(("kalimba", "mbira", "thumb piano"), 108, PLUCKED_ROLES),
    Sound(("rhodes", "electric piano", "e-piano", "wurlitzer", "wurli"), 4, KEYS_ROLES),
    Sound(("dx7", "fm piano", "fm keys"), 5, KEYS_ROLES),
    Sound(("detuned piano", "honky", "tack piano", "out-of-tune piano", "old piano", "upright piano"), 3, KEYS_ROLES),
    Sound(("harpsichord",), 6, KEYS_ROLES), Sound(("clavinet", "clav"), 7, ("chords", "arpeggio")),
    Sound(("bright piano",), 1, KEYS_ROLES), Sound(("electric grand",), 2, KEYS_ROLES), Sound(("piano", "keys", "keyboard", "피아노"), 0, KEYS_ROLES),
    Sound(("celesta",), 8, PLUCKED_ROLES), Sound(("glockenspiel",), 9, PLUCKED_ROLES), Sound(("music box",), 10, PLUCKED_ROLES),
    Sound(("vibraphone", "vibes"), 11, ("chords", "melody", "arpeggio")), Sound(("marimba",), 12, PLUCKED_ROLES),
    Sound(("xylophone",), 13, PLUCKED_ROLES), Sound(("tubular", "chime"), 14, PLUCKED_ROLES),
    Sound(("dulcimer", "yangqin", "santoor", "yanggeum"), 15, PLUCKED_ROLES),
    Sound(("rock organ",), 18, PAD_ROLES), Sound(("church organ", "pipe organ"), 19, PAD_ROLES), Sound(("reed organ",), 20, PAD_ROLES),
    Sound(("organ", "hammond"), 16, ("chords", "pad")),
    Sound(("accordion",), 21, ("chords", "melody")), Sound(("harmonica",), 22, LEAD_ROLES), Sound(("bandoneon",), 23, ("chords", "melody")),
    Sound(("nylon", "classical guitar", "spanish guitar"), 24, ("chords", "arpeggio", "melody")),
    Sound(("jazz guitar",), 26, ("chords", "melody", "arpeggio")), Sound(("muted guitar",), 28, ("arpeggio", "chords")),
    Sound(("overdrive",), 29, ("chords", "melody")), Sound(("distortion",), 30, ("chords", "melody")),
    Sound(("clean guitar", "electric guitar"), 27, ("chords", "arpeggio", "melody")),
    Sound(("guitar",), 25, ("chords", "arpeggio", "melody")),
    Sound(("fretless",), 35, ("bass",)), Sound(("upright bass", "double bass", "acoustic bass", "contrabass"), 32, ("bass",)),
    Sound(("slap",), 36, ("bass",)), Sound(("synth bass", "808", "sub bass"), 38, ("bass",)), Sound(("picked bass",), 34, ("bass",)),
    Sound(("bass",), 33, ("bass",)),
    Sound(("synth strings",), 50, PAD_ROLES), Sound(("pizzicato",), 45, ("arpeggio", "counter")), Sound(("tremolo",), 44, PAD_ROLES),
    Sound(("violin",), 40, LEAD_ROLES), Sound(("viola",), 41, ("counter", "melody")), Sound(("cello",), 42, ("counter", "melody")),
    Sound(("haegeum", "erhu", "fiddle", "해금"), 110, LEAD_ROLES), Sound(("harp",), 46, ("arpeggio", "melody", "counter")),
    Sound(("string",), 48, ("pad", "chords", "counter")),
    Sound(("choir", "aahs"), 52, ("pad", "counter")), Sound(("oohs", "voice", "vocal", "humming"), 53, ("melody", "pad", "counter")),
    Sound(("muted trumpet",), 59, LEAD_ROLES), Sound(("trumpet", "flugelhorn", "cornet"), 56, LEAD_ROLES),
    Sound(("trombone",), 57, ("counter", "melody")), Sound(("tuba",), 58, ("bass",)), Sound(("english horn", "cor anglais"), 69, LEAD_ROLES),
    Sound(("french horn", "horn"), 60, ("counter", "melody")), Sound(("brass",), 61, ("chords", "counter")),
    Sound(("soprano sax",), 64, LEAD_ROLES), Sound(("tenor sax",), 66, LEAD_ROLES), Sound(("baritone sax",), 67, ("counter", "bass")),
    Sound(("sax", "saxophone"), 65, LEAD_ROLES), Sound(("oboe",), 68, LEAD_ROLES), Sound(("bassoon",), 70, ("counter", "bass")),
    Sound(("clarinet",), 71, LEAD_ROLES), Sound(("piri", "shanai", "shehnai", "suona", "taepyeongso", "피리"), 111, LEAD_ROLES),
    Sound(("piccolo",), 72, LEAD_ROLES), Sound(("shakuhachi", "daegeum", "danso", "dizi", "bamboo flute", "대금"), 77, LEAD_ROLES),
    Sound(("pan flute", "panpipe"), 75, LEAD_ROLES), Sound(("flute",), 73, LEAD_ROLES), Sound(("recorder",), 74, LEAD_ROLES),
    Sound(("whistle",), 78, LEAD_ROLES), Sound(("ocarina",), 79, LEAD_ROLES),
    Sound(("new age",), 88, PAD_ROLES), Sound(("polysynth",), 90, ("chords", "pad")), Sound(("choir pad",), 91, PAD_ROLES),
    Sound(("bowed",), 92, PAD_ROLES), Sound(("metallic pad",), 93, PAD_ROLES), Sound(("halo",), 94, PAD_ROLES),
    Sound(("sweep",), 95, PAD_ROLES), Sound(("pad",), 89, PAD_ROLES),
    Sound(("rain",), 96, PAD_ROLES), Sound(("soundtrack",), 97, PAD_ROLES), Sound(("crystal",), 98, PLUCKED_ROLES),
    Sound(("atmosphere",), 99, PAD_ROLES), Sound(("goblin",), 101, PAD_ROLES), Sound(("echo",), 102, PAD_ROLES),
    Sound(("sitar",), 104, PLUCKED_ROLES), Sound(("banjo",), 105, ("arpeggio", "chords")), Sound(("shamisen",), 106, PLUCKED_ROLES),
    Sound(("gayageum", "kayagum", "gayagum", "koto", "guzheng", "zither", "geomungo", "가야금", "거문고"), 107, PLUCKED_ROLES),
    Sound(("bagpipe",), 109, LEAD_ROLES),
    Sound(("square lead", "chiptune"), 80, LEAD_ROLES), Sound(("lead",), 81, LEAD_ROLES),
    Sound(("synth", "synthesizer"), 90, ("chords", "pad", "melody")),
)
UNKNOWN_SOUND = Sound((), 0, ("melody", "chords", "counter"))
DRUM_KITS = (("brush", 40), ("jazz", 32), ("808", 25), ("electronic", 24), ("machine", 25), ("room", 8), ("orchestra", 48))
GENRE_FAVOURITES = {  # programs a genre reaches for first in a role
    "gugak": {"melody": (107, 111, 77, 110), "arpeggio": (107,)},
    "neosoul": {"chords": (4, 5), "melody": (65, 66, 56)},
    "citypop": {"chords": (4, 5), "melody": (65, 56, 81)},
    "jazz": {"chords": (0, 4, 26), "melody": (65, 66, 56, 71)},
    "lofi": {"chords": (3, 0, 4), "melody": (71, 73, 11)},
    "ambient": {"pad": (89, 88, 94, 92), "melody": (73, 71, 107)},
}
DEFAULT_BAND = ("acoustic piano", "flute", "fingered bass", "drum kit", "warm pad")
CORE_ROLES = ("melody", "chords", "bass", "drums", "pad")


def name_words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def alias_matches(alias: str, words: Sequence[str]) -> bool:
    """Whether every word of ``alias`` is one of ``words``, or its plural or participle:
    'drum' names 'brushed drums', 'bass' does not name 'bassoon'."""
    return all(any(word == part or (word.startswith(part) and word[len(part):] in ("s", "es", "ed", "ing")) for word in words)
               for part in name_words(alias))


def sound_for(name: str) -> Sound:
    """The General MIDI sound for an instrument named in free text."""
    words = name_words(name)
    return next((sound for sound in SOUNDS if any(alias_matches(alias, words) for alias in sound.names)), UNKNOWN_SOUND)


def drum_kit(name: str) -> int:
    """The GM2/GS drum kit number a drums part asks for (the brush kit for brushes)."""
    lowered = name.lower()
    return next((kit for word, kit in DRUM_KITS if word in lowered), 0)


def assign_instruments(names: Sequence[str], family: str, rng: random.Random) -> list[Instrument]:
    """Each named instrument with its GM program and a role: one melody, chords, bass, drums and
    pad where the list has an instrument for them, the rest as counter-lines, arpeggios and pads."""
    names = [" ".join(name.split())[:60] for name in names if name.strip()] or list(DEFAULT_BAND)
    sounds = [sound_for(name) for name in names]
    for name, sound in zip(names, sounds):
        if sound is UNKNOWN_SOUND:
            log.info("no General MIDI sound matches %r; it plays as a piano", name)
    favourites = GENRE_FAVOURITES.get(family, {})
    roles: dict[int, str] = {}
    for role in CORE_ROLES:
        candidates = [i for i, sound in enumerate(sounds) if i not in roles and role in sound.roles]
        if not candidates:
            continue
        ranked = sorted(candidates, key=lambda i: (sounds[i].roles.index(role), sounds[i].program not in favourites.get(role, ()), rng.random()))
        roles[ranked[0]] = role
    for index, sound in enumerate(sounds):
        if index in roles:
            continue
        if sound.roles == ("drums",):
            log.info("one drum kit plays all the percussion: %r joins it", names[index])
            continue
        taken = set(roles.values())
        shared = next((role for role in sound.roles if role in ("counter", "arpeggio", "pad")), "counter")
        roles[index] = next((role for role in sound.roles if role not in taken), shared)
    instruments = []
    pitched = 0
    for index, (name, sound) in enumerate(zip(names, sounds)):
        if index not in roles:
            continue
        role = roles[index]
        if role != "drums":
            pitched += 1
            if pitched > 15:
                log.info("MIDI has 15 channels besides drums: %r is left out", name)
                continue
        instruments.append(Instrument(name=name, role=role, program=drum_kit(name) if role == "drums" else sound.program))
    if not any(part.role == "melody" for part in instruments) and pitched < 15:
        instruments.insert(0, Instrument(name="flute", role="melody", program=73))
    if not any(part.role in ("chords", "pad") for part in instruments) and pitched < 14:
        instruments.append(Instrument(name="acoustic piano", role="chords", program=0))
    return instruments


# --- structure and chords ----------------------------------------------------------------------

FORMS = (  # (fewest bars wanted, section kinds); long pieces add rounds to the first
    (56, ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")),
    (32, ("intro", "verse", "chorus", "verse", "chorus", "outro")),
    (16, ("intro", "verse", "chorus", "outro")),
    (8, ("intro", "chorus", "outro")),
    (0, ("chorus",)),
)
WEIGHTS = {"intro": 0.5, "verse": 1.0, "chorus": 1.0, "bridge": 0.75, "interlude": 0.5, "outro": 0.5}
ENERGY = {"intro": 0.25, "verse": 0.45, "chorus": 0.75, "bridge": 0.55, "interlude": 0.35, "outro": 0.2}

PROGRESSIONS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {  # per mode, per section kind
    "major": {
        "calm": (("I", "IV"), ("I", "vi"), ("I", "V")),
        "verse": (("I", "V", "vi", "IV"), ("I", "vi", "IV", "V"), ("vi", "IV", "I", "V"), ("I", "iii", "vi", "IV")),
        "chorus": (("IV", "V", "iii", "vi"), ("I", "V", "vi", "IV"), ("IV", "I", "V", "vi"), ("vi", "IV", "I", "V")),
        "bridge": (("ii", "V", "iii", "vi"), ("IV", "iii", "ii", "V"), ("vi", "iii", "IV", "V")),
    },
    "lydian": {
        "calm": (("I", "II"), ("I", "vii")),
        "verse": (("I", "II", "vii", "I"), ("I", "II", "iii", "II"), ("I", "II", "V", "I")),
        "chorus": (("I", "II", "vi", "V"), ("vi", "II", "I", "V"), ("I", "V", "II", "II")),
        "bridge": (("iii", "vi", "II", "II"), ("vii", "iii", "vi", "II")),
    },
    "mixolydian": {
        "calm": (("I", "bVII"), ("I", "IV")),
        "verse": (("I", "bVII", "IV", "I"), ("I", "v", "bVII", "IV")),
        "chorus": (("IV", "bVII", "I", "I"), ("I", "bVII", "IV", "IV"), ("bVII", "IV", "I", "v")),
        "bridge": (("ii", "v", "bVII", "IV"), ("vi", "v", "IV", "bVII")),
    },
    "minor": {
        "calm": (("i", "bVII"), ("i", "iv"), ("i", "bVI")),
        "verse": (("i", "bVI", "bIII", "bVII"), ("i", "iv", "bVII", "bIII"), ("i", "bVII", "bVI", "bVII")),
        "chorus": (("bVI", "bVII", "i", "i"), ("bVI", "bIII", "bVII", "i"), ("i", "bVI", "bIII", "bVII"), ("iv", "bVI", "bVII", "i")),
        "bridge": (("iv", "v", "bVI", "bVII"), ("bIII", "bVII", "iv", "V"), ("bVI", "iv", "i", "V")),
    },
    "harmonic minor": {
        "calm": (("i", "V"), ("i", "iv")),
        "verse": (("i", "iv", "V", "i"), ("i", "bVI", "iv", "V")),
        "chorus": (("bVI", "iv", "V", "i"), ("i", "iv", "bVI", "V")),
        "bridge": (("iv", "i", "bVI", "V"), ("bVI", "bIII", "iv", "V")),
    },
    "dorian": {
        "calm": (("i", "IV"), ("i", "ii")),
        "verse": (("i", "IV", "i", "IV"), ("i", "bIII", "IV", "i"), ("i", "ii", "bIII", "IV")),
        "chorus": (("bIII", "IV", "i", "i"), ("bVII", "IV", "i", "i"), ("i", "bVII", "IV", "IV"), ("bIII", "bVII", "IV", "i")),
        "bridge": (("v", "bIII", "IV", "IV"), ("bVII", "bIII", "IV", "v"), ("ii", "v", "bVII", "IV")),
    },
    "phrygian": {
        "calm": (("i", "bII"),),
        "verse": (("i", "bII", "i", "bVII"), ("i", "bII", "bIII", "bII")),
        "chorus": (("bVI", "bVII", "bII", "i"), ("i", "bVII", "bVI", "bII")),
        "bridge": (("iv", "bIII", "bII", "i"), ("bIII", "iv", "bVII", "i")),
    },
}
PROGRESSIONS["pentatonic major"] = PROGRESSIONS["major"]
PROGRESSIONS["pentatonic minor"] = PROGRESSIONS["minor"]
SEVENTH_FAMILIES = ("neosoul", "citypop", "lofi", "jazz")


def with_color(symbol: str, key: Key, family: str) -> str:
    """The chord as the genre likes it: sevenths taken from the scale in soul, city pop, lo-fi
    and jazz; an added ninth on the tonic in ambient; a suspended tonic in gugak."""
    match = CHORD.match(symbol)
    if match is None or match["extension"] or match["quality"]:
        return symbol
    chord = parse_chord(symbol, key)
    if family in SEVENTH_FAMILIES:
        seventh = next(((step - chord.root) % 12 for step in key_parent_scale(key) if (step - chord.root) % 12 in (10, 11)), None)
        if seventh == 10:
            return symbol + "7"
        if seventh == 11 and symbol.lstrip("b#")[:1].isupper():
            return symbol + "maj7"
        return symbol
    tonic = chord.root == key.pitch_class
    if family == "ambient" and tonic:
        return symbol + "add9"
    if family == "gugak" and tonic:
        return symbol + "sus2"
    return symbol


def fit_bars(bars: list[int], steps: Sequence[int], target: float) -> list[int]:
    """Grow or shrink sections, each by whole progressions (``steps`` bars), towards ``target``
    bars in all: always the change that brings the total nearest, the shorter sections grown
    first and the longer ones shrunk first."""
    bars = list(bars)
    while True:
        missing = target - sum(bars)
        options = [i for i, step in enumerate(steps) if abs(missing - math.copysign(step, missing)) < abs(missing)
                   and (missing > 0 or bars[i] - step >= step)]
        if not options:
            return bars
        index = min(options, key=lambda i: (abs(missing - math.copysign(steps[i], missing)), bars[i] if missing > 0 else -bars[i], i))
        bars[index] += int(math.copysign(steps[index], missing))


def form_for(target_bars: int) -> list[str]:
    kinds = list(next(kinds for least, kinds in FORMS if target_bars >= least))
    if target_bars >= 160:  # more verse-chorus rounds, an interlude before each
        rounds = min((target_bars - 110) // 50, 7)
        kinds = kinds[:5] + ["interlude", "verse", "chorus"] * rounds + kinds[5:]
    return kinds


def numbered_names(kinds: Sequence[str]) -> list[str]:
    """'verse 1', 'verse 2' where a kind returns; a lone 'bridge' keeps its plain name."""
    counts = {kind: kinds.count(kind) for kind in kinds}
    seen: dict[str, int] = {}
    names = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        names.append(f"{kind} {seen[kind]}" if counts[kind] > 1 else kind)
    return names


# --- the procedural planner --------------------------------------------------------------------

def felt_factor(time_signature: TimeSignature) -> float:
    """Quarter notes per felt beat: 1.5 in 6/8 and 12/8 (a dotted quarter), else 1."""
    return 1.5 if time_signature.denominator >= 8 and time_signature.numerator % 3 == 0 and time_signature.numerator > 3 else 1.0


class ProceduralPlanner:
    """Plans from the persona's MusicDNA and the brief's mood words, seeded: no model, no randomness
    from outside the brief."""

    def __init__(self, music: MusicDNA, persona: str = ""):
        self.music = music
        self.persona = persona

    def plan(self, brief: MusicBrief | str) -> CompositionPlan:
        brief = MusicBrief.of(brief)
        rng = random.Random(f"plan:{brief.seed}:{brief.text}")
        mood = read_mood(brief.text)
        words = brief_words(brief.text)
        genre = self.genre(brief, words, rng)
        family = genre_family(genre)
        time_signature = brief.time_signature or self.time_signature(family, words, rng)
        bpm = brief.bpm or self.tempo(mood, time_signature, rng)
        key = Key.parse(brief.key) if brief.key else self.key(mood, rng)
        sections = self.sections(brief.minutes, bpm, time_signature, key, family, mood, rng)
        return CompositionPlan(
            title=title_of(brief.text, key), bpm=bpm, key=key, time_signature=time_signature, sections=sections,
            instruments=assign_instruments(self.music.instruments, family, rng), genre=genre,
            mood=list(mood.words[:8]), seed=brief.seed, signature=self.music.signature_motif, persona=self.persona,
        )

    def genre(self, brief: MusicBrief, words: Sequence[str], rng: random.Random) -> str:
        if brief.genre:
            return brief.genre
        genres = self.music.genres or ["pop"]
        scores = {genre: genre_score(genre, words) for genre in genres}
        best = max(scores.values())
        return rng.choice([genre for genre in genres if scores[genre] == best])

    def time_signature(self, family: str, words: Sequence[str], rng: random.Random) -> TimeSignature:
        if any(word.lower().startswith("waltz") for word in words):
            return TimeSignature(numerator=3, denominator=4)
        if family == "gugak":  # jangdan such as gutgeori and semachi move in threes
            return TimeSignature(numerator=rng.choice((12, 6)), denominator=8)
        return TimeSignature(numerator=4, denominator=4)

    def tempo(self, mood: MoodReading, time_signature: TimeSignature, rng: random.Random) -> float:
        """Within the persona's tempo range: slow moods low in it, lively ones high."""
        low, high = self.music.tempo_range
        position = min(max(0.5 + 0.4 * mood.tempo + rng.uniform(-0.07, 0.07), 0.0), 1.0)
        felt = round(low + position * (high - low))
        return float(min(max(felt * felt_factor(time_signature), 40), 240))

    def key(self, mood: MoodReading, rng: random.Random) -> Key:
        """A key from the persona's list whose mode is as bright or dark as the brief."""
        keys = [Key.parse(text) for text in (self.music.keys or DEFAULT_KEYS)]
        target = mood.brightness + rng.uniform(-0.1, 0.1)
        distances = [abs(MODE_BRIGHTNESS[key.mode] - target) for key in keys]
        nearest = min(distances)
        return rng.choice([key for key, distance in zip(keys, distances) if distance <= nearest + 0.25])

    def sections(self, minutes: float, bpm: float, time_signature: TimeSignature, key: Key, family: str,
                 mood: MoodReading, rng: random.Random) -> list[Section]:
        """A song form sized to the minutes asked for: intro, verses, choruses, bridge, outro, each
        a whole number of progressions, energy rising to the last chorus and falling away."""
        target = minutes * bpm / time_signature.beats_per_bar
        if target > MAX_BARS:
            log.warning("%g minutes at %g bpm needs %d bars; a plan holds at most %d", minutes, bpm, round(target), MAX_BARS)
            target = MAX_BARS
        kinds = form_for(round(target))
        progressions = self.progressions(key, family, rng)
        steps = [len(progressions[kind]) for kind in kinds]
        total_weight = sum(WEIGHTS[kind] for kind in kinds)
        ideal = [max(step, round(target * WEIGHTS[kind] / total_weight / step) * step) for kind, step in zip(kinds, steps)]
        bars = fit_bars(ideal, steps, target)
        names = numbered_names(kinds)
        chorus_count = kinds.count("chorus")
        sections, choruses, verses = [], 0, 0
        for kind, name, count in zip(kinds, names, bars):
            energy = ENERGY[kind]
            if kind == "chorus":  # each chorus louder than the one before; a lone chorus near the top
                choruses += 1
                energy += 0.2 * (choruses - 1) / (chorus_count - 1) if chorus_count > 1 else 0.1
            if kind == "verse":
                verses += 1
                energy += min(0.05 * (verses - 1), 0.15)
            energy = round(min(max(energy + 0.12 * mood.energy, 0.05), 1.0), 2)
            sections.append(Section(name=name, bars=count, chords=list(progressions[kind]), energy=energy,
                                    loop=kind == "chorus" and choruses == 1))
        return sections

    def progressions(self, key: Key, family: str, rng: random.Random) -> dict[str, tuple[str, ...]]:
        """One progression per section kind, so every verse has the same chords."""
        table = PROGRESSIONS[key.mode]
        chosen = {kind: rng.choice(table[kind]) for kind in ("calm", "verse", "chorus", "bridge")}
        by_kind = {"intro": chosen["calm"], "outro": chosen["calm"], "interlude": rng.choice(table["calm"]),
                   "verse": chosen["verse"], "chorus": chosen["chorus"], "bridge": chosen["bridge"]}
        return {kind: tuple(with_color(symbol, key, family) for symbol in chords) for kind, chords in by_kind.items()}


def title_of(text: str, key: Key) -> str:
    """'rainy Seoul night, hopeful' -> 'Rainy Seoul Night, Hopeful'."""
    words = " ".join(text.split()).split(" ") if text.strip() else []
    titled = " ".join(word if any(c.isupper() for c in word) else word[:1].upper() + word[1:] for word in words)
    if len(titled) > 80:
        titled = titled[:80].rsplit(" ", 1)[0].rstrip(",;:-")
    return titled or f"Sketch in {key}"
