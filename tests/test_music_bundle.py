"""The DAW bundle: one folder and a zip of it with MIDI, equal-length 48 kHz 24-bit stems that
sum to the mix, a master at -14 LUFS under -1 dBTP, loop points, a piano roll and a manifest
whose hashes, offsets and licences are right; nothing half-written on failure, no overwrite
by accident, no non-commercial audio in a commercial export."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import mido
import numpy as np
import pyloudnorm
import pytest
import soundfile
from music_helpers import handmade_score, smpl_loops
from PIL import Image
from scipy.signal import resample_poly

from pipelines.music import bundle
from pipelines.music.bundle import BundleExistsError, GeneratedStem, LicenceError, export_bundle, slugify
from pipelines.music.render import BUILT_IN_LICENCE, render_stems

RATE = 48_000


@pytest.fixture(autouse=True)
def quiet_fallback_warnings():
    logging.getLogger("pipelines.music.render").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def score():
    return handmade_score(bars=(2, 4, 2), bpm=120.0, title="Neon Rain (Demo)")


@pytest.fixture(scope="module")
def rendered(score):
    return render_stems(score)


@pytest.fixture(scope="module")
def exported(score, rendered, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    stages = []
    bundle = export_bundle(score, out, rendered=rendered, progress=lambda stage, fraction: stages.append((stage, fraction)))
    assert bundle.manifest == manifest_of(bundle.folder) and bundle.archive == out / f"{bundle.folder.name}.zip"  # what it made, as written
    assert [Path(entry["path"]) for entry in bundle.stems] == sorted(path.relative_to(bundle.folder) for path in (bundle.folder / "stems").iterdir())
    return bundle.folder, stages


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_bundle_has_every_file_and_the_zip_holds_the_same(exported):
    folder, _ = exported
    assert folder.name == "neon-rain-demo"
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    assert files == [
        "manifest.json", "master.wav", "neon-rain-demo.mid", "piano-roll.png",
        "stems/01-lead-flute.wav", "stems/02-piano.wav", "stems/03-finger-bass.wav", "stems/04-drums.wav",
    ]
    with zipfile.ZipFile(folder.parent / "neon-rain-demo.zip") as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [f"neon-rain-demo/{name}" for name in files]
        for name in files:
            assert sha256(archive.read(f"neon-rain-demo/{name}")) == sha256((folder / name).read_bytes()), name
    assert sorted(path.name for path in folder.parent.iterdir()) == ["neon-rain-demo", "neon-rain-demo.zip"]  # no leftovers


def test_manifest_hashes_renderer_and_licences(exported, rendered):
    folder, _ = exported
    manifest = manifest_of(folder)
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()} - {"manifest.json"}
    for path, entry in listed.items():
        data = (folder / path).read_bytes()
        assert entry["sha256"] == sha256(data) and entry["bytes"] == len(data), path
        assert entry["licence"], path
    assert manifest["renderer"] == {"name": "fluidsynth TimGM6mb.sf2", "licence": rendered.licence, "fallback": None}
    assert "GPL-2" in listed["stems/01-lead-flute.wav"]["licence"]
    assert listed["stems/02-piano.wav"] | {"sha256": None, "bytes": None} == {
        "path": "stems/02-piano.wav", "kind": "stem", "sha256": None, "bytes": None, "part": "Piano", "role": "chords",
        "program": 0, "renderer": "fluidsynth TimGM6mb.sf2", "licence": rendered.licence,
    }
    assert (manifest["seed"], manifest["bpm"], manifest["key"], manifest["time_signature"]) == (3, 120.0, "A minor", "4/4")
    assert manifest["plan"]["title"] == "Neon Rain (Demo)" and manifest["commercial_use"] is True


def test_section_offsets_agree_in_bars_beats_seconds_and_samples(exported, score):
    manifest = manifest_of(exported[0])
    sections = manifest["sections"]
    assert [(s["name"], s["bar_offset"], s["bars"], s["loop"]) for s in sections] == [
        ("intro", 0, 2, False), ("verse", 2, 4, True), ("chorus", 6, 2, False),
    ]
    for section in sections:
        assert section["start_beat"] == section["bar_offset"] * 4
        assert section["start_s"] == pytest.approx(section["start_beat"] * 60 / 120)
        assert section["start_sample"] == round(section["start_s"] * 48_000)
        assert section["end_sample"] == round(section["end_s"] * 48_000)
    assert sections[1]["start_sample"] == 192_000 and sections[1]["end_sample"] == 576_000


def test_stems_are_48k_24_bit_equal_length_with_the_verse_loop(exported):
    folder, _ = exported
    manifest = manifest_of(folder)
    verse = manifest["sections"][1]
    wavs = sorted(folder.glob("stems/*.wav")) + [folder / "master.wav"]
    for path in wavs:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (48_000, 2, "PCM_24"), path.name
        assert info.frames == manifest["frames"] == round(18.0 * RATE), path.name  # 16 s + 2 s release tail
        assert smpl_loops(path) == [(0, 0, verse["start_sample"], verse["end_sample"] - 1)], path.name


def test_stems_sum_to_the_mix_and_the_master_is_that_mix_mastered(exported, rendered):
    folder, _ = exported
    manifest = manifest_of(folder)
    mix = rendered.mix()
    assert np.allclose(mix, sum(stem.audio for stem in rendered.stems), rtol=0, atol=1e-7)
    stems = [soundfile.read(path, dtype="float64")[0] for path in sorted(folder.glob("stems/*.wav"))]
    assert np.abs(sum(stems) - mix).max() <= len(stems) * 2**-24 + 1e-9  # each within half a 24-bit step
    master, _ = soundfile.read(folder / "master.wav", dtype="float64")
    loudness = manifest["loudness"]
    assert pyloudnorm.Meter(RATE).integrated_loudness(master) == pytest.approx(-14.0, abs=0.5)
    assert 20 * np.log10(np.abs(resample_poly(master, 4, 1, axis=0)).max()) <= -1.0
    assert loudness["integrated_lufs"] == pytest.approx(-14.0, abs=0.5) and loudness["true_peak_dbtp"] <= -1.0
    # pyloudnorm's K-weighting reads about 0.04 LU under the standard's (test_music_master.py).
    assert loudness["mix_lufs"] == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(mix.astype(np.float64)), abs=0.1)
    if loudness["limiter_reduction_db"] == 0:  # then the master is the mix times one gain
        gain = 10 ** (manifest["loudness"]["master_gain_db"] / 20)
        assert np.abs(master - mix * gain).max() < 1e-3


def test_midi_and_piano_roll_open(exported, score):
    folder, _ = exported
    midi = mido.MidiFile(folder / "neon-rain-demo.mid")
    assert midi.type == 1 and len(midi.tracks) == len(score.parts) + 1
    image = Image.open(folder / "piano-roll.png")
    assert image.size == (1600, 720)
    colours = {colour for _, colour in image.convert("RGB").getcolors(1_000_000)}
    assert {(214, 69, 65), (52, 120, 198), (60, 160, 90), (230, 150, 40)} <= colours  # one colour a part


def test_progress_reports_every_stage_in_order(exported):
    _, stages = exported
    assert [stage for stage, _ in stages] == ["midi", "render", "stems", "master", "piano roll", "manifest", "done"]
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_failed_export_leaves_nothing_behind(score, rendered, tmp_path, monkeypatch):
    def broken_master(*args, **kwargs):
        raise RuntimeError("mastering failed")

    monkeypatch.setattr(bundle, "master", broken_master)
    with pytest.raises(RuntimeError, match="mastering failed"):
        export_bundle(score, tmp_path, rendered=rendered)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_bundle_is_replaced_only_when_asked(score, rendered, tmp_path):
    first = export_bundle(score, tmp_path, rendered=rendered).folder
    before = (first / "manifest.json").read_bytes()
    with pytest.raises(BundleExistsError, match="overwrite=True"):
        export_bundle(score, tmp_path, rendered=rendered)
    assert (first / "manifest.json").read_bytes() == before
    (tmp_path / "neon-rain-demo" / "stray.txt").write_text("from the old bundle")
    again = export_bundle(score, tmp_path, rendered=rendered, overwrite=True).folder
    assert again == first and not (again / "stray.txt").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["neon-rain-demo", "neon-rain-demo.zip"]


def musicgen_texture(seconds: float = 6.0) -> GeneratedStem:
    """Stand-in for MusicGen output: mono at 32 kHz, shorter than the piece."""
    t = np.arange(round(seconds * 32_000)) / 32_000
    return GeneratedStem("Texture", (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 32_000, "facebook/musicgen-melody", "CC-BY-NC-4.0")


def test_musicgen_stems_join_the_bundle_with_their_model_and_licence(score, rendered, tmp_path):
    folder = export_bundle(score, tmp_path, rendered=rendered, musicgen=[musicgen_texture()]).folder
    manifest = manifest_of(folder)
    entry = next(entry for entry in manifest["files"] if entry["path"] == "stems/05-texture.wav")
    assert (entry["model"], entry["licence"]) == ("facebook/musicgen-melody", "CC-BY-NC-4.0")
    assert manifest["commercial_use"] is False
    audio, rate = soundfile.read(folder / "stems/05-texture.wav")
    assert rate == RATE and audio.shape == (manifest["frames"], 2)  # resampled, doubled to stereo, padded
    assert np.abs(audio[: 6 * RATE - 100]).max() == pytest.approx(0.1, abs=1e-3) and np.abs(audio[6 * RATE + 100 :]).max() == 0


def test_a_commercial_export_refuses_non_commercial_stems(score, rendered, tmp_path):
    with pytest.raises(LicenceError, match=r"stems/05-texture\.wav \(CC-BY-NC-4\.0\)"):
        export_bundle(score, tmp_path, rendered=rendered, musicgen=[musicgen_texture()], commercial=True)
    assert list(tmp_path.iterdir()) == []
    folder = export_bundle(score, tmp_path, rendered=rendered, commercial=True).folder  # without it, fine
    assert manifest_of(folder)["commercial_use"] is True


def test_the_built_in_synth_fallback_is_stated_in_the_manifest(tmp_path):
    score = handmade_score(bars=(2,), title="Fallback")
    manifest = export_bundle(score, tmp_path, soundfont=Path("/nope.sf2")).manifest
    assert manifest["renderer"]["name"] == "built-in synth"
    assert manifest["renderer"]["licence"] == BUILT_IN_LICENCE
    assert "/nope.sf2" in manifest["renderer"]["fallback"]
    stems = [entry for entry in manifest["files"] if entry["kind"] == "stem"]
    assert {(entry["renderer"], entry["licence"]) for entry in stems} == {("built-in synth", BUILT_IN_LICENCE)}
    assert manifest["loudness"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)


@pytest.mark.parametrize("title, slug", [("Neon Rain (Demo)", "neon-rain-demo"), ("  ***  ", "untitled"), ("봄비 Spring", "봄비-spring"), ("a/b\\c..d", "a-b-c-d")])
def test_slugs_are_safe_folder_names(title, slug):
    assert slugify(title) == slug
