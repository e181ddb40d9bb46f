"""Briefs into candidate designs: every candidate is a valid, consistent spec drawn from the
persona's DNA and the brief's words; the same brief and seed always give the same candidates;
a dialogue model drafts candidates under a JSON schema and the procedural designer covers
whatever it gets wrong."""

from __future__ import annotations

import json
import logging
import statistics
from collections import Counter

import pytest
from canned_backend import CannedBackend, PlainBackend
from pydantic import ValidationError

from pipelines.dialogue import DialogueError, DialogueTimeout
from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.brief import CUES, DesignBrief, PersonaStyle, ProceduralDesigner, candidate_seed, parse_keywords, read_garment_words
from pipelines.fashion.garments import (
    CLOSURES_BY_CATEGORY,
    DETAIL_PARTS,
    FINISHES_BY_FABRIC,
    LENGTHS_BY_CATEGORY,
    NECKLINES_BY_CATEGORY,
    SILHOUETTES_BY_CATEGORY,
    SLEEVE_TYPES_BY_LENGTH,
    detail_fits,
)
from pipelines.fashion.llm_designer import CANDIDATE_SCHEMA, LLMDesigner, design_candidates, designs_in_reply
from pipelines.fashion.palette import lightness
from pipelines.fashion.spec import DesignSpec
from pipelines.style import FashionDNA, NamedColor, VisualIdentity


@pytest.fixture(scope="module")
def designer(haeun) -> ProceduralDesigner:
    return ProceduralDesigner(haeun.fashion, haeun.visual)


def by_part(specs: list[DesignSpec]) -> Counter:
    return Counter(spec.body_part for spec in specs)


# --- the brief ----------------------------------------------------------------------------------

def test_keywords_are_read_from_the_text_and_text_from_keywords():
    assert parse_keywords("Flowers on Venus, hopeful!") == ["Flowers", "Venus", "hopeful"]
    assert DesignBrief(text="rainy Seoul night, hopeful").keywords == ["rainy", "Seoul", "night", "hopeful"]
    brief = DesignBrief.of(["flower", "Venus", "FLOWER", " "])
    assert brief.keywords == ["flower", "Venus"] and brief.text == "flower Venus"
    assert DesignBrief.of("flowers on Venus", n=3).n == 3


@pytest.mark.parametrize("fields, problem", [
    ({"n": 0}, "n"), ({"n": 5001}, "n"), ({"seed": -1}, "seed"),
    ({"constraints": {"categories": ["gown"]}}, "category"), ({"constraints": {"season": "monsoon"}}, "season"),
    ({"keywords": ["x" * 41]}, "too long"),
])
def test_an_invalid_brief_names_the_field(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        DesignBrief(text="flowers", **fields)


# --- reading the persona's free text ------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("cocoon coat with dropped shoulders", {"category": ["coat"], "silhouette": ["cocoon"], "sleeve type": ["drop-shoulder"]}),
    ("washed linen", {"fabric type": ["linen"], "fabric finish": ["washed"]}),
    ("visible hand running stitch in contrast thread", {"detail": ["hand-stitching"]}),
    ("goreum-inspired ties instead of buttons", {"detail": ["ties"], "closure": ["wrap-tie"]}),
    ("A-line midi skirt with deep inverted pleats", {"category": ["skirt"], "silhouette": ["a-line"], "length": ["midi"], "detail": ["inverted-pleats"]}),
    ("wide leg pleated trousers", {"category": ["trousers"], "silhouette": ["wide-leg"], "detail": ["pleats"]}),
    ("silk organsa", {"fabric type": ["silk", "organza"]}),  # a typo still reads
])
def test_free_text_reads_as_vocabulary(text, expected):
    assert read_garment_words(text).found == expected


def test_the_persona_style_keeps_signature_garments_and_fabrics_whole(haeun):
    style = PersonaStyle.read(haeun.fashion, haeun.visual)
    coat = next(g for g in style.garments if g.category == "coat")
    assert coat.fields == {"silhouette": "cocoon", "sleeve type": "drop-shoulder"}
    fabrics = {(f.type, f.finish) for f in style.fabrics}
    assert {("linen", "washed"), ("wool", "boiled"), ("cotton", "waxed"), ("organza", None), ("knit", None), ("voile", "quilted")} <= fabrics
    assert {"hand-stitching", "ties", "quilting", "raw-hem", "patchwork"} <= set(style.details)
    assert {m.text: m.print_type for m in style.motifs}["concentric ripples"] == "ripple"
    assert {m.text: m.print_type for m in style.motifs}["moon over Seongsu rooftops"] == "celestial"


