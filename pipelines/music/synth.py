"""The built-in synth: numpy voices for when FluidSynth or a soundfont is missing.

Each General MIDI family gets a simple voice (decaying partials for piano and plucked
sounds, a round bass, slow-attack pads, odd-harmonic leads and organs) and the drum kit is
synthesised (kick: a falling sine; snare: a noise burst over a tone; hats and cymbals:
high-passed noise). Nothing is sampled, so the audio carries no third-party licence.
Waveforms are cached per pitch and length: repeated notes cost one copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipelines.music.midi import playable_notes
from pipelines.music.score import Part

LEVEL = 0.12  # a full-velocity note; leaves headroom when parts stack up
ATTACK_S = 0.005  # long enough to avoid a click
RELEASE_S = 0.25
DRUM_SEED = 7  # the same noise in every render


def render_part(part: Part, seconds_per_beat: float, sample_rate: int, frames: int) -> np.ndarray:
    """(frames,) float32: the part's notes mixed into one mono buffer."""
    mono = np.zeros(frames, dtype=np.float32)
    voice = drum_voice if part.is_drums else pitched_voice(part.program)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for note in playable_notes(part):
        start = round(note.start * seconds_per_beat * sample_rate)
        held = max(1, round(note.duration * seconds_per_beat * sample_rate))
        if start >= frames:
            continue
        key = (note.pitch, 0 if part.is_drums else held)  # a drum hit ignores the note's length
        if key not in cache:
            cache[key] = voice(note.pitch, held, sample_rate)
        wave = cache[key][: frames - start]
        mono[start : start + wave.size] += wave * (LEVEL * (note.velocity / 127) ** 1.5)
    return mono


Voice = Callable[[int, int, int], np.ndarray]  # (pitch, held samples, sample rate) -> float32 wave


def pitched_voice(program: int) -> Voice:
    """The voice for a General MIDI program, by family (eight programs a family)."""
    family = program // 8
    if family == 0:  # pianos
        return piano
    if family in (1, 3, 13):  # chromatic percussion, guitars, ethnic plucks
        return pluck
    if family == 4:  # basses
        return bass
    if family in (2, 8, 9, 10):  # organs, synth leads, reeds, pipes
        return lead
    return pad  # strings, ensembles, brass, synth pads and effects


def piano(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    return partials(pitch, held, sample_rate, harmonics=6, rolloff=1.5, decay_per_s=1.2, attack_s=ATTACK_S)


def pluck(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    return partials(pitch, held, sample_rate, harmonics=8, rolloff=1.2, decay_per_s=4.0, attack_s=ATTACK_S)


def bass(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    return partials(pitch, held, sample_rate, harmonics=3, rolloff=2.0, decay_per_s=0.8, attack_s=0.01)


def pad(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    return partials(pitch, held, sample_rate, harmonics=8, rolloff=1.0, decay_per_s=0.0, attack_s=0.15, release_s=0.6)


def lead(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    return partials(pitch, held, sample_rate, harmonics=9, rolloff=1.0, decay_per_s=0.3, attack_s=0.02, odd_only=True)


def partials(
    pitch: int, held: int, sample_rate: int, *, harmonics: int, rolloff: float, decay_per_s: float,
    attack_s: float, release_s: float = RELEASE_S, odd_only: bool = False,
) -> np.ndarray:
    """Additive tone: harmonics at 1/k**rolloff, higher ones decaying faster, then a release."""
    frequency = 440.0 * 2 ** ((pitch - 69) / 12)
    t = np.arange(held + round(release_s * sample_rate)) / sample_rate
    wave = np.zeros(t.size)
    for k in range(1, harmonics + 1, 2 if odd_only else 1):
        if k * frequency >= sample_rate / 2.2:  # stay clear of aliasing
            break
        wave += np.sin(2 * np.pi * k * frequency * t) * np.exp(-decay_per_s * (1 + 0.5 * k) * t) / k**rolloff
    return (wave * envelope(t.size, held, sample_rate, attack_s, release_s)).astype(np.float32)


def envelope(length: int, held: int, sample_rate: int, attack_s: float, release_s: float) -> np.ndarray:
    """Linear attack, hold while the key is down, exponential release to silence."""
    gain = np.ones(length)
    attack = min(held, max(1, round(attack_s * sample_rate)))
    gain[:attack] = np.linspace(0.0, 1.0, attack, endpoint=False)
    tail = np.arange(length - held) / sample_rate
    gain[held:] = gain[held - 1] * np.exp(-5 * tail / release_s)
    return gain


# General MIDI drum notes, grouped by the sound the built-in kit makes for them.
KICKS = {35, 36}
SNARES = {37, 38, 39, 40}
CLOSED_HATS = {42, 44, 54, 69, 70}
CYMBALS = {46, 49, 51, 52, 53, 55, 57, 59}


def drum_voice(pitch: int, held: int, sample_rate: int) -> np.ndarray:
    """A drum hit: its own length, whatever the note's duration."""
    noise = np.random.default_rng(DRUM_SEED + pitch).standard_normal
    if pitch in KICKS:
        return sweep(150.0, 45.0, 0.35, sample_rate)
    if pitch in SNARES:
        t = np.arange(round(0.2 * sample_rate)) / sample_rate
        body = 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.04)
        return ((0.6 * noise(t.size) * np.exp(-t / 0.05) + body) * 0.8).astype(np.float32)
    if pitch in CLOSED_HATS or pitch in CYMBALS:
        decay_s = 0.06 if pitch in CLOSED_HATS else 0.9
        t = np.arange(round(decay_s * 4 * sample_rate)) / sample_rate
        bright = np.diff(noise(t.size + 1))  # first difference: a simple high-pass
        return (0.25 * bright * np.exp(-t / decay_s)).astype(np.float32)
    # Toms, bongos, congas and the rest: a short falling sine that follows the note number.
    start = 80.0 * 2 ** ((pitch - 41) / 12)
    return sweep(start * 1.6, start, 0.25, sample_rate)


def sweep(start_hz: float, end_hz: float, seconds: float, sample_rate: int) -> np.ndarray:
    """A sine falling exponentially in pitch and level: the body of a kick or tom."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    frequency = end_hz + (start_hz - end_hz) * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    return (np.sin(phase) * np.exp(-t / (seconds / 4))).astype(np.float32)
