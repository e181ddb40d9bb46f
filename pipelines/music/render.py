"""Stems: each part of a score rendered to its own stereo buffer, all the same length.

FluidSynth with a General MIDI soundfont does the rendering. Each part plays on its own MIDI
channel routed to its own output, so a piece is rendered in one pass; the parts are shared
between two synths that render at the same time. Reverb and chorus are off, so every sound lives in exactly one stem and the stems add
up to the mix. Without FluidSynth or a soundfont the built-in synth renders instead, and
`RenderResult.renderer` says so:

    result = render_stems(score, soundfont=None)   # the system's GM soundfont, if any
    result.renderer                                # 'fluidsynth TimGM6mb.sf2' or 'built-in synth'
    mix = result.mix()                             # (frames, 2) float32, the sum of the stems
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from pipelines.music import synth
from pipelines.music.midi import playable_notes
from pipelines.music.score import Part, Score

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
RELEASE_TAIL_S = 2.0  # after the last note, so every stem keeps its decay
FLUIDSYNTH_GAIN = 0.2  # 0.5 clips on dense parts; mastering brings the level up
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
)
# Where Debian documents each soundfont's licence.
SOUNDFONT_COPYRIGHT = {
    "TimGM6mb.sf2": Path("/usr/share/doc/timgm6mb-soundfont/copyright"),
    "FluidR3_GM.sf2": Path("/usr/share/doc/fluid-soundfont-gm/copyright"),
}
# Synths rendering at once, each on its own core. Fixed, not one a core: FluidSynth's drums
# sound a little different (under 2% RMS) with what else their synth plays, and a piece must
# render to the same samples on any machine.
RENDER_SYNTHS = 2
BUILT_IN = "built-in synth"
BUILT_IN_LICENCE = "generated, no third-party samples"


@dataclass
class Stem:
    name: str
    role: str
    program: int
    audio: np.ndarray  # (frames, 2) float32, from sample 0 of the piece


@dataclass
class RenderResult:
    stems: list[Stem]
    sample_rate: int
    renderer: str  # 'fluidsynth <soundfont>' or 'built-in synth'
    licence: str  # of the sounds: the soundfont's licence, or the built-in synth's
    fallback_reason: str | None = None  # why the built-in synth rendered, when it did

    @property
    def frames(self) -> int:
        return self.stems[0].audio.shape[0] if self.stems else 0

    def mix(self) -> np.ndarray:
        """The stems summed: the unmastered mix."""
        planar = np.zeros((2, self.frames), dtype=np.float32)  # contiguous rows add fastest
        for stem in self.stems:
            planar += stem.audio.T
        return planar.T


def render_stems(score: Score, soundfont: Path | None = None, sample_rate: int = SAMPLE_RATE) -> RenderResult:
    """Render every part to a stereo stem; FluidSynth if it can, else the built-in synth."""
    if not score.parts:
        raise ValueError("the score has no parts to render")
    if len(score.parts) > 16:
        raise ValueError(f"the score has {len(score.parts)} parts; at most 16 can be rendered (one per MIDI channel)")
    frames = piece_frames(score, sample_rate)
    found, reason = find_soundfont(soundfont)
    if found is not None:
        try:
            audio = render_with_fluidsynth(score, found, sample_rate, frames)
            return stems_result(score, audio, sample_rate, f"fluidsynth {found.resolve().name}", soundfont_licence(found))
        except FluidSynthUnavailable as error:
            reason = str(error)
    logger.warning("rendering with the built-in synth: %s", reason)
    audio = render_with_built_in_synth(score, sample_rate, frames)
    return stems_result(score, audio, sample_rate, BUILT_IN, BUILT_IN_LICENCE, fallback_reason=reason)


def stems_result(score: Score, audio: np.ndarray, sample_rate: int, renderer: str, licence: str, fallback_reason: str | None = None) -> RenderResult:
    """`audio` is (parts, 2, frames); each stem is a (frames, 2) view of it."""
    stems = [Stem(part.name, part.role, part.program, audio[index].T) for index, part in enumerate(score.parts)]
    return RenderResult(stems, sample_rate, renderer, licence, fallback_reason)


def piece_frames(score: Score, sample_rate: int) -> int:
    """The length of every stem: to the end of the piece or its last note, plus the tail."""
    last_note_end = max((note.start + note.duration for part in score.parts for note in part.notes), default=0.0)
    end_seconds = score.seconds(max(score.total_beats, last_note_end))
    return round((end_seconds + RELEASE_TAIL_S) * sample_rate)


def find_soundfont(explicit: Path | None) -> tuple[Path | None, str]:
    """The soundfont to use, or None and why not: the given path, else the system's GM soundfont."""
    if explicit is not None:
        explicit = Path(explicit)
        if explicit.is_file():
            return explicit, ""
        return None, f"soundfont {explicit} not found"
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.is_file():
            return candidate, ""
    return None, f"no General MIDI soundfont found (looked for {', '.join(str(path) for path in SOUNDFONT_CANDIDATES)})"


