"""Briefs into composition plans: the persona's tempo range, keys, genres and instruments shape
every plan; mood words move tempo and mode the way they should; the structure fits the minutes
asked for; the same brief and seed always give the same plan; a dialogue model plans under a
JSON schema, its easy mistakes are mended and the procedural planner covers its failures."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from canned_backend import CannedBackend, PlainBackend
from pydantic import ValidationError

from pipelines.dialogue import DialogueError, DialogueTimeout
from pipelines.music.harmony import parent_steps, parse_chord
from pipelines.music.llm_planner import PLAN_SCHEMA, LLMPlanner, mend_chord, plan_piece
from pipelines.music.plan import CHORD, MAX_BARS, MODES, CompositionPlan, Key
from pipelines.music.planner import MusicBrief, ProceduralPlanner, read_mood, sound_for
from pipelines.style import MusicDNA

MINOR_MODES = {"minor", "harmonic minor", "phrygian", "pentatonic minor"}
BRIGHT_MODES = {"major", "lydian", "dorian", "mixolydian", "pentatonic major"}


@pytest.fixture(scope="module")
def music(haeun) -> MusicDNA:
    return haeun.music


@pytest.fixture(scope="module")
def planner(music, haeun) -> ProceduralPlanner:
    return ProceduralPlanner(music, persona=haeun.name)


def felt_bpm(plan: CompositionPlan) -> float:
    compound = plan.time_signature.denominator == 8 and plan.time_signature.numerator in (6, 12)
    return plan.bpm / 1.5 if compound else plan.bpm


def target_bars(plan: CompositionPlan, minutes: float) -> float:
    return minutes * plan.bpm / plan.time_signature.beats_per_bar


# --- the procedural planner --------------------------------------------------------------------

def test_the_same_brief_and_seed_give_the_same_plan(planner):
    brief = MusicBrief(text="rainy Seoul night, hopeful", minutes=3, seed=7)
    assert planner.plan(brief) == planner.plan(brief.model_copy())
    plans = [planner.plan(brief.model_copy(update={"seed": seed})) for seed in range(6)]
    assert len({plan.model_dump_json() for plan in plans}) == 6
    assert {plan.seed for plan in plans} == set(range(6))


def test_the_rainy_seoul_night_brief(planner, music):
    plan = planner.plan(MusicBrief(text="rainy Seoul night, hopeful", minutes=3, seed=1))
    low, high = music.tempo_range
    assert low <= plan.bpm < (low + high) / 2  # rain and night slow it; hope keeps it off the floor
    assert str(plan.key) == "D dorian"  # a minor mode with a hopeful raised sixth
    assert plan.genre in music.genres
    assert plan.title == "Rainy Seoul Night, Hopeful"
    assert plan.mood == ["rainy", "night", "hopeful"]
    assert plan.persona == "Haeun" and plan.signature == music.signature_motif
    assert abs(plan.duration_s - 180) <= 0.1 * 180


def test_mood_words_move_the_tempo_within_the_personas_range(planner, music):
    low, high = music.tempo_range
    for seed in range(8):
        slow = planner.plan(MusicBrief(text="slow sleepy rain at midnight", minutes=2, genre="lo-fi chamber", seed=seed))
        fast = planner.plan(MusicBrief(text="bright happy dance party", minutes=2, genre="lo-fi chamber", seed=seed))
        assert low <= slow.bpm < fast.bpm <= high
        assert slow.bpm < low + 0.35 * (high - low) and fast.bpm > low + 0.65 * (high - low)


def test_sad_briefs_take_minor_modes_and_hopeful_ones_bright_modes(planner, music):
    for seed in range(8):
        sad = planner.plan(MusicBrief(text="sad lonely night", seed=seed))
        hopeful = planner.plan(MusicBrief(text="hopeful, bright morning", seed=seed))
        assert sad.key.mode in MINOR_MODES and hopeful.key.mode in BRIGHT_MODES
        assert {str(sad.key), str(hopeful.key)} <= set(music.keys)
    assert read_mood("Hopeless").brightness < 0 < read_mood("hopeful").brightness  # the longer word wins


@pytest.mark.parametrize("minutes", [0.25, 1, 3, 8])
def test_the_structure_fits_the_minutes_asked_for(planner, minutes):
    plan = planner.plan(MusicBrief(text="rainy Seoul night, hopeful", minutes=minutes, genre="city pop", seed=3))
    wanted = target_bars(plan, minutes)
    assert abs(plan.total_bars - wanted) <= max(2, 0.1 * wanted)
    loops = [section for section in plan.sections if section.loop]
    assert len(loops) == 1 and loops[0].name.startswith("chorus")
    if minutes >= 1:
        energies = [section.energy for section in plan.sections]
        peak = energies.index(max(energies))
        assert plan.sections[0].name == "intro" and plan.sections[-1].name == "outro"
        assert 0 < peak < len(energies) - 1 and energies[0] < 0.4 and energies[-1] < 0.4
        assert energies[peak] >= 0.8
    names = [section.name for section in plan.sections]
    assert len(set(names)) == len(names)


def test_long_pieces_grow_more_rounds_and_stop_at_the_plans_limit(planner):
    eight = planner.plan(MusicBrief(text="night drive", minutes=8, bpm=96, seed=1))
    assert Counter(section.name.split()[0] for section in eight.sections)["chorus"] >= 4
    longest = planner.plan(MusicBrief(text="night drive", minutes=20, bpm=200, seed=1))
    assert MAX_BARS - 8 <= longest.total_bars <= MAX_BARS


@pytest.mark.parametrize("mode", list(MODES))
def test_progressions_stay_in_the_mode_and_start_at_home(music, mode):
    plan = ProceduralPlanner(music).plan(MusicBrief(text="a walk", key=f"E {mode}", genre="pop", seed=2))
    scale = {(plan.key.pitch_class + step) % 12 for step in parent_steps(mode)}
    for section in plan.sections:
        assert {parse_chord(symbol, plan.key).root for symbol in section.chords} <= scale, section.chords
    assert parse_chord(plan.sections[0].chords[0], plan.key).root == plan.key.pitch_class


def test_the_genre_colours_the_chords(music):
    soul = ProceduralPlanner(music).plan(MusicBrief(text="warm", key="C major", genre="neo-soul", seed=4))
    assert all(symbol.endswith("7") for section in soul.sections for symbol in section.chords)
    assert "Imaj7" in {symbol for section in soul.sections for symbol in section.chords}
    pop = ProceduralPlanner(music).plan(MusicBrief(text="warm", key="C major", genre="pop", seed=4))
    assert all(symbol.isalpha() for section in pop.sections for symbol in section.chords)


def test_gugak_fusion_moves_in_compound_meter_at_a_felt_tempo_in_range(planner, music):
    for seed in range(4):
        plan = planner.plan(MusicBrief(text="temple at dawn", genre="gugak fusion", seed=seed))
        assert (plan.time_signature.numerator, plan.time_signature.denominator) in {(6, 8), (12, 8)}
        assert music.tempo_range[0] <= felt_bpm(plan) <= music.tempo_range[1]
    waltz = planner.plan(MusicBrief(text="a slow waltz", seed=1))
    assert (waltz.time_signature.numerator, waltz.time_signature.denominator) == (3, 4)


def test_the_briefs_fixed_choices_win(planner):
    plan = planner.plan(MusicBrief(text="sad night", bpm=132, key="f# MINOR", genre="city pop", meter="6/8", minutes=2))
    assert (plan.bpm, str(plan.key), plan.genre) == (132, "F# minor", "city pop")
    assert (plan.time_signature.numerator, plan.time_signature.denominator) == (6, 8)


@pytest.mark.parametrize(("name", "program", "role"), [
    ("detuned upright piano", 3, "chords"),
    ("Rhodes electric piano", 4, "chords"),
    ("gayageum", 107, "melody"),
    ("fretless bass", 35, "bass"),
    ("brushed drums", 0, "drums"),
    ("clarinet", 71, "melody"),
    ("bass clarinet", 71, "melody"),
    ("soft analog synth pads", 89, "pad"),
    ("sewing-machine percussion (field recording)", 115, "arpeggio"),
    ("rain field recordings", 122, "pad"),
    ("upright bass", 32, "bass"),
    ("steel drum", 114, "melody"),
    ("daegeum", 77, "melody"),
    ("English horn", 69, "melody"),
    ("bassoon", 70, "counter"),
    ("thumb piano", 108, "melody"),
    ("drum sticks", 0, "drums"),
    ("organic textures", 0, "melody"),  # not an organ
    ("가야금", 107, "melody"),
    ("theremin", 0, "melody"),  # nothing matches: a piano that can lead
])
def test_instrument_names_map_to_general_midi(name, program, role):
    sound = sound_for(name)
    assert (sound.program, sound.roles[0]) == (program, role)


def test_the_personas_instruments_each_get_a_part_and_the_core_roles(planner, music):
    plan = planner.plan(MusicBrief(text="rainy Seoul night, hopeful", seed=3))
    assert [part.name for part in plan.instruments] == music.instruments
    roles = Counter(part.role for part in plan.instruments)
    assert all(roles[role] == 1 for role in ("melody", "chords", "bass", "drums"))
    drums = next(part for part in plan.instruments if part.role == "drums")
    assert (drums.name, drums.program) == ("brushed drums", 40)  # the brush kit
    programs = {part.name: part.program for part in plan.instruments}
    assert programs["rain field recordings"] == 122 and programs["sewing-machine percussion (field recording)"] == 115
    melodies = {planner.plan(MusicBrief(text="temple", genre="gugak fusion", seed=seed)).instruments[2].role for seed in range(4)}
    assert melodies == {"melody"}  # gugak reaches for the gayageum


def test_a_persona_without_music_still_gets_a_full_band():
    plan = ProceduralPlanner(MusicDNA()).plan("")
    assert {"melody", "chords", "bass", "drums", "pad"} <= {part.role for part in plan.instruments}
    assert plan.genre == "pop" and 80 <= plan.bpm <= 120 and plan.title.startswith("Sketch in ")
    solo = ProceduralPlanner(MusicDNA(instruments=["fretless bass"])).plan("x")
    assert [part.role for part in solo.instruments] == ["melody", "bass", "chords"]


def test_a_bad_brief_is_a_clear_error():
    with pytest.raises(ValidationError, match="minutes"):
        MusicBrief(minutes=0.1)
    with pytest.raises(ValidationError, match="unknown tonic 'H'"):
        MusicBrief(key="H major")
    with pytest.raises(ValidationError, match="time signature such as"):
        MusicBrief(meter="waltz")
    with pytest.raises(ValidationError, match="denominator"):
        MusicBrief(meter="4/5")
    assert MusicBrief(key="eb", meter=" 12 / 8 ").key == "Eb major"


def test_long_titles_are_cut_at_a_word(planner):
    plan = planner.plan(MusicBrief(text="a " * 30 + "very long brief about rain on the river at night in the old city, hopeful"))
    assert len(plan.title) <= 80 and not plan.title.endswith(" ")


# --- the dialogue model as planner -------------------------------------------------------------

def model_plan(**fields) -> dict:
    plan = {
        "title": "Umbrella Lights", "bpm": 84, "key": {"tonic": "A", "mode": "minor"},
        "time_signature": {"numerator": 4, "denominator": 4}, "genre": "lo-fi chamber", "mood": ["wistful"],
        "sections": [
            {"name": "intro", "bars": 8, "chords": ["i", "bVI"], "energy": 0.2},
            {"name": "verse", "bars": 16, "chords": ["i", "iv", "bVII", "bIII"], "energy": 0.5},
            {"name": "chorus", "bars": 16, "chords": ["bVI", "bVII", "i", "i"], "energy": 0.9, "loop": True},
            {"name": "verse 2", "bars": 16, "chords": ["i", "iv", "bVII", "bIII"], "energy": 0.55},
            {"name": "outro", "bars": 8, "chords": ["i", "bVI"], "energy": 0.2},
        ],
        "instruments": [{"name": "clarinet", "role": "melody", "program": 71}, {"name": "upright piano", "role": "chords", "program": 3},
                        {"name": "fretless bass", "role": "bass", "program": 35}, {"name": "brushes", "role": "drums", "program": 40}],
    }
    return {**plan, **fields}


BRIEF = MusicBrief(text="rainy Seoul night, hopeful", minutes=3.5, seed=11)


async def test_a_model_plan_is_used_with_the_planners_own_fields(music, haeun):
    backend = CannedBackend(json.dumps(model_plan(seed=99, persona="someone else", signature=[])))
    plan = await LLMPlanner(backend, music, persona=haeun.name).plan(BRIEF)
    assert plan.title == "Umbrella Lights" and str(plan.key) == "A minor" and plan.total_bars == 64
    assert (plan.seed, plan.persona, plan.signature) == (11, "Haeun", music.signature_motif)
    messages, params = backend.requests[0]
    assert params.json_schema == PLAN_SCHEMA and params.seed == 11 and params.max_tokens >= 1000
    assert "rainy Seoul night, hopeful" in messages[1].content and "gayageum" in messages[1].content


def test_the_schema_spells_out_keys_and_chords_and_leaves_out_what_the_planner_fills_in():
    assert not {"seed", "signature", "persona"} & set(PLAN_SCHEMA["properties"]) and "MotifNote" not in PLAN_SCHEMA["$defs"]
    assert PLAN_SCHEMA["$defs"]["Key"]["properties"]["mode"]["enum"] == list(MODES)
    pattern = PLAN_SCHEMA["$defs"]["Section"]["properties"]["chords"]["items"]["pattern"]
    assert "?P<" not in pattern and pattern.startswith("^")


@pytest.mark.parametrize(("written", "meant"), [
    ("viio", "vii°"), ("vii dim", "vii°"), ("iim7", "ii7"), ("bVII maj7", "bVIImaj7"), ("V9", "V7"), ("♭VI", "bVI"),
    ("IVsus", "IVsus4"), ("IM7", "Imaj7"), ("iiø7", "ii°7"), ("III+", "III+"), ("C major", None), ("", None), (4, None),
])
def test_chord_spellings_are_mended(written, meant):
    assert mend_chord(written) == meant


async def test_easy_mistakes_are_mended(music):
    sections = model_plan()["sections"]
    sections[1] = {"name": "verse", "bars": 14, "chords": ["i", "iv", "viio", "bIII maj7", "Xmaj"], "energy": 1.4}  # 4 chords after mending
    instruments = model_plan()["instruments"] + [{"name": "shaker", "role": "drums", "program": 300}]
    instruments += [{"name": f"violin {n}", "role": "counter", "program": 40} for n in range(14)]  # 19 parts in all
    reply = json.dumps(model_plan(title="  Umbrella   Lights ", key="D dorian", time_signature="4/4", sections=sections, instruments=instruments))
    plan = await LLMPlanner(CannedBackend(reply), music).plan(BRIEF)
    assert plan.title == "Umbrella Lights" and str(plan.key) == "D dorian"
    verse = plan.sections[1]
    assert verse.chords == ["i", "iv", "vii°", "bIIImaj7"] and verse.bars % 4 == 0 and verse.energy == 1.0
    shaker = plan.instruments[4]
    assert (shaker.role, shaker.program) == ("counter", 127)
    assert len(plan.instruments) == 16 and plan.instruments[-1].name == "violin 10"  # MIDI's sixteen channels


async def test_a_plan_of_the_wrong_length_is_resized_by_whole_progressions(music):
    sections = [{"name": "loop", "bars": 4, "chords": ["i", "iv", "v", "i"], "energy": 0.7, "loop": True}]
    plan = await LLMPlanner(CannedBackend(json.dumps(model_plan(sections=sections))), music).plan(BRIEF)
    assert abs(plan.total_bars - target_bars(plan, 3.5)) <= 4 and plan.total_bars % 4 == 0


async def test_the_briefs_fixed_choices_win_over_the_model(music):
    brief = BRIEF.model_copy(update={"bpm": 100.0, "key": "C lydian", "genre": "city pop", "meter": "3/4"})
    plan = await LLMPlanner(CannedBackend(json.dumps(model_plan())), music).plan(brief)
    assert (plan.bpm, str(plan.key), plan.genre, plan.time_signature.numerator) == (100, "C lydian", "city pop", 3)
    assert plan.title == "Umbrella Lights"


@pytest.mark.parametrize("failure", [
    "not json", "[1, 2]", '{"title": "only a title"}', json.dumps(model_plan(bpm=500)),
    json.dumps(model_plan(sections=[{"name": "verse", "bars": 8, "chords": ["Xmaj", "nope"]}])),
    json.dumps(model_plan(instruments=[{"name": "kazoo", "role": "lead", "program": 1}])),
    DialogueError("the model server answered HTTP 500"), DialogueTimeout("no answer in 60 s"), None,
])
async def test_a_failing_model_leaves_the_plan_to_the_procedural_planner(music, planner, failure, caplog):
    backend = CannedBackend(failure)
    with caplog.at_level(logging.WARNING, logger="pipelines.music.llm_planner"):
        plan = await LLMPlanner(backend, music, persona="Haeun", timeout_s=0.2).plan(BRIEF)
    assert plan == planner.plan(BRIEF)
    assert len(backend.requests) == 1 and "model plan failed" in caplog.text


async def test_plan_piece_uses_the_model_only_when_it_can_answer_under_a_schema(music, planner):
    capable = CannedBackend(json.dumps(model_plan()))
    assert (await plan_piece(BRIEF, music, capable, persona="Haeun")).title == "Umbrella Lights"
    plain = PlainBackend(json.dumps(model_plan()))
    assert await plan_piece(BRIEF, music, plain, persona="Haeun") == planner.plan(BRIEF)
    assert plain.requests == []
    assert await plan_piece("rainy Seoul night, hopeful", music, persona="Haeun") == planner.plan(MusicBrief(text="rainy Seoul night, hopeful"))
    with pytest.raises(DialogueError, match="cannot constrain"):
        LLMPlanner(plain, music)


@pytest.mark.vllm
async def test_vllm_plans_within_the_schema(vllm_server, haeun):
    from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend

    from pipelines.music.composer import compose

    backend = OpenAICompatibleBackend(vllm_server.base_url, "smollm2", timeout_s=180)
    # The test model reads 2,048 tokens in all: about 800 of prompt leave room for 1,000 of plan.
    planner = LLMPlanner(backend, haeun.music, persona=haeun.name, timeout_s=180, max_tokens=1000)
    brief = MusicBrief(text="rainy Seoul night, hopeful", minutes=1, seed=1)
    text, finished = await backend.complete(planner.messages(brief), planner.params(brief))
    if finished.finish_reason == "stop":  # a reply cut off by max_tokens cannot be whole JSON
        data = json.loads(text)
        assert set(data) <= set(PLAN_SCHEMA["properties"])
        Key.model_validate(data["key"])  # the tonic and mode enums held
        assert all(CHORD.match(chord) for section in data["sections"] for chord in section["chords"])
    plan = await planner.plan(brief)  # the model's plan, mended, or the procedural one
    assert plan.seed == 1 and plan.signature == haeun.music.signature_motif
    assert compose(plan).parts
    await backend.aclose()
