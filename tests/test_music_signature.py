"""Her signature: MusPy's pitch-class entropy, scale consistency and groove consistency on
hand-built scores with known values and against MusPy itself; a piece composed from her DNA
sits inside her catalogue, chromatic random notes do not."""

from __future__ import annotations

import json
import math
import random

import muspy
import pytest
from music_helpers import handmade_plan, handmade_score

from persona.card import load_persona
from pipelines.music.composer import compose
from pipelines.music.planner import MusicBrief, ProceduralPlanner
from pipelines.music.score import DRUM_CHANNEL, Note, Part, Score, SectionSpan
from pipelines.music.signature import (
    SignatureCatalogue,
    SignatureFeatures,
    groove_consistency,
    pitch_class_entropy,
    scale_consistency,
)
from persona.engine.settings import CONFIGS_DIR

C_MAJOR = (60, 62, 64, 65, 67, 69, 71)


def score_of(*parts: list[Note], bars: int = 4, drums: list[Note] | None = None, key: str = "C major") -> Score:
    """A 4/4 score at 120 BPM: one piano part a list of notes, and drums if given."""
    plan = handmade_plan(bars=(bars,), key=key, roles=("chords",), loops=(False,))
    score_parts = [Part(f"piano {index}", "chords", 0, index, list(notes)) for index, notes in enumerate(parts)]
    if drums is not None:
        score_parts.append(Part("drums", "drums", 0, DRUM_CHANNEL, drums))
    return Score(plan, score_parts, [SectionSpan("intro", 0.0, bars * 4.0, False)])


def quarters(pitches, start: float = 0.0) -> list[Note]:
    return [Note(start + index, 0.9, pitch, 80) for index, pitch in enumerate(pitches)]


@pytest.fixture(scope="module")
def haeun():
    return load_persona("haeun", CONFIGS_DIR / "personas")


@pytest.fixture(scope="module")
def catalogue(haeun) -> SignatureCatalogue:
    return SignatureCatalogue.from_dna(haeun.music, persona=haeun.name)


def chromatic_random(plan, seed: int = 0) -> Score:
    """Random pitches from all twelve, at random places off any grid: nothing like her."""
    rng = random.Random(seed)
    beats = plan.total_bars * plan.time_signature.beats_per_bar
    notes, start = [], 0.0
    while start < beats - 1:
        notes.append(Note(round(start, 3), rng.choice([0.1, 0.23, 0.37, 0.55, 1.3]), rng.randrange(36, 96), 80))
        start += rng.uniform(0.05, 0.9)
    return Score(plan, [Part("lead", "melody", 0, 0, notes)], [SectionSpan("all", 0.0, beats, False)])


# --- the metrics, by hand ----------------------------------------------------------------------

def test_a_c_major_scale_is_fully_consistent_with_the_entropy_of_seven_equal_classes():
    score = score_of(quarters(C_MAJOR))
    assert scale_consistency(score) == 1.0
    assert pitch_class_entropy(score) == pytest.approx(math.log2(7))


def test_all_twelve_pitch_classes_evenly_have_the_highest_entropy():
    score = score_of(quarters(range(60, 72)))
    assert pitch_class_entropy(score) == pytest.approx(math.log2(12))
    assert scale_consistency(score) == pytest.approx(7 / 12), "any major or minor scale holds 7 of the 12"


def test_one_pitch_class_has_zero_entropy_and_octaves_count_as_one_class():
    assert pitch_class_entropy(score_of(quarters([48, 60, 72, 84]))) == 0.0


def test_entropy_of_an_uneven_histogram():
    score = score_of(quarters([60, 60, 64, 67]))  # C half the notes, E and G a quarter each
    assert pitch_class_entropy(score) == pytest.approx(1.5)


def test_a_minor_scale_counts_among_the_24_scales():
    # C harmonic minor: 6 of its 7 classes lie in C natural minor (Eb major), B does not.
    score = score_of(quarters([60, 62, 63, 65, 67, 68, 71]))
    assert scale_consistency(score) == pytest.approx(6 / 7)


