"""Edits in a designer's words: each kind changes what it says and reports it, chains apply in
order, limits are reported rather than overstepped, and an edit that cannot be read changes
nothing and says what can be asked instead."""

from __future__ import annotations

import pytest

from pipelines.fashion.brief import DesignBrief, ProceduralDesigner
from pipelines.fashion.edits import EXAMPLES, EditError, apply_edit, shade_name, split_clauses
from pipelines.fashion.garments import LENGTHS_BY_CATEGORY
from pipelines.fashion.palette import lightness
from pipelines.fashion.spec import DesignSpec
from pipelines.style import NamedColor

HAEUN_PALETTE = [
    NamedColor(name="Monsoon Indigo", hex="#2E3A5C"), NamedColor(name="Hanji White", hex="#F2EDE3"),
    NamedColor(name="Persimmon", hex="#E0703A"), NamedColor(name="Celadon", hex="#A8C3B1"), NamedColor(name="Ink", hex="#1F2430"),
]


def make_spec(**fields) -> DesignSpec:
    base = {
        "id": "venus-flower-0007", "name": "Venus Bloom Wrap Dress", "category": "dress", "silhouette": "wrap", "fit": "regular",
        "length": "knee", "neckline": "wrap", "sleeve": {"length": "short", "type": "set-in"}, "closure": "wrap-tie",
        "details": ["ties"], "fabric": {"type": "silk", "finish": "sheen"},
        "print": {"type": "floral", "motif": "flowers on Venus", "scale": "medium", "repeat": "half-drop"},
        "palette": [{"hex": "#E0703A", "name": "Persimmon", "share": 0.6}, {"hex": "#F2EDE3", "name": "Hanji White", "share": 0.4}],
        "provenance": {"backend": "procedural", "seed": 123456},
    }
    return DesignSpec.model_validate({**base, **fields})


TROUSERS = {"category": "trousers", "silhouette": "wide-leg", "length": "ankle", "neckline": "none",
            "sleeve": {"length": "sleeveless"}, "closure": "fly-zip", "details": ["pleats"]}


def edit(instruction: str, **fields) -> tuple[DesignSpec, list[str]]:
    return apply_edit(make_spec(**fields), instruction, HAEUN_PALETTE)


# --- clauses ------------------------------------------------------------------------------------

def test_an_instruction_splits_into_clauses_but_not_inside_a_word():
    assert split_clauses("longer sleeves, darker and add pockets; then slimmer. V-neck & bigger print") == [
        "longer sleeves", "darker", "add pockets", "slimmer", "V-neck", "bigger print"]
    assert split_clauses("fit and flare, hook and eye closure") == ["fit-and-flare", "hook-and-eye closure"]
    assert split_clauses("  ") == []


# --- ordered scales -------------------------------------------------------------------------------

@pytest.mark.parametrize("instruction, change", [
    ("longer sleeves", "sleeve length: short → elbow"),
    ("shorter sleeves", "sleeve length: short → cap"),
    ("much longer sleeves", "sleeve length: short → three-quarter"),
    ("longer", "length: knee → midi"),
    ("shorter", "length: knee → above-knee"),
    ("more oversized", "fit: regular → relaxed"),
    ("looser", "fit: regular → relaxed"),
    ("slimmer", "fit: regular → slim"),
    ("less oversized", "fit: regular → slim"),
    ("bigger print", "print scale: medium → large"),
    ("a smaller print", "print scale: medium → small"),
])
def test_relative_words_step_along_ordered_scales(instruction, change):
    edited, changes = edit(instruction)
    assert changes == [change]
    field, new = change.split(": ")[0], change.split(" → ")[1]
    value = {"sleeve length": edited.sleeve.length, "length": edited.length, "fit": edited.fit, "print scale": edited.print.scale}[field]
    assert value == new


def test_lengths_step_only_through_what_the_garment_comes_in():
    trousers, changes = edit("shorter", **TROUSERS)
    assert trousers.length == "midi" and changes == ["length: ankle → midi"]
    trousers, changes = apply_edit(trousers, "shorter")
    assert trousers.length == "midi" and changes == ["length: already midi, the shortest for trousers (unchanged)"]
    blouse, _ = edit("longer", category="blouse", length="tunic", neckline="v-neck", closure="button-front")
    assert blouse.length == "tunic" and blouse.length == LENGTHS_BY_CATEGORY["blouse"][-1]