# --- candidates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["flowers on Venus", "rainy Seoul night, hopeful", "linen trench, winter market"])
def test_every_candidate_is_a_valid_consistent_spec(designer, haeun, text):
    brief = DesignBrief(text=text, n=400, seed=11)
    specs = designer.design(brief)
    palette = {colour.name: colour.hex for colour in haeun.visual.palette}
    assert len(specs) == 400 and len({spec.id for spec in specs}) == 400
    for index, spec in enumerate(specs):
        assert DesignSpec.model_validate_json(spec.model_dump_json()) == spec
        assert spec.id.endswith(f"-{index + 1:04d}")
        assert spec.provenance.backend == "procedural" and spec.provenance.seed == candidate_seed(11, index)
        category = spec.category
        assert spec.silhouette in SILHOUETTES_BY_CATEGORY[category]
        assert spec.length in LENGTHS_BY_CATEGORY[category]
        assert spec.closure in CLOSURES_BY_CATEGORY[category]
        if spec.body_part == "lower":
            assert spec.neckline == "none" and spec.sleeve.length == "sleeveless"
        else:
            assert spec.neckline in NECKLINES_BY_CATEGORY[category]
        assert spec.sleeve.type in SLEEVE_TYPES_BY_LENGTH[spec.sleeve.length]
        assert all(detail_fits(d, category, spec.sleeve.length == "sleeveless") for d in spec.details)
        assert spec.fabric.finish in FINISHES_BY_FABRIC[spec.fabric.type]
        assert 2 <= len(spec.palette) <= 4 and abs(sum(c.share for c in spec.palette) - 1) < 1e-9
        assert all(palette[c.name] == c.hex for c in spec.palette)
        assert len({c.name for c in spec.palette}) == len(spec.palette)
        assert (spec.print.type == "solid") == (spec.print.motif == "")
        assert set(spec.concept) <= set(brief.keywords)
        assert spec.name and spec.name[0].isupper()


def test_the_same_brief_and_seed_give_the_same_candidates_and_other_seeds_differ(designer):
    brief = DesignBrief(text="flowers on Venus", n=60, seed=5)
    first = designer.design(brief)
    assert first == designer.design(brief)
    other = designer.design(brief.model_copy(update={"seed": 6}))
    same = sum(a.model_dump(exclude={"provenance"}) == b.model_dump(exclude={"provenance"}) for a, b in zip(first, other))
    assert same == 0


def test_candidate_i_is_the_same_however_many_are_asked_for(designer):
    few = designer.design(DesignBrief(text="flowers on Venus", n=10, seed=3))
    many = designer.design(DesignBrief(text="flowers on Venus", n=300, seed=3))
    assert many[:10] == few
    assert designer.candidate(DesignBrief(text="flowers on Venus", n=1, seed=3), 123) == many[123]


def test_candidates_are_varied_and_balanced_across_body_parts(designer):
    specs = designer.design(DesignBrief(text="flowers on Venus", n=400, seed=0))
    assert by_part(specs) == {"upper": 100, "lower": 100, "outer": 100, "full": 100}
    shapes = {(s.category, s.silhouette, s.fabric.type, s.print.type, tuple(c.name for c in s.palette)) for s in specs}
    assert len(shapes) > 380
    assert len({s.category for s in specs}) >= 20


