"""The MusicGen backend with a tiny random MusicGen-Melody built in code, saved to a folder and
loaded through the production loader (the same kind of "dummy components" diffusers' tests
use). The piece is 6 s at 240 bpm and windows are at most 3 s, so a stem is four generate()
calls of a few hundred steps: the whole file runs in seconds on one CPU thread.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile
import torch
from music_helpers import A_MINOR_SCALE, handmade_score
from transformers import MusicgenMelodyForConditionalGeneration

from persona.card import load_persona
from pipelines.music.bundle import LicenceError, export_bundle, section_entries
from pipelines.music.config import MusicgenConfig
from pipelines.music.master import true_peak_dbtp
from pipelines.music.musicgen import (
    REAL_SIZES,
    MusicgenModelError,
    MusicgenRenderer,
    melody_chroma,
    musicgen_prompt,
    plan_windows,
    real_size_config,
    save_random_musicgen,
    section_prompt,
    split_span,
)
from pipelines.music.planner import MusicBrief, ProceduralPlanner
from pipelines.music.render import SAMPLE_RATE, piece_frames, render_stems
from pipelines.progress import Cancelled

PERSONAS = Path(__file__).resolve().parent.parent / "configs" / "personas"
MODEL_NAME = "facebook/musicgen-melody"
MAX_SECONDS = 3.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_random_musicgen(tmp_path_factory.mktemp("models") / "musicgen-melody-tiny")


@pytest.fixture(scope="module")
def config(model_dir) -> MusicgenConfig:
    return MusicgenConfig(model_dir=model_dir, model_name=MODEL_NAME, max_seconds_per_call=MAX_SECONDS)


@pytest.fixture(scope="module")
def renderer(config) -> MusicgenRenderer:
    return config.load()


@pytest.fixture(scope="module")
def score():
    """intro 1 bar, verse 2 bars, chorus 1 bar at 240 bpm: 4 s of music and the 2 s release tail."""
    return handmade_score(bars=(1, 2, 1), bpm=240.0, title="Night Drive")


@pytest.fixture(scope="module")
def rendered(score):
    return render_stems(score)


@pytest.fixture(scope="module")
def made(renderer, score):
    reports = []
    stem = renderer.render(score, "city pop instrumental, 240 bpm, A minor", progress=lambda done, total: reports.append((done, total)))
    return stem, reports


# --- loading -----------------------------------------------------------------------------------


def test_the_folder_loads_through_the_production_loader(renderer, model_dir):
    assert (renderer.device.type, renderer.model.dtype) == ("cpu", torch.float32)  # no GPU here
    assert (renderer.model_name, renderer.licence) == (MODEL_NAME, "CC-BY-NC-4.0")
    assert renderer.sample_rate == 32_000 and renderer.samples_per_frame == 640  # 50 code frames a second, like the real one
    assert renderer.max_seconds_per_call == MAX_SECONDS
    unnamed = MusicgenRenderer.from_pretrained(model_dir)
    assert unnamed.model_name == "musicgen-melody-tiny"  # the folder's name by default


def test_a_missing_folder_says_which_folder_and_what_to_configure(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(MusicgenModelError, match=r"nowhere does not exist: set music\.musicgen\.model_dir"):
        MusicgenRenderer.from_pretrained(missing)
    with pytest.raises(MusicgenModelError, match=r"no config\.json"):
        MusicgenRenderer.from_pretrained(tmp_path)
    with pytest.raises(MusicgenModelError, match="no MusicGen model configured"):
        MusicgenRenderer.from_pretrained(None)


def test_an_incomplete_or_wrong_folder_names_what_is_missing(tmp_path, model_dir):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((model_dir / "config.json").read_bytes())
    with pytest.raises(MusicgenModelError, match=r"partial is incomplete: missing model weights .* and the T5 tokenizer"):
        MusicgenRenderer.from_pretrained(partial)
    text_only = tmp_path / "musicgen-small"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "musicgen"}))
    with pytest.raises(MusicgenModelError, match="text-only MusicGen: melody conditioning needs a musicgen-melody model"):
        MusicgenRenderer.from_pretrained(text_only)


# --- the stem ----------------------------------------------------------------------------------


def test_the_stem_is_48k_exactly_as_long_as_the_bundle_and_loudness_normalised(made, score, rendered, renderer):
    stem, _ = made
    assert (stem.sample_rate, stem.model, stem.licence) == (SAMPLE_RATE, MODEL_NAME, "CC-BY-NC-4.0")
    assert stem.audio.dtype == np.float32 and stem.audio.shape == (rendered.frames, 1) == (piece_frames(score, SAMPLE_RATE), 1)
    assert np.isfinite(stem.audio).all()
    assert pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(stem.audio) == pytest.approx(renderer.stem_lufs, abs=0.5)
    assert true_peak_dbtp(stem.audio, SAMPLE_RATE) <= -1.0
    assert abs(float(stem.audio.mean())) < 1e-3  # no DC offset left from the codec


def test_progress_counts_windows(made, renderer, score):
    _, reports = made
    total = len(renderer.windows(score))
    assert reports == [(done, total) for done in range(1, total + 1)]


def test_a_seed_makes_the_stem_repeatable(renderer, score, made):
    stem, _ = made
    again = renderer.render(score, "city pop instrumental, 240 bpm, A minor")
    other = renderer.render(score, "city pop instrumental, 240 bpm, A minor", seed=score.plan.seed + 100)
    np.testing.assert_array_equal(again.audio, stem.audio)
    assert not np.allclose(other.audio, stem.audio)


def test_cancelling_between_windows_stops_the_stem(renderer, score):
    cancel, reports = threading.Event(), []

    def progress(done, total):
        reports.append((done, total))
        cancel.set()  # as a user pressing stop while the first window was made

    with pytest.raises(Cancelled, match="cancelled after 1 of"):
        renderer.render(score, "lo-fi", progress=progress, cancel=cancel)
    assert reports == [(1, len(renderer.windows(score)))]


def test_cancelling_inside_a_window_stops_generation_at_once(renderer, score):
    checks = []

    def cancel() -> bool:  # a plain callable works too; true from the 5th check on
        checks.append(True)
        return len(checks) > 4

    with pytest.raises(Cancelled, match="during window 1"):
        renderer.render(score, "lo-fi", cancel=cancel)
    assert len(checks) < 20  # stopped a few frames in, not after the window's ~100 steps


# --- windows on the tempo grid -----------------------------------------------------------------


def test_windows_start_on_the_sections_samples_and_cover_the_bundle(renderer, score):
    windows = renderer.windows(score)
    frames = piece_frames(score, SAMPLE_RATE)
    starts = [window.start_sample for window in windows]
    assert {entry["start_sample"] for entry in section_entries(score)} <= set(starts)  # as the manifest says
    assert starts[0] == 0 and windows[-1].end_sample == frames
    assert all(a.end_sample == b.start_sample for a, b in zip(windows, windows[1:]))  # no gap, no overlap but the fade
    assert all(window.samples <= MAX_SECONDS * SAMPLE_RATE for window in windows)
    assert windows[0].lead_in == 0 and all(window.lead_in == SAMPLE_RATE // 4 for window in windows[1:])


def test_a_long_section_is_split_on_bar_lines():
    score = handmade_score(bars=(2, 12, 2), bpm=120.0)  # the verse is 24 s
    windows = plan_windows(score, max_seconds=10.0)
    verse = [window for window in windows if window.section == "verse"]
    assert len(verse) == 3 and all(window.start_beat % 4 == 0 for window in verse)
    assert all(window.samples <= 10 * SAMPLE_RATE for window in windows)
    assert split_span(0.0, 6.0, 2.5, 4.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]  # bars too long: on beats


# --- conditioning ------------------------------------------------------------------------------


def test_every_window_is_conditioned_on_its_stretch_of_the_melody(renderer, score, monkeypatch):
    calls = []
    generate = renderer.model.generate

    def spy(**inputs):
        calls.append(inputs)
        return generate(**inputs)

    monkeypatch.setattr(renderer.model, "generate", spy)
    renderer.render(score, "city pop")
    windows = renderer.windows(score)
    assert len(calls) == len(windows)
    melody = score.melody
    frames_per_second = 32_000 / 4096
    for window, inputs in zip(windows, calls):
        chroma = inputs["input_features"][0].numpy()
        assert chroma.shape[1] == 12 and (chroma.sum(axis=1) == 1).all()  # one-hot, as the feature extractor makes it
        times = window.first_sample / SAMPLE_RATE + np.arange(chroma.shape[0]) / frames_per_second
        for time, row in zip(times, chroma):
            beat = time / score.plan.seconds_per_beat
            sounding = [note.pitch for note in melody.notes if note.start <= beat < note.start + note.duration]
            if sounding:
                assert row.argmax() == max(sounding) % 12, f"window {window.index} at {time:.3f} s"
        text = renderer.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True)
        assert window.section in text
        assert inputs["max_new_tokens"] >= window.samples / SAMPLE_RATE * 50


def test_melody_chroma_holds_the_last_note_through_rests_and_starts_on_the_tonic(score):
    melody = score.melody
    rest_start = (melody.notes[0].start + melody.notes[0].duration) * score.plan.seconds_per_beat  # notes last 0.45 of 0.5 beats
    chroma = melody_chroma(melody, score, rest_start + 0.001, 1, 10.0)
    assert chroma[0].argmax() == A_MINOR_SCALE[0] % 12  # the first note, held
    assert melody_chroma(None, score, 0.0, 3, 10.0).argmax(axis=1).tolist() == [9, 9, 9]  # A minor's tonic


def test_the_prompt_names_genre_mood_tempo_key_and_instruments():
    card = load_persona("haeun", PERSONAS)
    brief = MusicBrief(text="rainy Seoul night, hopeful", minutes=1, seed=7)
    plan = ProceduralPlanner(card.music, persona=card.name).plan(brief)
    prompt = musicgen_prompt(card.music, brief, plan)
    assert plan.genre and prompt.startswith(f"{plan.genre} instrumental")
    assert f"{round(plan.bpm)} bpm" in prompt and str(plan.key) in prompt
    assert "rainy Seoul night, hopeful" in prompt and "mood: rainy, night, hopeful" in prompt
    assert all(part.name in prompt for part in plan.instruments)
    assert section_prompt(prompt, "chorus 2", 0.85).endswith(", chorus, full and loud")
    assert section_prompt(prompt, "intro", 0.2).endswith(", intro, sparse and quiet")


# --- the bundle --------------------------------------------------------------------------------


def test_the_stem_joins_the_bundle_with_its_model_and_licence(made, score, rendered, tmp_path):
    stem, _ = made
    folder = export_bundle(score, tmp_path, rendered=rendered, musicgen=[stem]).folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entry = next(entry for entry in manifest["files"] if entry.get("model"))
    assert entry["path"] == "stems/05-musicgen.wav"
    assert (entry["model"], entry["licence"]) == (MODEL_NAME, "CC-BY-NC-4.0")
    assert manifest["commercial_use"] is False and manifest["frames"] == rendered.frames
    info = soundfile.info(folder / entry["path"])
    assert (info.samplerate, info.subtype, info.frames, info.channels) == (SAMPLE_RATE, "PCM_24", rendered.frames, 2)
    audio, _ = soundfile.read(folder / entry["path"], dtype="float32")
    np.testing.assert_allclose(audio[:, 0], stem.audio[:, 0], atol=2**-22)  # 24-bit, sample for sample


def test_a_commercial_export_refuses_the_stem_and_leaves_nothing(made, score, rendered, tmp_path):
    stem, _ = made
    with pytest.raises(LicenceError, match=r"stems/05-musicgen\.wav \(CC-BY-NC-4\.0\)"):
        export_bundle(score, tmp_path, rendered=rendered, musicgen=[stem], commercial=True)
    assert list(tmp_path.iterdir()) == []


# --- random models of the real sizes (for GPU benchmarks) ---------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_SIZES))
def test_real_size_configs_construct(name):
    config = real_size_config(name)
    hidden_size, layers, heads = REAL_SIZES[name]
    decoder = config.decoder
    assert (decoder.hidden_size, decoder.num_hidden_layers, decoder.num_attention_heads) == (hidden_size, layers, heads)
    assert decoder.pad_token_id == decoder.bos_token_id == decoder.vocab_size == 2048  # pad/bos = vocab size
    assert config.audio_encoder.frame_rate == 50 and config.audio_encoder.num_quantizers == decoder.num_codebooks == 4
    assert config.text_encoder.d_model == 768 and config.chroma_length == 235


@pytest.mark.parametrize("name, decoder_billions", [("musicgen-small", 0.32), ("musicgen-melody", 1.38)])
def test_real_size_models_build_with_the_published_parameter_counts(name, decoder_billions):
    with torch.device("meta"):  # shapes only: no memory, no time
        model = MusicgenMelodyForConditionalGeneration(real_size_config(name))
    assert sum(parameter.numel() for parameter in model.decoder.parameters()) / 1e9 == pytest.approx(decoder_billions, abs=0.01)