@pytest.mark.parametrize("instruction, fields, note", [
    ("longer", {"length": "floor"}, "length: already floor, the longest for a dress (unchanged)"),
    ("longer sleeves", {"sleeve": {"length": "long"}}, "sleeve length: already long, the longest (unchanged)"),
    ("more oversized", {"fit": "oversized"}, "fit: already oversized, the loosest (unchanged)"),
    ("smaller print", {"print": {"type": "stripes", "scale": "small"}}, "print scale: already small, the smallest (unchanged)"),
])
def test_past_the_end_of_a_scale_the_field_stays_and_the_changes_say_so(instruction, fields, note):
    original = make_spec(**fields)
    edited, changes = apply_edit(original, instruction)
    assert edited == original and changes == [note]


def test_a_limit_does_not_stop_the_rest_of_a_chain():
    edited, changes = edit("longer, add pockets", length="floor")
    assert changes == ["length: already floor, the longest for a dress (unchanged)", "details: added side-pockets"]
    assert edited.length == "floor" and "side-pockets" in edited.details


# --- colour -------------------------------------------------------------------------------------

def test_darker_and_lighter_move_every_colour_and_say_so_in_its_name():
    original = make_spec()
    darker, changes = apply_edit(original, "darker")
    assert [c.name for c in darker.palette] == ["Persimmon (deep)", "Hanji White (deep)"]
    assert all(lightness(new.hex) < lightness(old.hex) - 10 for new, old in zip(darker.palette, original.palette))
    assert [c.share for c in darker.palette] == [0.6, 0.4]
    assert changes[0].startswith("palette: Persimmon #E0703A → Persimmon (deep) #") and len(changes) == 2

    back, _ = apply_edit(darker, "lighter")
    assert [c.name for c in back.palette] == ["Persimmon", "Hanji White"]
    assert all(abs(lightness(a.hex) - lightness(b.hex)) < 1.5 for a, b in zip(back.palette, original.palette))

    much, _ = apply_edit(original, "much darker")
    slightly, _ = apply_edit(original, "a bit darker")
    assert lightness(much.palette[0].hex) < lightness(darker.palette[0].hex) < lightness(slightly.palette[0].hex) < lightness("#E0703A")


def test_a_colour_at_the_end_of_lightness_stays_and_is_reported():
    white = [{"hex": "#FFFFFF", "name": "Paper", "share": 1.0}]
    edited, changes = edit("lighter", palette=white)
    assert edited.palette[0].hex == "#FFFFFF" and changes == ["palette: already as light as it goes (unchanged)"]


def test_shade_names_stay_readable():
    assert shade_name("Ink", lighter=False) == "Ink (deep)"
    assert shade_name("Ink (deep)", lighter=False) == "Ink (deep)"
    assert shade_name("Ink (deep)", lighter=True) == "Ink"
    assert len(shade_name("x" * 60, lighter=True)) == 60


@pytest.mark.parametrize("instruction", ["in celadon", "Celadon", "make it celadon", "celadon main colour", "in #A8C3B1"])
def test_a_colour_named_from_her_palette_becomes_the_main_colour(instruction):
    edited, changes = edit(instruction)
    assert edited.palette[0].hex == "#A8C3B1" and edited.palette[0].share == 0.6
    assert edited.palette[1].name == "Hanji White"
    assert changes[0].startswith("main colour: Persimmon → ")


def test_a_colour_already_in_the_design_swaps_places_with_the_main_one():
    edited, changes = edit("in hanji white")
    assert [(c.name, c.share) for c in edited.palette] == [("Hanji White", 0.6), ("Persimmon", 0.4)]
    assert changes == ["main colour: Persimmon → Hanji White"]
    edited, changes = edit("white")  # one word of a name is enough
    assert edited.palette[0].name == "Hanji White"


def test_without_her_palette_only_the_designs_own_colours_can_be_named():
    with pytest.raises(EditError, match="celadon"):
        apply_edit(make_spec(), "in celadon")
    edited, _ = apply_edit(make_spec(), "in hanji white")
    assert edited.palette[0].name == "Hanji White"


# --- vocabulary words set their field ---------------------------------------------------------------

