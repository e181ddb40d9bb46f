"""`atelier compose`, run as a producer runs it; the bundle is read back with parsers that are
not the ones that wrote it (mido for MIDI, soundfile for WAV, json for the manifest)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import mido
import pytest
import soundfile

from conftest import atelier

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
BRIEF = "rainy Seoul night, hopeful"


def summary_of(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """One piece from a brief: (summary, bundle folder, stderr)."""
    out = tmp_path_factory.mktemp("compose")
    # CI set: pyfluidsynth then prints where it found the library; stdout must still be our JSON alone.
    result = atelier("compose", BRIEF, "--minutes", "0.5", "--seed", "7", "--out", str(out), env={"CI": "true"})
    summary = summary_of(result)
    return summary, Path(summary["bundle"]), result.stderr


def test_compose_prints_the_bundle_tempo_key_duration_and_her_signature(composed):
    summary, folder, stderr = composed
    assert folder.is_dir() and Path(summary["zip"]).is_file() and folder.name == "rainy-seoul-night-hopeful"
    assert 40 <= summary["bpm"] <= 240 and summary["key"] and 20 <= summary["duration_s"] <= 45
    signature = summary["signature"]
    assert signature["drift"] == [] and signature["similarity"] >= 0.85, signature
    assert "composing" in stderr and "100%" in stderr, "a progress bar on stderr"
    assert "signature: similarity" in stderr and "warning: off her signature" not in stderr


def test_the_midi_is_type_1_with_the_tempo_meter_and_a_track_a_part(composed):
    summary, folder, _ = composed
    midi = mido.MidiFile(folder / f"{folder.name}.mid")
    assert midi.type == 1 and len(midi.tracks) == len(summary["parts"]) + 1
    conductor = list(midi.tracks[0])
    tempo = next(message.tempo for message in conductor if message.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(summary["bpm"], abs=0.01)
    meter = next(message for message in conductor if message.type == "time_signature")
    assert f"{meter.numerator}/{meter.denominator}" == summary["time_signature"]
    assert [track.name for track in midi.tracks[1:]] == summary["parts"]
    assert midi.length == pytest.approx(summary["duration_s"], abs=0.5)


def test_the_stems_and_master_are_48k_24_bit_and_the_same_length(composed):
    summary, folder, _ = composed
    stems = sorted((folder / "stems").glob("*.wav"))
    assert len(stems) == len(summary["parts"])
    infos = [soundfile.info(path) for path in [*stems, folder / "master.wav"]]
    assert {(info.samplerate, info.subtype, info.channels) for info in infos} == {(48_000, "PCM_24", 2)}
    assert len({info.frames for info in infos}) == 1
    assert infos[0].frames / 48_000 >= summary["duration_s"]


def test_the_manifest_agrees_with_the_summary_and_the_files(composed):
    summary, folder, _ = composed
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["bpm"] == summary["bpm"] and manifest["key"] == summary["key"] and manifest["seed"] == 7
    assert manifest["duration_s"] == pytest.approx(summary["duration_s"], abs=0.01)
    assert manifest["renderer"]["name"] == summary["renderer"] and manifest["plan"]["title"] == summary["title"]
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry["path"]
        assert entry["licence"]
    with zipfile.ZipFile(summary["zip"]) as archive:
        assert archive.testzip() is None and f"{folder.name}/manifest.json" in archive.namelist()


def test_an_existing_bundle_is_replaced_only_with_overwrite(composed):
    summary, folder, _ = composed
    before = (folder / "manifest.json").stat().st_mtime_ns
    again = atelier("compose", BRIEF, "--minutes", "0.5", "--seed", "7", "--out", str(folder.parent))
    assert again.returncode != 0 and "already exists" in again.stderr and "--overwrite" not in again.stdout
    assert (folder / "manifest.json").stat().st_mtime_ns == before
    replaced = summary_of(atelier("compose", BRIEF, "--minutes", "0.5", "--seed", "7", "--out", str(folder.parent), "--overwrite"))
    assert replaced["bundle"] == summary["bundle"] and (folder / "manifest.json").stat().st_mtime_ns != before


def test_a_bundles_manifest_renders_the_same_midi_again(composed, tmp_path):
    _, folder, _ = composed
    again = summary_of(atelier("compose", "--plan", str(folder / "manifest.json"), "--out", str(tmp_path)))
    name = f"{folder.name}.mid"
    assert (Path(again["bundle"]) / name).read_bytes() == (folder / name).read_bytes(), "the same plan gives the same notes"


def test_plan_only_then_an_edited_plan_is_rendered(tmp_path):
    printed = atelier("compose", BRIEF, "--minutes", "0.5", "--plan-only")
    assert printed.returncode == 0, printed.stderr
    plan = json.loads(printed.stdout)
    assert not any(tmp_path.iterdir()), "--plan-only writes nothing"
    plan.update(title="Rain, Edited", bpm=100, key={"tonic": "E", "mode": "minor"})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "out"
    summary = summary_of(atelier("compose", "--plan", str(tmp_path / "plan.json"), "--seed", "5", "--out", str(out)))
    assert summary["bundle"] == str(out / "rain-edited") and summary["bpm"] == 100 and summary["key"] == "E minor"
    midi = mido.MidiFile(out / "rain-edited" / "rain-edited.mid")
    assert next(message.tempo for message in midi.tracks[0] if message.type == "set_tempo") == 600_000
    assert json.loads((out / "rain-edited" / "manifest.json").read_text())["seed"] == 5


def edited_plan(composed, **changes) -> dict:
    plan = json.loads((composed[1] / "manifest.json").read_text())["plan"]
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = plan
        for key in path:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is None:
            target.pop(last)
        else:
            target[last] = value
    return plan


@pytest.mark.parametrize("changes, field", [
    ({"bpm": 500}, "bpm: Input should be less than or equal to 240"),
    ({"sections__0__bars": 3, "sections__0__chords": ["i", "IV"]}, "sections.0: 3 bars do not fit"),
    ({"sections__1__chords": ["i", "H7"]}, "sections.1.chords: unknown chord 'H7'"),
    ({"key__mode": "locrian-ish"}, "key.mode: unknown mode"),
    ({"instruments__0__role": "kazoo"}, "instruments.0.role"),
    ({"tempo": 90}, "tempo: unknown field"),
    ({"title": None}, "title: Field required"),
])
def test_a_bad_plan_names_the_field_and_writes_nothing(composed, tmp_path, changes, field):
    (tmp_path / "plan.json").write_text(json.dumps(edited_plan(composed, **changes)))
    result = atelier("compose", "--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "out"))
    assert result.returncode != 0 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert field in result.stderr, result.stderr
    assert str(tmp_path / "plan.json") in result.stderr, "the message says which file"
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_a_plan_that_is_not_json_is_a_clear_error(tmp_path):
    (tmp_path / "plan.json").write_text('{"title": "x",\n "bpm": }')
    result = atelier("compose", "--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "out"))
    assert result.returncode != 0 and "not valid JSON" in result.stderr and "line 2" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--out", "OUT"], "give a brief"),
    ([BRIEF], "--out is required"),
    ([BRIEF, "--minutes", "0", "--out", "OUT"], "--minutes: Input should be greater than or equal to 0.25"),
    ([BRIEF, "--key", "H major", "--out", "OUT"], "--key: unknown tonic 'H'"),
    ([BRIEF, "--meter", "4-4", "--out", "OUT"], "--meter: expected a time signature"),
    ([BRIEF, "--seed", "-1", "--out", "OUT"], "--seed"),
    ([BRIEF, "--soundfont", "/nowhere/gm.sf2", "--out", "OUT"], "--soundfont: /nowhere/gm.sf2 is not a file"),
    (["--plan", "plan.json", BRIEF, "--out", "OUT"], "not both"),
    (["--plan", "plan.json", "--minutes", "2", "--out", "OUT"], "--minutes shape a plan from a brief"),
])
def test_bad_arguments_fail_clearly_and_write_nothing(tmp_path, arguments, message):
    arguments = [str(tmp_path / "out") if argument == "OUT" else argument for argument in arguments]
    result = atelier("compose", *arguments)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_configured_soundfont_that_is_missing_names_the_setting(tmp_path):
    result = atelier("compose", BRIEF, "--out", str(tmp_path / "out"), env={"ATELIER_MUSIC__SOUNDFONT": str(tmp_path / "gone.sf2")})
    assert result.returncode != 0 and "music.soundfont" in result.stderr and not (tmp_path / "out").exists()


def test_a_commercial_export_with_the_soundfont(tmp_path):
    assert SOUNDFONT.is_file(), f"no {SOUNDFONT}: run `make install` (Debian timgm6mb-soundfont)"
    result = atelier("compose", "city lights", "--minutes", "0.25", "--soundfont", str(SOUNDFONT), "--commercial", "--out", str(tmp_path))
    summary = summary_of(result)
    assert summary["renderer"] == "fluidsynth TimGM6mb.sf2" and summary["commercial_use"] is True
    manifest = json.loads((Path(summary["bundle"]) / "manifest.json").read_text())
    assert all("TimGM6mb" in entry["licence"] for entry in manifest["files"] if entry["kind"] == "stem")


@pytest.fixture(scope="module")
def musicgen_dir(tmp_path_factory) -> Path:
    from pipelines.music.musicgen import save_random_musicgen

    return save_random_musicgen(tmp_path_factory.mktemp("models") / "musicgen-melody-tiny")


def test_a_configured_musicgen_adds_its_stem_and_licence(tmp_path, musicgen_dir):
    env = {"ATELIER_MUSIC__MUSICGEN__MODEL_DIR": str(musicgen_dir)}
    summary = summary_of(atelier("compose", "city lights", "--minutes", "0.25", "--out", str(tmp_path), env=env))
    assert summary["commercial_use"] is False
    manifest = json.loads((Path(summary["bundle"]) / "manifest.json").read_text())
    generated = [entry for entry in manifest["files"] if entry["kind"] == "stem" and "CC-BY-NC" in entry["licence"]]
    assert len(generated) == 1 and "musicgen-melody-tiny" in json.dumps(generated[0])
    assert "CC-BY-NC" in next(entry for entry in manifest["files"] if entry["kind"] == "master")["licence"]  # the mix holds it
    audio, rate = soundfile.read(Path(summary["bundle"]) / generated[0]["path"])
    mix, _ = soundfile.read(next(Path(summary["bundle"]).glob("*master*.wav")))
    assert rate == 48_000 and len(audio) == len(mix)


def test_a_commercial_export_refuses_musicgen_before_loading_it(tmp_path):
    env = {"ATELIER_MUSIC__MUSICGEN__MODEL_DIR": str(tmp_path / "not-even-there")}
    result = atelier("compose", "city lights", "--minutes", "0.25", "--commercial", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode != 0 and "non-commercial" in result.stderr and "music.musicgen" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_a_missing_musicgen_folder_is_a_clear_error(tmp_path):
    env = {"ATELIER_MUSIC__MUSICGEN__MODEL_DIR": str(tmp_path / "nowhere")}
    result = atelier("compose", "city lights", "--minutes", "0.25", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode != 0 and "nowhere" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_an_off_signature_plan_is_rendered_with_a_warning(composed, tmp_path):
    plan = edited_plan(composed, title="Off Signature", key={"tonic": "C#", "mode": "major"}, signature=[])
    for section in plan["sections"]:
        section.update(chords=["I", "bII", "#IV", "bVI+"], bars=4 * max(1, section["bars"] // 4))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    result = atelier("compose", "--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "out"))
    summary = summary_of(result)
    assert summary["signature"]["drift"], summary["signature"]
    assert "warning: off her signature: only" in result.stderr and "major or minor scale" in result.stderr


def test_earlier_bundles_join_her_catalogue(composed):
    summary, folder, _ = composed
    result = atelier("compose", "quiet dawn", "--minutes", "0.25", "--out", str(folder.parent))
    later = summary_of(result)
    assert later["signature"]["catalogue_size"] == summary["signature"]["catalogue_size"] + 1
    assert "1 earlier bundle in" in result.stderr