def soundfont_licence(soundfont: Path) -> str:
    """The licence Debian records for the soundfont, else a pointer to the soundfont itself."""
    name = soundfont.resolve().name  # default-GM.sf2 is a link to the real one
    copyright_file = SOUNDFONT_COPYRIGHT.get(name)
    try:
        text = copyright_file.read_text(encoding="utf-8") if copyright_file else ""
    except OSError:
        text = ""
    for stanza in text.split("\n\n"):  # Debian copyright files: one stanza per set of files
        licence = re.search(r"^License:\s*(\S.*)$", stanza, re.MULTILINE)
        if name in stanza and licence:
            return f"{licence.group(1).strip()} (soundfont {name}, {copyright_file})"
    return "see soundfont"


# pyfluidsynth, and the two C functions it does not wrap: planar float output and channel type.
FluidSynthApi = tuple[ModuleType, Callable[..., int], Callable[..., int]]


class FluidSynthUnavailable(RuntimeError):
    """FluidSynth cannot render here: the library is missing or the soundfont does not load."""


def render_with_fluidsynth(score: Score, soundfont: Path, sample_rate: int, frames: int) -> np.ndarray:
    """(parts, 2, frames) float32: each part heard only in its own output.

    The parts are shared out between two synths that render at once: FluidSynth's C code
    runs without the GIL, so two cores render in about half the time of one.
    """
    api = fluidsynth_api()
    audio = np.zeros((len(score.parts), 2, frames), dtype=np.float32)
    groups = balanced_groups(score.parts, RENDER_SYNTHS)
    samples_per_beat = score.plan.seconds_per_beat * sample_rate
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="fluidsynth") as pool:
        rendering = [pool.submit(render_group, api, score, group, soundfont, sample_rate, samples_per_beat, audio) for group in groups]
        for future in rendering:
            future.result()  # the first failure, raised here
    return audio