@pytest.mark.parametrize("instruction, field, value", [
    ("make it wool", ("fabric", "type"), "wool"),
    ("V-neck", ("neckline",), "v-neck"),
    ("v neck", ("neckline",), "v-neck"),
    ("vneck", ("neckline",), "v-neck"),
    ("a boat neck", ("neckline",), "boat"),
    ("midi length", ("length",), "midi"),
    ("maxi", ("length",), "floor"),
    ("raglan sleeves", ("sleeve", "type"), "raglan"),
    ("3/4 sleeves", ("sleeve", "length"), "three-quarter"),
    ("sleeveless", ("sleeve", "length"), "sleeveless"),
    ("a-line", ("silhouette",), "a-line"),
    ("fit and flare", ("silhouette",), "fit-and-flare"),
    ("oversized", ("fit",), "oversized"),
    ("make it metallic", ("fabric", "finish"), "metallic"),
    ("zip back", ("closure",), "zip-back"),
    ("mirror repeat", ("print", "repeat"), "mirror"),
    ("large print", ("print", "scale"), "large"),
    ("evening", ("occasion",), "evening"),
    ("autumn-winter", ("season",), "autumn-winter"),
])
def test_a_vocabulary_word_sets_its_field(instruction, field, value):
    edited, changes = edit(instruction)
    data = edited.model_dump()
    for key in field:
        data = data[key]
    assert data == value and any(f"→ {value}" in change for change in changes)


def test_fabric_and_finish_together_and_a_finish_that_does_not_suit_the_new_fabric():
    edited, changes = edit("washed linen")
    assert (edited.fabric.type, edited.fabric.finish) == ("linen", "washed")
    assert changes == ["fabric: silk → linen", "finish: sheen → washed"]
    edited, changes = edit("make it wool", fabric={"type": "cotton", "finish": "waxed"})
    assert (edited.fabric.type, edited.fabric.finish) == ("wool", "matte")
    assert changes == ["fabric: cotton → wool", "finish: waxed → matte (waxed does not suit wool)"]


def test_sleeve_length_and_type_in_one_clause():
    edited, changes = edit("long puff sleeves", sleeve={"length": "sleeveless"})
    assert (edited.sleeve.length, edited.sleeve.type) == ("long", "puff")
    assert changes == ["sleeve length: sleeveless → long", "sleeve type: none → set-in", "sleeve type: set-in → puff"]


def test_a_new_category_brings_what_it_needs_and_says_so():
    trousers, changes = edit("make it trousers")
    assert (trousers.category, trousers.neckline, trousers.sleeve.length, trousers.length) == ("trousers", "none", "sleeveless", "midi")
    assert trousers.closure == "fly-zip" and trousers.silhouette == "wide-leg"
    assert changes[0] == "category: dress → trousers" and "neckline: wrap → none" in changes
    coat, changes = apply_edit(trousers, "make it a coat")
    assert coat.neckline != "none" and coat.sleeve.length == "long" and coat.length == "midi"


# --- details and prints ---------------------------------------------------------------------------

def test_pockets_fit_the_garment_and_come_off_again():
    dress, changes = edit("add pockets")
    assert "side-pockets" in dress.details and changes == ["details: added side-pockets"]
    shirt, _ = edit("with pockets", category="shirt", length="hip", neckline="collared", closure="button-front")
    assert "patch-pockets" in shirt.details
    bare, changes = apply_edit(dress, "no pockets")
    assert bare.details == ["ties"] and changes == ["details: removed side-pockets"]
    _, changes = apply_edit(bare, "remove pockets")
    assert changes == ["details: has no pockets to remove"]


@pytest.mark.parametrize("instruction, details", [
    ("add a belt", ["ties", "belt"]), ("belted", ["ties", "belt"]), ("add pleats and ruffles", ["ties", "pleats", "ruffles"]),
    ("no ties", []), ("without the ties, belt", []), ("remove all details", []), ("add a slit", ["ties", "side-slit"]),
])
def test_details_are_added_and_removed(instruction, details):
    edited, _ = edit(instruction)
    assert edited.details == details


def test_a_detail_the_garment_cannot_have_is_refused():
    with pytest.raises(EditError, match="hood cannot go on trousers"):
        edit("add a hood", **TROUSERS)
    with pytest.raises(EditError, match="at most 8 details"):
        edit("add a belt", details=["ties", "pleats", "darts", "bow", "ruffles", "gathers", "yoke", "side-slit"])


