"""What she makes for a fan: a real song (MIDI that parses, an Opus preview, an audible master,
a piano roll), a real look (flats that open, a spec that validates) and a real print (a tile
that repeats without a seam); descriptions whose every fact is true of the summary; the fan's
facts used only when given, recorded, and never carried over to another fan; cancellation
that leaves nothing behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import soundfile
from PIL import Image

from persona.card import load_persona
from persona.creations import (
    Creation,
    FanFacts,
    describe_look,
    describe_print,
    describe_song,
    facts_stated,
    make_look,
    make_print,
    make_song,
    read_fan_facts,
    read_request,
    untrue_facts,
)
from pipelines.fashion.metadata import read_png_metadata
from pipelines.fashion.prints import SEAMLESS_LIMIT, seam_ratio
from pipelines.fashion.spec import DesignSpec

PERSONAS = Path(__file__).resolve().parent.parent / "configs" / "personas"

FAN_A = FanFacts(name="Minji", notes=["favourite colour is teal", "has a dog called Bori", "lives in Busan", "works night shifts"])
FAN_B = FanFacts(name="Jun", notes=["loves lavender", "has a cat named Mochi"])
A_ONLY = ("Minji", "Bori", "Busan", "teal", "Teal", "#008080", "night shifts")  # nothing of these may reach fan B

SONG_BRIEF = "could you write me a song for my rainy commute?"
LOOK_BRIEF = "design me a look for my sister's wedding"
PRINT_BRIEF = "make me a print with my cat Bori"


class Recorder:
    """A progress callback that remembers every call and can raise at one step, as a cancelled job does."""

    def __init__(self, raise_at: str | None = None):
        self.calls: list[tuple[str, float]] = []
        self.raise_at = raise_at

    def __call__(self, step: str, fraction: float) -> None:
        self.calls.append((step, fraction))
        if step == self.raise_at:
            raise KeyboardInterrupt(f"cancelled at {step}")  # any exception, even a BaseException, propagates


@pytest.fixture(scope="module")
def card():
    return load_persona("haeun", PERSONAS)


@pytest.fixture(scope="module")
def her_colours(card):
    return [colour.name for colour in card.visual.palette]


@pytest.fixture(scope="module")
def song(card, tmp_path_factory):
    progress = Recorder()
    creation = make_song(card, SONG_BRIEF, FAN_A, tmp_path_factory.mktemp("song") / "out", seconds=12, seed=7, progress=progress)
    return creation, progress


@pytest.fixture(scope="module")
def look(card, tmp_path_factory):
    return make_look(card, LOOK_BRIEF, FAN_A, tmp_path_factory.mktemp("look") / "out", seed=3)


@pytest.fixture(scope="module")
def fabric_print(card, tmp_path_factory):
    return make_print(card, PRINT_BRIEF, FAN_A, tmp_path_factory.mktemp("print") / "out", seed=5)


def out_dir_of(creation: Creation) -> Path:
    return creation.files[0].parent


def everything_said(creation: Creation) -> str:
    """Every word of a creation a fan or a store could see: its fields, file names and text files."""
    texts = [creation.title, creation.description, json.dumps(creation.summary, ensure_ascii=False),
             json.dumps(creation.provenance, ensure_ascii=False), json.dumps(creation.fingerprint, ensure_ascii=False),
             creation.preview, *(path.name for path in creation.files)]
    texts += [path.read_text(encoding="utf-8") for path in creation.files if path.suffix in (".json", ".svg")]
    texts += [json.dumps(Image.open(path).text, ensure_ascii=False) for path in creation.files if path.suffix == ".png"]
    return "\n".join(texts)


def sentence_count(text: str) -> int:
    """Her sentences, counted by their end marks (not with the splitter her messages are built with)."""
    return len(re.findall(r"[.!?](?=\s|$)", text))


# --- the song ----------------------------------------------------------------------------------


def test_song_files_are_real_and_all_in_out_dir(song):
    creation, _ = song
    out = out_dir_of(creation)
    names = [path.name for path in creation.files]
    assert names == ["preview.ogg", "master.wav", "bori-s-rainy-commute.mid", "piano-roll.png", "bori-s-rainy-commute.zip"]
    assert sorted(path.name for path in out.iterdir()) == sorted(names)  # nothing else left behind, no staging folder
    assert creation.kind == "song" and creation.preview == "piano-roll.png" and creation.preview_path == out / "piano-roll.png"

    midi = next(path for path in creation.files if path.suffix == ".mid")
    parsed = mido.MidiFile(midi)
    assert parsed.type == 1 and len(parsed.tracks) > 2
    music = pretty_midi.PrettyMIDI(str(midi))
    _, tempi = music.get_tempo_changes()
    assert tempi[0] == pytest.approx(creation.summary["bpm"], abs=0.01)
    assert music.get_end_time() == pytest.approx(creation.summary["duration_s"], abs=1.0)
    assert sum(len(instrument.notes) for instrument in music.instruments) > 20

    info = soundfile.info(out / "preview.ogg")
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "OPUS", 48_000)
    master, rate = soundfile.read(out / "master.wav")
    assert rate == 48_000 and info.duration == pytest.approx(len(master) / rate, abs=0.1)
    assert 20 * np.log10(np.sqrt(np.mean(master**2))) > -30  # audible: mastered near -14 LUFS
    preview, _ = soundfile.read(out / "preview.ogg")
    assert np.abs(preview).max() > 0.05

    with Image.open(out / "piano-roll.png") as roll:
        roll.verify()
    assert (out / "bori-s-rainy-commute.zip").stat().st_size > master.nbytes // 8


def test_song_summary_description_and_fan_facts(song, her_colours):
    creation, _ = song
    summary = creation.summary
    assert summary["title"] == creation.title == "Bori's Rainy Commute"  # the pet's name from her notes on the fan
    assert summary["key"] == f"{summary['tonic']} {summary['mode']}" and 72 <= summary["bpm"] <= 118
    assert summary["instruments"] and summary["sections"] and 8 <= summary["duration_s"] <= 15
    assert summary["made_for"] == "for your rainy commute" and summary["recipient"] == "Minji"

    assert creation.description.startswith("Minji, ")
    assert 1 <= sentence_count(creation.description) <= 3
    assert untrue_facts(creation.description, summary, colour_names=her_colours) == []
    assert facts_stated(creation.description, summary)["title"] == [creation.title]

    assert creation.provenance["facts"]["used"] == [
        {"fact": "has a dog called Bori", "as": "title", "value": "Bori"},
        {"fact": "name", "as": "greeting", "value": "Minji"},
    ]  # the favourite colour and the city had no place in a song with the pet in its title
    assert creation.provenance["brief"] == SONG_BRIEF and creation.provenance["seed"] == 7
    assert creation.provenance["renderer"].startswith("fluidsynth") and creation.provenance["licence"]
    assert creation.provenance["versions"]["bundle"].startswith("atelier-music-bundle/")


def test_song_fingerprint_is_her_signature_report(song):
    creation, _ = song
    fingerprint = creation.fingerprint
    assert 0 < fingerprint["similarity"] <= 1 and fingerprint["catalogue_size"] > 0
    assert isinstance(fingerprint["drift"], list) and fingerprint["on_signature"] == (not fingerprint["drift"])
    assert "signature: similarity" in fingerprint["summary"]


def test_song_progress_runs_in_order_to_done(song):
    _, progress = song
    steps = [step for step, _ in progress.calls]
    assert steps[0] == "plan" and steps[-1] == "done" and "render" in steps and "preview" in steps
    fractions = [fraction for _, fraction in progress.calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_song_is_the_same_for_the_same_seed_and_keeps_the_key_and_tempo_asked_for(card, tmp_path):
    brief = "a slow song about the first snow, 90 bpm in D dorian"
    first = make_song(card, brief, FanFacts(), tmp_path / "one", seconds=8, seed=11)
    second = make_song(card, brief, FanFacts(), tmp_path / "two", seconds=8, seed=11)
    assert (first.title, first.description, first.summary) == (second.title, second.description, second.summary)
    assert first.title == "First Snow" and first.provenance["facts"]["used"] == []
    assert (first.summary["key"], first.summary["bpm"]) == ("D dorian", 90.0) and first.provenance["asked"] == {"key": "D dorian", "bpm": 90.0}
    assert "recipient" not in first.summary and not first.description.startswith(",")
    for a, b in zip(first.files, second.files):
        if a.suffix in (".mid", ".wav"):
            assert a.read_bytes() == b.read_bytes(), a.name


def test_a_cancelled_song_leaves_nothing(card, tmp_path):
    out = tmp_path / "out"
    progress = Recorder(raise_at="stems")  # in the middle of the bundle's export
    with pytest.raises(KeyboardInterrupt, match="cancelled at stems"):
        make_song(card, SONG_BRIEF, FAN_A, out, seconds=8, seed=1, progress=progress)
    assert list(out.iterdir()) == []
    assert progress.calls[-1][0] == "stems"


# --- the look ----------------------------------------------------------------------------------


def test_look_files_open_and_the_spec_validates(look):
    out = out_dir_of(look)
    names = [path.name for path in look.files]
    assert names[:4] == ["front.png", "back.png", "front.svg", "back.svg"] and names[-1] == "spec.json"
    assert sorted(path.name for path in out.iterdir()) == sorted(names)
    assert look.kind == "look" and look.preview == "front.png"

    spec = DesignSpec.from_data(json.loads((out / "spec.json").read_text(encoding="utf-8")), source="spec.json")
    for name in ("front.png", "back.png"):
        with Image.open(out / name) as image:
            assert image.width == 1200 and image.height > 1200
        assert read_png_metadata(out / name)[0] == spec
    for name in ("front.svg", "back.svg"):
        assert "<svg" in (out / name).read_text(encoding="utf-8")
    assert ("print.png" in names) == (spec.print.type != "solid") == (look.summary["print"] is not None)

    summary = look.summary
    assert (summary["name"], summary["garment"], summary["silhouette"]) == (spec.name, spec.category, spec.silhouette)
    assert summary["fabric"] == {"type": spec.fabric.type, "finish": spec.fabric.finish}
    assert {(entry["name"], entry["hex"]) for entry in summary["colours"]} == {(colour.name, colour.hex) for colour in spec.palette}


def test_look_takes_the_fans_favourite_colour_as_its_second_colour(look, her_colours):
    palette = sorted(DesignSpec.from_data(json.loads((out_dir_of(look) / "spec.json").read_text()), "spec").palette, key=lambda c: -c.share)
    assert palette[1].hex == "#008080" and palette[1].name == "Teal"  # trims on the flat, the main ink of its print
    assert [entry["for_fan"] for entry in look.summary["colours"]] == [colour.hex == "#008080" for colour in palette]
    assert {"fact": "favourite colour is teal", "as": "palette accent", "value": "Teal #008080"} in look.provenance["facts"]["used"]
    assert "Teal" in look.description and untrue_facts(look.description, look.summary, colour_names=her_colours) == []
    assert look.summary["made_for"] == "for your sister's wedding" and "your sister's wedding" in look.description

    fingerprint = look.fingerprint
    assert fingerprint["max_delta_e"] > 10 >= min(colour["delta_e"] for colour in fingerprint["colours"])
    assert 0 < fingerprint["mean_delta_e"] < fingerprint["max_delta_e"]
    assert any("Teal" in warning and "favourite" in warning for warning in fingerprint["drift"])
    assert isinstance(fingerprint["uses_her_motifs"], bool) and isinstance(fingerprint["her_motifs"], list)


def test_look_without_facts_stays_in_her_palette(card, tmp_path, her_colours):
    plain = make_look(card, LOOK_BRIEF, FanFacts(), tmp_path / "out", seed=3)
    assert plain.provenance["facts"]["used"] == [] and "recipient" not in plain.summary
    assert not any(entry["for_fan"] for entry in plain.summary["colours"])
    assert {entry["name"] for entry in plain.summary["colours"]} <= set(her_colours)
    assert plain.fingerprint["max_delta_e"] == 0 and not any("ΔE" in warning for warning in plain.fingerprint["drift"])
    assert untrue_facts(plain.description, plain.summary, colour_names=her_colours) == []


def test_a_cancelled_look_leaves_nothing(card, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        make_look(card, LOOK_BRIEF, FAN_A, out, seed=3, progress=Recorder(raise_at="back flat"))
    assert list(out.iterdir()) == []


# --- the print ---------------------------------------------------------------------------------


def test_print_tile_is_seamless_and_its_repeat_is_the_tile_twice_over(fabric_print):
    out = out_dir_of(fabric_print)
    assert [path.name for path in fabric_print.files] == ["print.png", "print-repeat.png", "print.json"]
    assert sorted(path.name for path in out.iterdir()) == ["print-repeat.png", "print.json", "print.png"]
    assert fabric_print.preview == "print.png"

    tile = Image.open(out / "print.png").convert("RGB")
    pixels = np.asarray(tile, dtype=np.float32)
    for axis in (1, 0):  # left/right, then top/bottom
        inside = np.abs(np.diff(pixels, axis=axis)).mean(axis=(1 - axis, 2))
        first, last = np.take(pixels, 0, axis=axis), np.take(pixels, -1, axis=axis)
        across = np.abs(first - last).mean()
        assert across <= 1.5 * inside.max(), f"the wrap step ({across:.1f}) is unlike any step inside ({inside.max():.1f})"
    assert seam_ratio(tile) <= SEAMLESS_LIMIT and fabric_print.summary["seamless"]

    repeat = Image.open(out / "print-repeat.png").convert("RGB")
    assert repeat.size == (2 * tile.width, 2 * tile.height)
    for x in (0, tile.width):
        for y in (0, tile.height):
            assert np.array_equal(np.asarray(repeat.crop((x, y, x + tile.width, y + tile.height))), pixels.astype(np.uint8))

    record = json.loads((out / "print.json").read_text(encoding="utf-8"))
    spec = DesignSpec.from_data(record["spec"], source="print.json")
    assert spec.print.type != "solid" and record["drawn"] == fabric_print.summary["variant"] and record["tile_px"] == tile.width


def test_print_is_named_after_the_pet_and_takes_the_fans_colour(fabric_print, her_colours):
    summary = fabric_print.summary
    assert fabric_print.title == summary["name"] and fabric_print.title.startswith("Bori's ")
    assert summary["colours"][1]["hex"] == "#008080" and summary["colours"][1]["for_fan"]
    assert fabric_print.provenance["facts"]["used"] == [
        {"fact": "favourite colour is teal", "as": "palette accent", "value": "Teal #008080"},
        {"fact": "has a dog called Bori", "as": "title", "value": "Bori"},
        {"fact": "name", "as": "greeting", "value": "Minji"},
    ]
    assert untrue_facts(fabric_print.description, summary, colour_names=her_colours) == []
    assert summary["repeat"] in fabric_print.description and summary["drawn"] in fabric_print.description
    assert {"mean_delta_e", "max_delta_e", "drift", "uses_her_motifs", "seam_ratio"} <= set(fabric_print.fingerprint)


def test_a_folder_that_already_holds_a_creation_is_refused(card, tmp_path):
    first = make_print(card, "rain on the window", FanFacts(), tmp_path, seed=1)
    before = first.files[0].read_bytes()
    with pytest.raises(FileExistsError, match="fresh folder"):
        make_print(card, "moons over Seoul", FanFacts(), tmp_path, seed=2)
    assert first.files[0].read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in first.files)


# --- the fan's facts: used only when given, never carried over -------------------------------------


def test_one_fans_facts_never_reach_anothers_creation(card, tmp_path):
    made_for_a = [
        make_song(card, SONG_BRIEF, FAN_A, tmp_path / "a-song", seconds=8, seed=4),
        make_look(card, LOOK_BRIEF, FAN_A, tmp_path / "a-look", seed=4),
        make_print(card, "a print for my bedroom", FAN_A, tmp_path / "a-print", seed=4),
    ]
    assert "Bori" in made_for_a[0].title and made_for_a[2].title.startswith("Bori's")
    made_for_b = [
        make_song(card, SONG_BRIEF, FAN_B, tmp_path / "b-song", seconds=8, seed=4),
        make_look(card, LOOK_BRIEF, FAN_B, tmp_path / "b-look", seed=4),
        make_print(card, "a print for my bedroom", FAN_B, tmp_path / "b-print", seed=4),
    ]
    for creation in made_for_b:
        said = everything_said(creation)
        assert not [word for word in A_ONLY if word in said], creation.kind
        assert "Jun" in creation.description
    assert "Mochi" in made_for_b[0].title and made_for_b[2].title.startswith("Mochi's")
    assert any(entry["name"] == "Lavender" and entry["for_fan"] for entry in made_for_b[1].summary["colours"])


def test_fan_facts_are_read_from_english_and_korean_notes():
    english = read_fan_facts(FanFacts(name=" Minji ", notes=["favourite colour is sky blue", "walks her dog Kong daily", "moved to New York last year"]))
    assert english.name == "Minji"
    assert (english.colour.value, english.colour.hex, english.colour.note) == ("sky blue", "#8CC7E8", "favourite colour is sky blue")
    assert (english.pet.value, english.city.value) == ("Kong", "New York")

    korean = read_fan_facts(FanFacts(notes=["좋아하는 색은 청록색이야", "보리라는 고양이를 키워", "부산에 살아"]))
    assert (korean.colour.value, korean.pet.value, korean.city.value) == ("teal", "보리", "부산")
    assert read_fan_facts(FanFacts(notes=["강아지 이름은 나비야"])).pet.value == "나비"

    nothing = read_fan_facts(FanFacts(notes=["has a red bike", "works night shifts", "is from a family of musicians", ""]))
    assert (nothing.colour, nothing.pet, nothing.city) == (None, None, None)  # a colour mentioned is not a favourite
    assert read_fan_facts(FanFacts()) == read_fan_facts(FanFacts(name="", notes=[]))


def test_a_request_is_read_for_what_it_is_about_and_for():
    assert read_request(SONG_BRIEF).made_for == "for your rainy commute"
    assert read_request("hi haeun! i'd love a song about the first snow. it's my birthday").made_for == "about the first snow"
    assert read_request(LOOK_BRIEF).subject == "my sister's wedding"
    assert read_request("make me a song!").subject == ""
    assert read_request("비 오는 출근길 노래 만들어줘").subject == "비 오는 출근길"
    assert read_request("make me a print with my cat Bori").made_for == ""  # she cannot draw Bori; she won't say she did


@pytest.mark.parametrize("maker", [make_song, make_look, make_print])
@pytest.mark.parametrize("brief", ["", "   \n "])
def test_an_empty_brief_is_a_clear_error(card, tmp_path, maker, brief):
    with pytest.raises(ValueError, match="brief: expected the fan's words"):
        maker(card, brief, FAN_A, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_other_bad_arguments_are_clear_errors(card, tmp_path):
    with pytest.raises(ValueError, match="seconds"):
        make_song(card, SONG_BRIEF, FAN_A, tmp_path, seconds=2)
    with pytest.raises(ValueError, match="soundfont"):
        make_song(card, SONG_BRIEF, FAN_A, tmp_path, soundfont=tmp_path / "missing.sf2")
    with pytest.raises(ValueError, match="seed"):
        make_look(card, LOOK_BRIEF, FAN_A, tmp_path, seed=-1)
    assert list(tmp_path.iterdir()) == []


# --- every fact her description states is true -------------------------------------------------------


@pytest.mark.parametrize("brief", [LOOK_BRIEF, "a cosy winter coat for walking my dog", "something for a summer night market, in linen",
                                   "졸업식에 입을 옷 만들어줘"])
def test_look_descriptions_state_only_true_facts(card, tmp_path, her_colours, brief):
    for seed in (0, 1):
        creation = make_look(card, brief, FAN_B if seed else FanFacts(), tmp_path / f"{seed}", seed=seed)
        for variant in range(12):
            text = describe_look(creation.summary, variant)
            assert untrue_facts(text, creation.summary, colour_names=her_colours) == [], text
            assert 1 <= sentence_count(text) <= 3, text
            stated = facts_stated(text, creation.summary, colour_names=her_colours)
            assert stated["title"] == [creation.title] and stated["garment"] == [creation.summary["garment"]], text
            assert stated["fabric"] == [creation.summary["fabric"]["type"]] and stated["colours"], text


@pytest.mark.parametrize("brief", [PRINT_BRIEF, "a print of moons over Seoul", "flowers for my mum's birthday"])
def test_print_descriptions_state_only_true_facts(card, tmp_path, her_colours, brief):
    for seed in (0, 1):
        creation = make_print(card, brief, FAN_A if seed else FanFacts(), tmp_path / f"{seed}", seed=seed)
        for variant in range(12):
            text = describe_print(creation.summary, variant)
            assert untrue_facts(text, creation.summary, colour_names=her_colours) == [], text
            assert 1 <= sentence_count(text) <= 3, text
            assert facts_stated(text, creation.summary)["repeat"] == [creation.summary["repeat"]], text


def test_song_descriptions_state_only_true_facts(song, her_colours):
    creation, _ = song
    summaries = [creation.summary, {key: value for key, value in creation.summary.items() if key not in ("recipient", "named_after", "made_for")},
                 {**creation.summary, "duration_s": 125.4, "genre": "gugak fusion", "bpm": 96.5}]
    for summary in summaries:
        for seed in range(20):
            text = describe_song(summary, seed)
            assert untrue_facts(text, summary, colour_names=her_colours) == [], text
            assert 1 <= sentence_count(text) <= 3, text
            stated = facts_stated(text, summary)
            assert stated["key"] == [summary["key"]] and stated["bpm"] == [summary["bpm"]] and len(stated["duration_s"]) == 1, text
            assert stated["instruments"] and stated["title"] == [summary["title"]], text


def test_the_checker_catches_untrue_facts(song, look, fabric_print, her_colours):
    creation, _ = song
    text, summary = creation.description, creation.summary
    assert untrue_facts(text.replace(f"{summary['bpm']:g} BPM", "140 BPM"), summary)
    assert untrue_facts(text.replace(summary["key"], "B phrygian"), summary)
    lead = facts_stated(text, summary)["instruments"][0]
    assert untrue_facts(text.replace(lead, "violin"), summary) == ["instruments: 'violin' is not what the summary says"]
    assert untrue_facts(text.replace(f"“{summary['title']}”", "“Another Song”"), summary)

    garment = look.summary["garment"]
    assert untrue_facts(look.description.replace(garment, "jumpsuit" if garment != "jumpsuit" else "coat"), look.summary)
    assert untrue_facts(look.description.replace(look.summary["colours"][0]["name"], "Mustard"), look.summary)
    absent = next(name for name in her_colours if name not in {entry["name"] for entry in look.summary["colours"]})
    assert untrue_facts(f"{look.description} The lining is {absent}.", look.summary, colour_names=her_colours) == \
        [f"colours: {absent.lower()!r} is not what the summary says"]
    repeat = fabric_print.summary["repeat"]
    assert untrue_facts(fabric_print.description.replace(repeat, "mirror" if repeat != "mirror" else "brick"), fabric_print.summary)
