"""Stems: every part rendered on its own (no bleed), all the same length from sample 0, notes
sounding where the score puts them, the stems summing exactly to the mix; the built-in synth
steps in, and says so, when FluidSynth or the soundfont is missing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from music_helpers import handmade_score

from pipelines.music import render, synth
from pipelines.music.render import BUILT_IN, BUILT_IN_LICENCE, FluidSynthUnavailable, render_stems

RATE = 48_000


def late_bass_score():
    """The handmade score (8 bars at 120 BPM = 16 s), but the bass enters only at bar 3 (beat 8, 4 s)."""
    score = handmade_score()
    bass = next(part for part in score.parts if part.role == "bass")
    bass.notes = [note for note in bass.notes if note.start >= 8]
    return score


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def first_sound(audio: np.ndarray, threshold: float = 1e-3) -> int:
    return int(np.flatnonzero(np.abs(audio).max(axis=1) > threshold)[0])


def fluidsynth_stems(score):
    """render_stems as it runs with FluidSynth and the system's General MIDI soundfont, which
    `make install` installs (Debian fluidsynth and timgm6mb-soundfont); a fallback fails the test."""
    result = render_stems(score)
    assert result.fallback_reason is None, f"FluidSynth did not render ({result.fallback_reason}): run `make install`"
    return result


def check_stems(result, score) -> None:
    expected_frames = round((16.0 + render.RELEASE_TAIL_S) * RATE)
    assert [stem.name for stem in result.stems] == [part.name for part in score.parts]
    for stem in result.stems:
        assert stem.audio.shape == (expected_frames, 2) and stem.audio.dtype == np.float32
        assert rms(stem.audio) > 1e-3, f"{stem.name} is silent"
        assert np.abs(stem.audio).max() < 1.0, f"{stem.name} clips"
    bass = result.stems[[part.role for part in score.parts].index("bass")].audio
    assert rms(bass[: 4 * RATE]) < 1e-6  # nothing of the other parts leaks into the bass stem
    assert 4 * RATE <= first_sound(bass) <= 4 * RATE + 0.02 * RATE  # it starts on beat 8, within 20 ms
    assert np.array_equal(result.mix(), sum(stem.audio for stem in result.stems))


def test_fluidsynth_renders_separate_equal_length_stems_that_sum_to_the_mix():
    score = late_bass_score()
    result = fluidsynth_stems(score)
    assert result.renderer == "fluidsynth TimGM6mb.sf2"
    assert result.licence.startswith("GPL-2") and result.fallback_reason is None
    check_stems(result, score)
    # The drum stem is the GM kit on its own channel: a kick on every downbeat, hats between.
    drums = result.stems[-1].audio
    assert first_sound(drums) < 0.01 * RATE


def test_rendering_is_repeatable():
    score = handmade_score(bars=(2,))
    first, second = fluidsynth_stems(score), fluidsynth_stems(score)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first.stems, second.stems))


def test_two_synths_side_by_side_render_what_one_synth_renders(monkeypatch):
    score = handmade_score()
    together = fluidsynth_stems(score)
    monkeypatch.setattr(render, "RENDER_SYNTHS", 1)
    alone = fluidsynth_stems(score)
    # FluidSynth's re-struck drum notes vary a little with the synth's other channels.
    for a, b in zip(together.stems, alone.stems):
        assert rms(a.audio - b.audio) < 0.02 * rms(b.audio), a.name


def test_parts_are_shared_out_by_how_much_they_play():
    score = handmade_score()
    groups = render.balanced_groups(score.parts, 2)
    assert sorted(index for group in groups for index in group) == list(range(len(score.parts)))
    played = [sum(note.duration for index in group for note in score.parts[index].notes) for group in groups]
    biggest = max(sum(note.duration for note in part.notes) for part in score.parts)
    assert len(groups) == 2 and max(played) - min(played) <= biggest
    assert render.balanced_groups(score.parts[:1], 4) == [[0]]


def test_a_missing_soundfont_falls_back_to_the_built_in_synth_and_says_so(caplog):
    score = late_bass_score()
    with caplog.at_level(logging.WARNING, logger="pipelines.music.render"):
        result = render_stems(score, soundfont=Path("/nope.sf2"))
    assert result.renderer == BUILT_IN and result.licence == BUILT_IN_LICENCE
    assert "/nope.sf2" in result.fallback_reason
    assert any("built-in synth" in record.message and "/nope.sf2" in record.message for record in caplog.records)
    check_stems(result, score)


def test_missing_fluidsynth_falls_back_too(monkeypatch):
    def unavailable():
        raise FluidSynthUnavailable("FluidSynth is not available (no libfluidsynth)")

    monkeypatch.setattr(render, "fluidsynth_api", unavailable)
    result = render_stems(handmade_score(bars=(1,)), soundfont=None)
    assert result.renderer == BUILT_IN and "libfluidsynth" in result.fallback_reason


def spectral_centroid(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float((np.fft.rfftfreq(wave.size, 1 / RATE) * spectrum).sum() / spectrum.sum())


def test_built_in_drums_sound_like_their_names():
    kick, snare, hat, crash, tom = (synth.drum_voice(pitch, RATE // 4, RATE) for pitch in (36, 38, 42, 49, 45))
    assert spectral_centroid(kick) < spectral_centroid(tom) < 1000 < spectral_centroid(snare) < spectral_centroid(hat)
    assert spectral_centroid(hat) > 5000 and spectral_centroid(crash) > 5000
    assert kick.size < RATE and max(hat.size, snare.size) < crash.size  # their own lengths, whatever the note's


@pytest.mark.parametrize("program", [0, 11, 17, 25, 33, 41, 57, 66, 81, 89, 105])
def test_every_general_midi_family_gets_a_voice_at_its_pitch(program):
    voice = synth.pitched_voice(program)
    wave = voice(57, RATE // 2, RATE)  # A3: 220 Hz
    assert wave.dtype == np.float32 and wave.size > RATE // 2  # the release rings on past the note
    spectrum = np.abs(np.fft.rfft(wave[: RATE // 2]))
    strongest = np.fft.rfftfreq(RATE // 2, 1 / RATE)[spectrum.argmax()]
    assert strongest == pytest.approx(220, abs=3)


def test_empty_scores_and_too_many_parts_are_clear_errors():
    score = handmade_score(bars=(1,))
    score.parts, parts = [], score.parts
    with pytest.raises(ValueError, match="no parts"):
        render_stems(score)
    score.parts = parts * 5
    with pytest.raises(ValueError, match="at most 16"):
        render_stems(score)