@pytest.mark.parametrize("instruction, print_type, motif", [
    ("swap the print for stripes", "stripes", "stripes"),
    ("change the pattern to thin persimmon pinstripes", "stripes", "thin persimmon pinstripes"),
    ("swap the print for polka dots", "polka-dot", "polka dots"),
    ("checks", "checks", ""),
    ("no print", "solid", ""),
    ("plain", "solid", ""),
])
def test_the_print_can_be_swapped(instruction, print_type, motif):
    edited, changes = edit(instruction)
    assert (edited.print.type, edited.print.motif) == (print_type, motif)
    assert changes == [f"print: floral → {print_type}"]


def test_print_scale_needs_a_print():
    with pytest.raises(EditError, match="no print; swap one in first"):
        edit("bigger print", print={"type": "solid"})


# --- chains and errors ----------------------------------------------------------------------------

def test_a_chain_applies_in_order_and_keeps_id_and_provenance():
    original = make_spec()
    edited, changes = apply_edit(original, "longer sleeves, darker and add pockets, V-neck", HAEUN_PALETTE)
    assert changes[0] == "sleeve length: short → elbow"
    assert changes[1].startswith("palette: Persimmon") and changes[2].startswith("palette: Hanji White")
    assert changes[3:] == ["details: added side-pockets", "neckline: wrap → v-neck"]
    assert (edited.id, edited.provenance) == (original.id, original.provenance)
    assert DesignSpec.model_validate_json(edited.model_dump_json()) == edited
    assert original == make_spec()  # the input is left as it was


def test_removal_carries_over_to_a_bare_clause():
    edited, _ = edit("no pockets and belt", details=["ties", "side-pockets", "belt"])
    assert edited.details == ["ties"]


@pytest.mark.parametrize("instruction, message", [
    ("make it wol", r"did not understand 'make it wol' \(unknown: 'wol'\); perhaps you meant 'wool'\. Edits look like: longer sleeves"),
    ("darker, make it sparkle", r"did not understand 'make it sparkle' \(unknown: 'sparkle'\)"),
    ("make it long", r"say 'longer' or 'shorter' for the garment"),
    ("", r"the edit is empty"),
    ("swap the print for something nice", r"it names no print; prints are solid, floral"),
    ("no collar", r"only details, pockets, the print and sleeves can be removed"),
    ("puff sleeves", r"the design is sleeveless; give the sleeves a length too, e.g. 'long puff sleeves'"),
])
def test_a_clause_it_cannot_read_is_an_error_and_nothing_is_applied(instruction, message):
    original = make_spec(sleeve={"length": "sleeveless"})
    with pytest.raises(EditError, match=message):
        apply_edit(original, instruction, HAEUN_PALETTE)
    assert original == make_spec(sleeve={"length": "sleeveless"})


@pytest.mark.parametrize("instruction, message", [
    ("V-neck", "trousers have no neckline"),
    ("longer sleeves", "trousers have no sleeves"),
    ("long sleeves", "trousers have no sleeves"),
])
def test_what_a_lower_garment_cannot_have_is_refused(instruction, message):
    with pytest.raises(EditError, match=f"cannot apply '{instruction}': {message}"):
        edit(instruction, **TROUSERS)


def test_a_length_the_garment_cannot_have_lists_the_ones_it_can():
    with pytest.raises(EditError, match="a blouse cannot be floor length; it can be cropped, waist, hip, tunic"):
        edit("floor length", category="blouse", length="hip", neckline="v-neck", closure="button-front")


def test_every_example_edit_keeps_generated_candidates_valid(haeun):
    specs = ProceduralDesigner(haeun.fashion, haeun.visual).design(DesignBrief(text="rainy Seoul night", n=120, seed=5))
    applied = 0
    for spec in specs:
        for example in EXAMPLES:
            try:
                edited, changes = apply_edit(spec, example, haeun.visual.palette)
            except EditError as error:
                assert "cannot apply" in str(error)  # a hard limit of the garment, said as such
                continue
            applied += 1
            assert changes and DesignSpec.model_validate_json(edited.model_dump_json()) == edited
            assert edited.provenance == spec.provenance
    assert applied > 0.9 * len(specs) * len(EXAMPLES)