def test_the_brief_steers_prints_names_and_concepts(designer):
    venus = designer.design(DesignBrief(text="flowers on Venus", n=400, seed=1))
    prints = Counter(s.print.type for s in venus)
    assert (prints["floral"] + prints["celestial"]) / len(venus) > 0.5
    assert all(s.concept and set(s.concept) <= {"flowers", "Venus"} for s in venus)
    themed = {"Flower", "Venus"} | {t for cue in CUES if {"flower", "venus"} & set(cue.words) for t in cue.titles}
    assert sum(bool(themed & set(s.name.split())) for s in venus) / len(venus) > 0.8
    motifs = [s.print.motif for s in venus if s.print.type != "solid"]
    assert all(m.startswith("flowers on Venus: ") for m in motifs)

    rain = designer.design(DesignBrief(text="monsoon rain", n=400, seed=1))
    outer_rain = Counter(s.category for s in rain if s.body_part == "outer")
    outer_venus = Counter(s.category for s in venus if s.body_part == "outer")
    rain_wear = ("trench", "cape", "parka")
    assert sum(outer_rain[c] for c in rain_wear) > 1.5 * sum(outer_venus[c] for c in rain_wear)
    assert sum(s.fabric.finish in ("waxed", "coated") for s in rain) > 2 * sum(s.fabric.finish in ("waxed", "coated") for s in venus)
    assert Counter(s.print.type for s in rain)["ripple"] > prints["ripple"]


def test_night_darkens_and_hope_lightens_the_palette(designer):
    def main_lightness(text: str) -> float:
        specs = designer.design(DesignBrief(text=text, n=300, seed=2))
        return statistics.mean(lightness(s.palette[0].hex) for s in specs)

    night, hope = main_lightness("midnight"), main_lightness("bright hopeful dawn")
    assert night + 15 < main_lightness("ripple") < hope - 10


def test_a_colour_the_brief_names_comes_from_her_palette(designer):
    specs = designer.design(DesignBrief(text="celadon glaze", n=200, seed=4))
    assert sum(any(c.name == "Celadon" for c in s.palette) for s in specs) / len(specs) > 0.7


def test_her_fashion_dna_shows_in_the_candidates(designer):
    specs = designer.design(DesignBrief(text="new season", n=600, seed=8))
    assert any(s.category == "coat" and s.silhouette == "cocoon" and s.sleeve.type == "drop-shoulder" for s in specs)
    assert any(s.category == "trousers" and s.silhouette == "wide-leg" and "pleats" in s.details for s in specs)
    assert any(s.category == "jacket" and s.silhouette == "wrap" and s.closure == "wrap-tie" for s in specs)
    assert sum(s.fabric.type == "linen" and s.fabric.finish == "washed" for s in specs) > 10
    assert sum("hand-stitching" in s.details for s in specs) > 30
    assert sum(s.fabric.type in ("ramie", "linen", "organza", "wool", "voile", "knit") for s in specs) / len(specs) > 0.4


def test_constraints_hold_for_every_candidate(designer):
    brief = DesignBrief(text="flowers on Venus", n=200, seed=9,
                        constraints={"categories": ["coat", "dress", "skirt"], "season": "autumn-winter", "occasion": "evening"})
    specs = designer.design(brief)
    assert {s.category for s in specs} == {"coat", "dress", "skirt"}
    assert sorted(by_part(specs).values()) == [66, 67, 67]
    assert all(s.season == "autumn-winter" and s.occasion == "evening" for s in specs)


def test_a_bare_persona_and_an_empty_brief_still_give_valid_candidates():
    designer = ProceduralDesigner(FashionDNA(), VisualIdentity(palette=[NamedColor(name="Bone", hex="#EEE8DD")]))
    specs = designer.design(DesignBrief(n=40))
    assert [s.id for s in specs[:2]] == ["design-0001", "design-0002"]
    assert all(s.palette[0].name == "Bone" and s.palette[0].share == 1.0 and s.concept == [] for s in specs)


def test_keywords_in_any_script_make_ascii_ids(designer):
    specs = designer.design(DesignBrief(text="비 오는 서울 rain", n=3))
    assert [s.id for s in specs] == ["rain-0001", "rain-0002", "rain-0003"]
    assert designer.design(DesignBrief(text="비 오는 서울", n=1))[0].id == "design-0001"


def test_thousands_of_candidates_can_be_asked_for(designer):
    """How long they take is measured in bench/fashion.py, not asserted here."""
    specs = designer.design(DesignBrief(text="rainy Seoul night, hopeful", n=3000, seed=1))
    assert len(specs) == 3000


# --- the dialogue model as designer --------------------------------------------------------------

def design(category: str, **fields) -> dict:
    return {"name": f"Model {category}", "category": category, "palette": [{"hex": "#A8C3B1", "name": "Celadon", "share": 1.0}], **fields}


