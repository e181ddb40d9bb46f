"""The DesignSpec: vocabulary, clear errors, JSON Schema."""

from __future__ import annotations

import pytest

from pipelines.fashion.spec import DesignSpec, DesignSpecError, design_spec_schema
from pipelines.fashion.vocabulary import SILHOUETTES, UnknownTerm, check_term

PALETTE = [{"hex": "#2e3a5c", "name": "Monsoon Indigo", "share": 0.7}, {"hex": "#E0703A", "name": "Persimmon", "share": 0.3}]


def test_words_are_normalised_and_defaults_fit_the_garment():
    spec = DesignSpec(category="Dress", silhouette="A Line", neckline="V_Neck", palette=PALETTE)
    assert (spec.category, spec.silhouette, spec.neckline, spec.length) == ("dress", "a-line", "v-neck", "knee")
    assert spec.palette[0].hex == "#2E3A5C"
    assert DesignSpec(category="blazer", palette=PALETTE).length == "hip"
    trousers = DesignSpec(category="trousers", neckline="crew", sleeve={"length": "long", "type": "none"}, palette=PALETTE)
    assert trousers.neckline == "none" and trousers.sleeve.length == "sleeveless"  # trousers have neither


def test_bad_specs_name_the_field_the_nearest_word_and_the_allowed_ones():
    with pytest.raises(DesignSpecError) as caught:
        DesignSpec.from_data({"category": "dres", "silhouette": "mermaidd", "palette": [{"hex": "#fff", "name": "x", "share": 1}]}, "look.json")
    message = str(caught.value)
    assert "look.json: category: unknown category 'dres'; did you mean 'dress'?" in message
    assert "silhouette: unknown silhouette 'mermaidd'; did you mean 'mermaid'? Allowed: " + ", ".join(SILHOUETTES) in message
    assert "palette.0.hex: expected a colour like '#A1B2C3'" in message
    with pytest.raises(DesignSpecError, match="add up to 1"):
        DesignSpec.from_data({"category": "tee", "palette": [{**PALETTE[0], "share": 0.5}]})
    with pytest.raises(DesignSpecError, match="length 'floor' does not fit a tee"):
        DesignSpec.from_data({"category": "tee", "length": "floor", "palette": PALETTE})
    with pytest.raises(DesignSpecError, match="needs a type other than 'none'"):
        DesignSpec.from_data({"category": "tee", "sleeve": {"length": "long", "type": "none"}, "palette": PALETTE})
    with pytest.raises(UnknownTerm, match="Allowed"):
        check_term("fabric type", "plastic")


def test_the_json_schema_lists_every_allowed_word():
    schema = design_spec_schema()
    assert schema["properties"]["silhouette"]["enum"] == list(SILHOUETTES)
    assert "print" in schema["properties"] and "provenance" in schema["properties"]
    spec = DesignSpec(category="coat", silhouette="cocoon", palette=PALETTE, details=["belt", "belt", "pleats"])
    assert spec.details == ["belt", "pleats"]
    assert DesignSpec.model_validate_json(spec.model_dump_json()) == spec