def test_drums_are_left_out_of_the_pitch_metrics():
    drums = [Note(beat, 0.25, pitch, 100) for beat, pitch in enumerate([36, 37, 38, 39, 40, 41, 42, 43])]
    score = score_of(quarters(C_MAJOR), drums=drums)
    assert scale_consistency(score) == 1.0 and pitch_class_entropy(score) == pytest.approx(math.log2(7))


def test_empty_pieces_give_nan_as_muspy_does():
    assert math.isnan(pitch_class_entropy(score_of([]))) and math.isnan(scale_consistency(score_of([])))


def test_identical_bars_have_a_groove_consistency_of_one():
    bar = [0.0, 1.0, 1.5, 3.0]
    notes = [Note(4 * index + beat, 0.4, 60, 80) for index in range(4) for beat in bar]
    assert groove_consistency(score_of(notes)) == 1.0


def test_groove_consistency_counts_onset_changes_between_neighbouring_bars():
    # Bars 1-3 on the beats, bar 4 on the off-beats: bars 3 and 4 differ at 8 of 96 steps (24 a beat).
    notes = [Note(4 * bar + beat, 0.4, 60, 80) for bar in range(3) for beat in range(4)]
    notes += [Note(12 + beat + 0.5, 0.4, 60, 80) for beat in range(4)]
    assert groove_consistency(score_of(notes)) == pytest.approx(1 - 8 / (96 * 3))


def test_groove_consistency_hears_the_drums_and_every_part_together():
    kick = [Note(4 * bar, 0.25, 36, 100) for bar in range(4)]
    piano = [Note(4 * bar + 2, 1, 60, 80) for bar in range(4)] + [Note(13, 1, 64, 80)]  # one extra onset in bar 4
    assert groove_consistency(score_of(piano, drums=kick)) == pytest.approx(1 - 1 / (96 * 3))


def test_groove_consistency_of_a_single_bar_is_nan():
    assert math.isnan(groove_consistency(score_of(quarters(C_MAJOR[:4]), bars=1)))


def test_groove_consistency_counts_bars_as_muspy_does_to_the_last_note_end_plus_one():
    # Two identical bars whose last note ends on the bar line: MusPy compares a third, empty bar.
    notes = [Note(4 * bar + beat, 1.0, 60, 80) for bar in range(2) for beat in range(4)]
    assert groove_consistency(score_of(notes)) == pytest.approx(1 - 4 / (96 * 2))


# --- against MusPy itself ----------------------------------------------------------------------

def as_muspy(score: Score, resolution: int = 24) -> muspy.Music:
    """The score as a muspy.Music on the same grid (24 steps a quarter note)."""
    tracks = []
    for part in score.parts:
        notes = []
        for note in part.notes:
            time = round(note.start * resolution)
            duration = round((note.start + note.duration) * resolution) - time
            notes.append(muspy.Note(time=time, pitch=note.pitch, duration=duration, velocity=note.velocity))
        tracks.append(muspy.Track(program=part.program, is_drum=part.is_drums, name=part.name, notes=notes))
    return muspy.Music(resolution=resolution, tracks=tracks)


@pytest.mark.parametrize("make", [
    lambda: score_of(quarters(C_MAJOR)),
    lambda: score_of(quarters(range(60, 72))),
    lambda: handmade_score(bars=(2, 4, 2)),
    lambda: handmade_score(bars=(3, 3), time_signature=(3, 4), roles=("melody", "bass", "drums", "pad")),
], ids=["c-major", "chromatic", "handmade-4-4", "handmade-3-4"])
def test_the_metrics_agree_with_muspy(make):
    score = make()
    music = as_muspy(score)
    bar_steps = round(score.plan.time_signature.beats_per_bar * 24)
    assert pitch_class_entropy(score) == pytest.approx(muspy.pitch_class_entropy(music))
    assert scale_consistency(score) == pytest.approx(muspy.scale_consistency(music))
    assert groove_consistency(score) == pytest.approx(muspy.groove_consistency(music, bar_steps))