def reply(*designs) -> str:
    return json.dumps({"designs": list(designs)})


@pytest.fixture
def venus() -> DesignBrief:
    return DesignBrief(text="flowers on Venus", n=12, seed=4)


async def test_model_designs_come_first_and_the_procedural_designer_fills_the_rest(haeun, designer, venus):
    backend = CannedBackend(reply(design("dress", silhouette="a-line", length="midi"), design("coat", length="knee")))
    specs = await LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=2, batch_size=2).design(venus)
    assert len(specs) == 12 and len({s.id for s in specs}) == 12
    assert [(s.category, s.name) for s in specs[:2]] == [("dress", "Model dress"), ("coat", "Model coat")]
    assert [s.id for s in specs[:2]] == ["flower-venus-0001", "flower-venus-0002"]
    assert all(s.provenance.backend == "llm" and s.provenance.model == "canned-model" for s in specs[:2])
    assert specs[0].provenance.seed == candidate_seed(4, 0) and specs[0].concept == ["flowers", "Venus"]
    assert specs[2:] == designer.design(venus)[2:]  # the same candidates the procedural designer makes at those places
    (messages, params), = backend.requests
    assert params.json_schema == CANDIDATE_SCHEMA and "flowers on Venus" in messages[1].content
    assert "cocoon coat with dropped shoulders" in messages[1].content and "Monsoon Indigo #2E3A5C" in messages[1].content


async def test_invalid_model_designs_are_dropped_with_a_reason(haeun, venus, caplog):
    backend = CannedBackend(reply(
        design("gown"),  # not a category
        design("blouse", length="floor"),  # a blouse cannot reach the floor
        "a dress, please",  # not an object
        design("skirt", palette=[{"hex": "#2E3A5C", "name": "Monsoon Indigo", "share": 0.3}, {"hex": "#F2EDE3", "name": "Hanji White", "share": 0.3}]),
        design("tee", id="../../etc", provenance={"backend": "me"}),  # fields the designer fills in itself are replaced
        design("trousers", sleeve={"length": "long", "type": "none"}, neckline="v-neck"),  # trousers have neither: dropped
    ))
    with caplog.at_level(logging.INFO, logger="pipelines.fashion.llm_designer"):
        specs = await LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=6, batch_size=6).design(venus)
    assert len(specs) == 12
    assert [s.category for s in specs[:3]] == ["skirt", "tee", "trousers"]
    assert (specs[2].neckline, specs[2].sleeve.length, specs[2].length) == ("none", "sleeveless", "ankle")
    assert [c.share for c in specs[0].palette] == [0.5, 0.5]  # shares that did not add up are rescaled
    assert specs[1].id == "flower-venus-0002" and specs[1].provenance.backend == "llm"
    assert all(s.provenance.backend == "procedural" for s in specs[3:])
    dropped = [r.getMessage() for r in caplog.records if "dropped model design" in r.getMessage()]
    assert len(dropped) == 3
    assert "gown" in dropped[0] and "floor" in dropped[1] and "expected a design object" in dropped[2]


async def test_the_whole_designs_of_a_reply_cut_off_by_the_token_limit_are_kept(haeun, venus):
    cut = reply(design("dress"), design("coat"))[:-40]
    backend = CannedBackend(cut)
    specs = await LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=2, batch_size=2).design(venus)
    assert [s.provenance.backend for s in specs[:2]] == ["llm", "procedural"] and specs[0].category == "dress"
    assert designs_in_reply('{"designs": [{"a": 1} , {"b": 2},{"c"') == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="not JSON"):
        designs_in_reply('{"designs": [{"category": "dr')


async def test_model_designs_outside_the_briefs_constraints_are_dropped(haeun):
    brief = DesignBrief(text="flowers", n=4, constraints={"categories": ["dress"], "occasion": "evening"})
    backend = CannedBackend(reply(design("coat", occasion="evening"), design("dress", occasion="work"), design("dress", occasion="evening")))
    specs = await LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=3, batch_size=3).design(brief)
    assert [s.provenance.backend for s in specs] == ["llm", "procedural", "procedural", "procedural"]
    assert all(s.category == "dress" and s.occasion == "evening" for s in specs)