def balanced_groups(parts: Sequence[Part], count: int) -> list[list[int]]:
    """Part indices in `count` groups of about equal work (sounding note-beats, drums and all)."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(count, len(parts))))]
    work = [0.0] * len(groups)
    played = [sum(note.duration for note in part.notes) for part in parts]
    for index in sorted(range(len(parts)), key=lambda index: -played[index]):  # the biggest part first,
        lightest = work.index(min(work))  # each to the group with the least so far
        groups[lightest].append(index)
        work[lightest] += played[index]
    return [sorted(group) for group in groups if group]


def render_group(api: FluidSynthApi, score: Score, group: list[int], soundfont: Path, sample_rate: int,
                 samples_per_beat: float, audio: np.ndarray) -> None:
    """One synth renders the parts in `group` into their rows of `audio`: the group's part c
    plays on MIDI channel c, heard only in output c."""
    fluidsynth, write_planar, set_channel_type = api
    parts = [score.parts[index] for index in group]
    frames = audio.shape[2]
    # One core a synth (the default): FluidSynth's own helper threads cost more CPU than they save.
    player = fluidsynth.Synth(gain=FLUIDSYNTH_GAIN, samplerate=float(sample_rate), **{
        "synth.reverb.active": 0,  # shared effects would mix the parts together
        "synth.chorus.active": 0,
        "synth.audio-channels": len(parts),  # MIDI channel c sounds in output c % audio-groups
        "synth.audio-groups": len(parts),
    })
    outputs = PlanarOutputs([audio[index] for index in group])

    def render_span(start: int, end: int) -> None:
        """Float samples, one stereo pair of buffers a part, straight into `audio`."""
        if write_planar(player.synth, end - start, *outputs.at(start), None, None) != 0:
            raise RuntimeError(f"FluidSynth failed to render samples {start}..{end}")

    try:
        font = player.sfload(str(soundfont))
        if font < 0:
            raise FluidSynthUnavailable(f"FluidSynth could not load the soundfont {soundfont}")
        for channel, part in enumerate(parts):
            set_channel_type(player.synth, channel, 1 if part.is_drums else 0)
            # Bank 128 is General MIDI's drum kits; kit 0 is the standard kit.
            player.program_select(channel, font, 128 if part.is_drums else 0, 0 if part.is_drums else part.program)
        position = 0
        for sample, is_on, channel, pitch, velocity in fluidsynth_events(parts, samples_per_beat, frames):
            if sample > position:  # one block of audio between events, however long
                render_span(position, sample)
                position = sample
            if is_on:
                player.noteon(channel, pitch, velocity)
            else:
                player.noteoff(channel, pitch)
        if frames > position:
            render_span(position, frames)
    finally:
        player.delete()


def render_with_built_in_synth(score: Score, sample_rate: int, frames: int) -> np.ndarray:
    """(parts, 2, frames) float32; the built-in voices are mono, centred in both channels."""
    audio = np.empty((len(score.parts), 2, frames), dtype=np.float32)
    for index, part in enumerate(score.parts):
        audio[index] = synth.render_part(part, score.plan.seconds_per_beat, sample_rate, frames)
    return audio


def fluidsynth_events(parts: Sequence[Part], samples_per_beat: float, frames: int) -> list[tuple[int, bool, int, int, int]]:
    """(sample, is_on, channel, pitch, velocity) in time order, note-offs first at a sample;
    part c plays on channel c."""
    events = []
    for channel, part in enumerate(parts):
        for note in playable_notes(part):
            start = min(round(note.start * samples_per_beat), frames)
            end = min(round((note.start + note.duration) * samples_per_beat), frames)
            events.append((start, True, channel, note.pitch, note.velocity))
            events.append((end, False, channel, note.pitch, 0))
    events.sort(key=lambda event: event[:2])
    return events


class PlanarOutputs:
    """C pointers into (2, frames) float32 rows, one a part, at a frame, for fluid_synth_nwrite_float."""

    def __init__(self, stems: Sequence[np.ndarray]):
        self.parts = len(stems)
        self.left = [stem[0].ctypes.data for stem in stems]
        self.right = [stem[1].ctypes.data for stem in stems]

    def at(self, frame: int) -> tuple[ctypes.Array, ctypes.Array]:
        offset = frame * 4  # bytes in a float32
        pointers = ctypes.c_void_p * self.parts
        return pointers(*(base + offset for base in self.left)), pointers(*(base + offset for base in self.right))


def fluidsynth_api() -> FluidSynthApi:
    """pyfluidsynth, and the two C functions it does not wrap: planar float output and channel type."""
    try:
        # pyfluidsynth prints where it found the library when CI is set; stdout carries our JSON.
        with contextlib.redirect_stdout(sys.stderr):
            import fluidsynth
    except (ImportError, OSError) as error:
        raise FluidSynthUnavailable(f"FluidSynth is not available ({error})") from None
    write_planar = fluidsynth.cfunc(
        "fluid_synth_nwrite_float", ctypes.c_int,
        ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
        ("left", ctypes.c_void_p, 1), ("right", ctypes.c_void_p, 1),
        ("fx_left", ctypes.c_void_p, 1), ("fx_right", ctypes.c_void_p, 1),
    )
    set_channel_type = fluidsynth.cfunc(
        "fluid_synth_set_channel_type", ctypes.c_int,
        ("synth", ctypes.c_void_p, 1), ("chan", ctypes.c_int, 1), ("type", ctypes.c_int, 1),
    )
    if write_planar is None or set_channel_type is None:
        raise FluidSynthUnavailable("this FluidSynth library is older than 2.0 (no planar output)")
    return fluidsynth, write_planar, set_channel_type