def test_the_metrics_of_a_composed_piece_agree_with_muspy(haeun):
    plan = ProceduralPlanner(haeun.music, haeun.name).plan(MusicBrief(text="rainy Seoul night, hopeful", minutes=1, seed=7))
    score = compose(plan)
    music = as_muspy(score)
    bar_steps = round(plan.time_signature.beats_per_bar * 24)
    assert pitch_class_entropy(score) == pytest.approx(muspy.pitch_class_entropy(music))
    assert scale_consistency(score) == pytest.approx(muspy.scale_consistency(music))
    assert groove_consistency(score) == pytest.approx(muspy.groove_consistency(music, bar_steps))


# --- her catalogue -----------------------------------------------------------------------------

def test_the_catalogue_covers_her_genres_and_keys(catalogue, haeun):
    titles = " ".join(piece.title for piece in catalogue.pieces)
    assert len(catalogue.pieces) == 2 * len(haeun.music.genres)
    assert all(genre in titles for genre in haeun.music.genres) and all(key in titles for key in haeun.music.keys)


@pytest.mark.parametrize("text, seed, minutes", [("rainy Seoul night, hopeful", 7, 3), ("dance party", 42, 1), ("", 123, 0.5)])
def test_a_piece_from_her_dna_is_on_signature(catalogue, haeun, text, seed, minutes):
    plan = ProceduralPlanner(haeun.music, haeun.name).plan(MusicBrief(text=text, minutes=minutes, seed=seed))
    report = catalogue.report(compose(plan))
    assert report.drift == [] and report.on_signature, report.drift
    assert report.similarity >= 0.85 and report.scale_consistency.value >= 0.95
    assert report.pitch_class_entropy.low <= report.pitch_class_entropy.high < math.log2(12)


def test_chromatic_random_notes_drift_and_each_warning_says_why(catalogue, haeun):
    plan = ProceduralPlanner(haeun.music, haeun.name).plan(MusicBrief(minutes=1, seed=0))
    report = catalogue.report(chromatic_random(plan))
    assert not report.on_signature and report.similarity < 0.85
    text = "\n".join(report.drift)
    assert "unlike any of her pieces" in text
    assert "fit one major or minor scale" in text and "chromatic" in text
    assert "pitch-class entropy" in text and "too evenly" in text
    assert "groove consistency" in text
    assert all(any(character.isdigit() for character in warning) for warning in report.drift), "every warning gives its number"


def test_the_report_is_plain_json(catalogue, haeun):
    plan = ProceduralPlanner(haeun.music, haeun.name).plan(MusicBrief(minutes=0.5, seed=3))
    report = catalogue.report(compose(plan))
    data = json.loads(report.model_dump_json())
    assert set(data) >= {"similarity", "nearest", "shapes", "pitch_class_entropy", "scale_consistency", "groove_consistency", "drift"}
    assert set(data["shapes"]) == {"pitch_classes", "intervals", "onsets", "lengths"}
    assert report.summary().startswith("signature: similarity ")


def test_the_catalogue_reads_earlier_bundles_and_round_trips_as_json(tmp_path, haeun):
    planner = ProceduralPlanner(haeun.music, haeun.name)
    for name, seed in (("first", 1), ("second", 2)):
        (tmp_path / name).mkdir()
        plan = planner.plan(MusicBrief(text=f"{name} light", minutes=0.5, seed=seed))
        (tmp_path / name / "manifest.json").write_text(json.dumps({"plan": plan.model_dump(mode="json")}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text('{"plan": {"bpm": "fast"}}')
    catalogue = SignatureCatalogue()
    added = catalogue.add_bundles(tmp_path, exclude=[tmp_path / "second"])
    assert added == [tmp_path / "first"] and [piece.title for piece in catalogue.pieces] == ["First Light"]
    again = SignatureCatalogue.from_json(catalogue.to_json())
    assert again.pieces == catalogue.pieces


def test_features_scale_each_histogram_to_unit_length():
    features = SignatureFeatures.of(handmade_score())
    for name in ("pitch_classes", "intervals", "onsets", "lengths"):
        assert math.fsum(value * value for value in getattr(features, name)) == pytest.approx(1.0)


def test_an_empty_catalogue_cannot_report():
    with pytest.raises(ValueError, match="catalogue is empty"):
        SignatureCatalogue().report(handmade_score())