@pytest.mark.parametrize("failure", [
    "not json at all", '{"designs": "many"}', "[1, 2]", '{"designs": [{"category": "dr',
    DialogueError("the model server answered HTTP 500"), DialogueTimeout("no answer in 60 s"), None,
])
async def test_a_failing_model_leaves_the_procedural_designer_to_do_it_all(haeun, designer, venus, failure):
    backend = CannedBackend(failure)
    specs = await LLMDesigner(backend, haeun.fashion, haeun.visual, timeout_s=0.2).design(venus)
    assert specs == designer.design(venus)
    assert len(backend.requests) == 3  # 12 designs asked for as 3 batches of 4


async def test_batches_are_asked_for_separately_and_one_failure_does_not_sink_the_others(haeun, venus):
    backend = CannedBackend(reply(design("dress"), design("coat")), DialogueError("HTTP 503"), reply(design("skirt")))
    designer = LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=6, batch_size=2)
    specs = await designer.design(venus)
    assert [p.max_tokens for _, p in backend.requests] == [900, 900, 900]
    assert len({p.seed for _, p in backend.requests}) == 3
    assert sorted(s.category for s in specs if s.provenance.backend == "llm") == ["coat", "dress", "skirt"]
    assert [s.id for s in specs] == [f"flower-venus-{i:04d}" for i in range(1, 13)]


async def test_design_candidates_uses_the_model_only_when_it_can_answer_under_a_schema(haeun, designer, venus):
    capable = CannedBackend(reply(design("dress")))
    specs = await design_candidates(venus, haeun.fashion, haeun.visual, capable)
    assert specs[0].provenance.backend == "llm" and len(specs) == 12

    plain = PlainBackend(reply(design("dress")))
    assert await design_candidates(venus, haeun.fashion, haeun.visual, plain) == designer.design(venus)
    assert plain.requests == []
    assert await design_candidates("flowers on Venus", haeun.fashion, haeun.visual) == designer.design(DesignBrief(text="flowers on Venus"))
    with pytest.raises(DialogueError, match="cannot constrain"):
        LLMDesigner(plain, haeun.fashion, haeun.visual)


def test_the_schema_carries_the_vocabulary_and_leaves_out_what_the_designer_fills_in():
    spec = CANDIDATE_SCHEMA["$defs"]["DesignSpec"]
    assert spec["properties"]["category"]["enum"] == list(vocab.CATEGORIES)
    assert CANDIDATE_SCHEMA["$defs"]["Fabric"]["properties"]["type"]["enum"] == list(vocab.FABRIC_TYPES)
    assert "id" not in spec["properties"] and "provenance" not in spec["properties"] and "Provenance" not in CANDIDATE_SCHEMA["$defs"]
    assert CANDIDATE_SCHEMA["$defs"]["PaletteColor"]["properties"]["hex"]["pattern"] == "^#[0-9a-fA-F]{6}$"
    assert set(DETAIL_PARTS) == set(vocab.DETAILS)


@pytest.mark.vllm
async def test_vllm_drafts_designs_within_the_schema(vllm_server, haeun):
    from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend

    backend = OpenAICompatibleBackend(vllm_server.base_url, "smollm2", timeout_s=300)
    designer = LLMDesigner(backend, haeun.fashion, haeun.visual, max_designs=2, batch_size=2, timeout_s=300, temperature=0.0)
    brief = DesignBrief(text="flowers on Venus", n=6, seed=1)
    text, finished = await backend.complete(designer.messages(brief, 2), designer.params(brief, 0, 2))
    drafts = designs_in_reply(text)  # the server kept to the schema: whole designs parse, even from a cut-off reply
    assert drafts and all(d["category"] in vocab.CATEGORIES for d in drafts if isinstance(d, dict) and "category" in d)
    assert finished.finish_reason == "length" or json.loads(text)["designs"] == drafts

    specs = await designer.design(brief)
    assert len(specs) == 6 and all(DesignSpec.model_validate_json(s.model_dump_json()) == s for s in specs)
    drafted = [s for s in specs if s.provenance.backend == "llm"]
    assert drafted and all(s.provenance.model == "smollm2" for s in drafted)
    await backend.aclose()
