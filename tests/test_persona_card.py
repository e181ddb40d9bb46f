"""The persona card: the shipped default persona and clear errors for bad files."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from persona.card import CanonEntry, PersonaCard, PersonaError, list_personas, load_persona, read_persona_file, save_persona
from pipelines.style import MotifNote, NamedColor

from conftest import PERSONAS


def test_default_persona_is_rich(haeun):
    assert haeun.id == "haeun" and "Seoul" in haeun.identity.home
    assert len(haeun.canon) >= 20
    assert sum(entry.constant for entry in haeun.canon) >= 3
    assert any(entry.embargo_until for entry in haeun.canon)
    assert len(haeun.voice.example_dialogue) >= 3 and haeun.voice.greetings
    assert len(haeun.visual.palette) >= 5 and haeun.fashion.silhouettes and haeun.music.signature_motif
    assert haeun.safety.refused_topics()
    assert all(entry.keys for entry in haeun.canon if not entry.constant), "every triggered entry needs keys"


def test_save_then_load_round_trips(haeun, tmp_path):
    path = save_persona(haeun, tmp_path)
    assert path == tmp_path / "haeun.yaml" and list(tmp_path.iterdir()) == [path]
    assert load_persona("haeun", tmp_path) == haeun


def good_data() -> dict:
    return yaml.safe_load((PERSONAS / "haeun.yaml").read_text())


def mutated(change) -> dict:
    data = good_data()
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["visual"]["palette"][0].update(hex="red"), r"visual.palette.0.hex: expected a colour like '#A1B2C3', got 'red'"),
        (lambda d: d["voice"].update(formality="posh"), r"voice.formality: Input should be 'casual', 'neutral' or 'formal'"),
        (lambda d: d["identity"].pop("biography"), r"identity.biography: Field required"),
        (lambda d: d["canon"].append(dict(d["canon"][0])), r"canon entry id 'core-identity' is used twice"),
        (lambda d: d["canon"].append({"id": "bad", "keys": ["(unclosed"], "use_regex": True, "content": "x"}), r"canon.\d+: key '\(unclosed' is not a valid regular expression"),
        (lambda d: d["canon"][5].update(embargo_until="someday"), r"canon.5.embargo_until: .*valid date"),
        (lambda d: d["identity"].update(timezone="Mars/Olympus"), r"identity.timezone: unknown time zone 'Mars/Olympus'"),
        (lambda d: d["music"].update(tempo_range=[140, 90]), r"music: tempo_range must be two BPM values"),
        (lambda d: d["music"]["signature_motif"][0].update(pitch="H9"), r"music.signature_motif.0.pitch: expected a note like 'E4'"),
        (lambda d: d.update(id="Haeun Seo"), r"id: expected lower-case letters"),
        (lambda d: d["voice"].update(greetings=[]), r"voice.greetings: List should have at least 1 item"),
        (lambda d: d.update(favourite_food="tteokbokki"), r"favourite_food: unknown field"),
    ],
)
def test_bad_persona_files_name_the_field(tmp_path, change, expected):
    path = tmp_path / "haeun.yaml"
    path.write_text(yaml.safe_dump(mutated(change), allow_unicode=True))
    with pytest.raises(PersonaError, match=expected) as error:
        read_persona_file(path)
    assert str(path) in str(error.value)


def test_unreadable_files_get_clear_errors(tmp_path):
    (tmp_path / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    with pytest.raises(PersonaError, match="not valid YAML"):
        read_persona_file(tmp_path / "broken.yaml")
    (tmp_path / "latin.yaml").write_bytes("name: Ha\xe9un".encode("latin-1"))
    with pytest.raises(PersonaError, match="not UTF-8"):
        read_persona_file(tmp_path / "latin.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(PersonaError, match="expected a mapping of persona fields, got list"):
        read_persona_file(tmp_path / "list.yaml")


def test_loading_by_id_checks_the_id(tmp_path):
    with pytest.raises(PersonaError, match=r"no persona 'nobody' .*available: none"):
        load_persona("nobody", tmp_path)
    with pytest.raises(PersonaError, match="is not valid"):
        load_persona("../etc/passwd", tmp_path)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(good_data(), allow_unicode=True))
    with pytest.raises(PersonaError, match="id is 'haeun' but the file is named for 'other'"):
        load_persona("other", tmp_path)
    assert list_personas(tmp_path) == ["other"]


def test_a_failed_save_leaves_the_old_card_whole(haeun, tmp_path, monkeypatch):
    path = save_persona(haeun, tmp_path)
    before = path.read_text()
    monkeypatch.setattr("persona.card.os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        save_persona(haeun.model_copy(update={"name": "Changed"}), tmp_path)
    assert path.read_text() == before and list(tmp_path.iterdir()) == [path]


def test_embargo_and_enabled():
    entry = CanonEntry(id="x", content="secret", embargo_until=dt.date(2027, 3, 1))
    assert not entry.is_visible(dt.date(2027, 2, 28)) and entry.is_visible(dt.date(2027, 3, 1))
    assert not CanonEntry(id="y", content="off", enabled=False).is_visible(dt.date(2030, 1, 1))


def test_style_types():
    assert MotifNote(pitch="C4", beats=1).midi == 60 and MotifNote(pitch="Bb3", beats=1).midi == 58
    assert MotifNote(pitch="rest", beats=1).midi is None
    assert NamedColor(name="ink", hex="#abcdef").hex == "#ABCDEF"
    assert PersonaCard.model_fields["visual"].annotation.__name__ == "VisualIdentity"
