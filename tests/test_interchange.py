"""Character Card V2/V3 import and export: round trips, real-world cards and bad input."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from persona.card import PersonaCard, PersonaError, read_persona_file
from persona.interchange import (
    card_from_dict,
    card_to_dict,
    export_card,
    import_card,
    import_card_with_avatar,
    read_png_card,
    write_png_card,
)

DATA = Path(__file__).parent / "data"
PERSONAS = Path(__file__).parent.parent / "configs" / "personas"


def get_rich_card() -> PersonaCard:
    """A persona that uses every part of the card, including regex and embargoed canon."""
    return PersonaCard.model_validate(
        {
            "id": "mina",
            "name": "Mina Seo",
            "identity": {
                "full_name": "Seo Mina",
                "tagline": "A designer who hums in minor keys",
                "age": 24,
                "pronouns": "she/her",
                "home": "Seoul",
                "occupation": "virtual fashion designer and songwriter",
                "biography": "Mina grew up between her grandmother's tailoring shop and an old upright piano.\n"
                "She turns flowers into prints and prints into songs.",
            },
            "canon": [
                {"id": "grandmother", "name": "Grandmother", "keys": ["grandmother", "halmeoni"], "priority": 120,
                 "content": "Her grandmother ran a tailoring shop in Euljiro for forty years."},
                {"id": "birthday", "content": "Mina's birthday is 3 March.", "constant": True},
                {"id": "venus-line", "name": "Venus collection", "keys": [r"venus\s+(line|collection)"], "use_regex": True,
                 "case_sensitive": True, "content": "The Venus collection shows in February.", "embargo_until": "2027-02-10"},
                {"id": "old.studio", "keys": ["studio"], "content": "Her first studio was a rooftop room.", "enabled": False},
            ],
            "voice": {
                "tone": ["warm", "curious"],
                "formality": "casual",
                "catchphrases": ["Let's make it bloom."],
                "languages": ["en", "ko"],
                "emoji": {"allowed": True, "max_per_message": 1},
                "banned_phrases": ["As an AI"],
                "example_dialogue": [
                    {"user": "What inspires you?", "persona": "Flowers, mostly.\nAnd rain on the studio roof."},
                    {"user": "Favourite colour?", "persona": "Dusty rose — it never shouts."},
                ],
                "greetings": ["Hi! I'm Mina.", "Welcome back to the studio!", "안녕하세요! 오늘은 뭘 만들까요?"],
            },
            "visual": {
                "palette": [{"name": "dusty rose", "hex": "#C98B9B"}, {"name": "ink", "hex": "#1F2233"}],
                "aesthetic": ["soft futurism"],
                "motifs": ["magnolia"],
                "negative_prompt": "blurry",
                "reference_images": ["refs/mina-front.png"],
                "lora": {"path": "loras/mina.safetensors", "weight": 0.7, "trigger": "m1na"},
            },
            "fashion": {"silhouettes": ["A-line"], "fabrics": ["silk organza"], "signature_details": ["hand-stitched hems"]},
            "music": {
                "genres": ["city pop"],
                "tempo_range": [90, 110],
                "keys": ["A minor"],
                "instruments": ["rhodes"],
                "signature_motif": [{"pitch": "E4", "beats": 1}, {"pitch": "rest", "beats": 0.5}, {"pitch": "Bb3", "beats": 2}],
            },
            "safety": {"topics": {"politics": False, "fashion": True}, "redirect": "Let's talk about your next look instead."},
        }
    )


@pytest.fixture
def rich_card() -> PersonaCard:
    return get_rich_card()


def load_fixture(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def png_with_texts(texts: dict[str, str], size: tuple[int, int] = (64, 64)) -> bytes:
    info = PngImagePlugin.PngInfo()
    for keyword, text in texts.items():
        info.add_text(keyword, text)
    buffer = BytesIO()
    Image.new("RGB", size, "#336699").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def b64(card: dict) -> str:
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")


def without_atelier(card: dict) -> dict:
    card = copy.deepcopy(card)
    del card["data"]["extensions"]["atelier"]
    return card


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".json", ".png"])
@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_export_then_import_gives_back_an_equal_persona(tmp_path, rich_card, spec, suffix):
    path = export_card(rich_card, tmp_path / f"mina{suffix}", spec=spec)

    assert import_card(path) == rich_card
    assert import_card(path.read_bytes()) == rich_card
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_persona_with_kept_fields_round_trips_too(rich_card):
    card = rich_card.model_copy(update={"interchange": {"data": {"scenario": "A rooftop studio at dusk.", "tags": ["fashion"]}}})

    exported = card_to_dict(card, "v3")

    assert exported["data"]["scenario"] == "A rooftop studio at dusk."
    assert card_from_dict(json.loads(json.dumps(exported))) == card


def test_exported_card_uses_the_standard_fields(rich_card):
    card = card_to_dict(rich_card, "v3")
    data = card["data"]

    assert (card["spec"], card["spec_version"]) == ("chara_card_v3", "3.0")
    assert data["name"] == "Mina Seo"
    assert data["description"] == rich_card.identity.biography
    assert data["first_mes"] == "Hi! I'm Mina."
    assert data["alternate_greetings"] == ["Welcome back to the studio!", "안녕하세요! 오늘은 뭘 만들까요?"]
    assert data["group_only_greetings"] == []
    assert data["mes_example"] == (
        "<START>\n{{user}}: What inspires you?\n{{char}}: Flowers, mostly.\nAnd rain on the studio roof.\n"
        "<START>\n{{user}}: Favourite colour?\n{{char}}: Dusty rose — it never shouts."
    )
    assert "Tone: warm, curious" in data["personality"] and "Never says: \"As an AI\"" in data["personality"]
    assert data["extensions"]["atelier"]["visual"]["palette"][0]["hex"] == "#C98B9B"
    assert "canon" not in data["extensions"]["atelier"]  # canon travels as the lorebook

    entries = {entry["id"]: entry for entry in data["character_book"]["entries"]}
    assert list(entries) == ["grandmother", "birthday", "venus-line", "old.studio"]
    assert entries["grandmother"]["keys"] == ["grandmother", "halmeoni"] and entries["grandmother"]["priority"] == 120
    assert entries["birthday"]["constant"] is True
    assert entries["venus-line"]["use_regex"] is True and entries["venus-line"]["case_sensitive"] is True
    assert entries["venus-line"]["extensions"] == {"atelier": {"embargo_until": "2027-02-10"}}
    assert entries["old.studio"]["enabled"] is False
    assert all(entry["insertion_order"] == 100 for entry in entries.values())

    v2 = card_to_dict(rich_card, "v2")
    assert (v2["spec"], v2["spec_version"]) == ("chara_card_v2", "2.0")
    assert "group_only_greetings" not in v2["data"]


def test_png_is_readable_by_pillow_and_carries_base64_json(tmp_path, rich_card):
    path = export_card(rich_card, tmp_path / "mina.png", spec="v3")

    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.size == (512, 512)
        assert image.convert("RGB").getpixel((4, 4)) == (0xC9, 0x8B, 0x9B)  # first palette colour behind
        assert image.convert("RGB").getpixel((256, 200)) == (0x1F, 0x22, 0x33)  # second colour for the figure
        texts = dict(image.text)

    assert json.loads(base64.b64decode(texts["ccv3"])) == card_to_dict(rich_card, "v3")
    backfill = json.loads(base64.b64decode(texts["chara"]))  # for tools that only read V2
    assert (backfill["spec"], backfill["data"]["name"]) == ("chara_card_v2", "Mina Seo")
    assert read_png_card(path.read_bytes()) == card_to_dict(rich_card, "v3")


def test_v2_png_has_only_the_chara_chunk(tmp_path, rich_card):
    path = export_card(rich_card, tmp_path / "mina.png", spec="v2")
    with Image.open(path) as image:
        image.load()
        assert set(image.text) == {"chara"}
        assert json.loads(base64.b64decode(image.text["chara"])) == card_to_dict(rich_card, "v2")


@pytest.mark.parametrize("as_path", [False, True])
def test_png_shows_the_given_avatar(tmp_path, rich_card, as_path):
    avatar = Image.new("RGB", (300, 200), (10, 200, 30))
    if as_path:
        avatar.save(tmp_path / "avatar.jpg")
        avatar = tmp_path / "avatar.jpg"

    path = export_card(rich_card, tmp_path / "mina.png", spec="v3", avatar=avatar)

    with Image.open(path) as image:
        assert image.size == (300, 200)
        red, green, blue = image.convert("RGB").getpixel((150, 100))
        assert abs(red - 10) < 8 and abs(green - 200) < 8 and abs(blue - 30) < 8
    assert import_card(path) == rich_card


@pytest.mark.parametrize("path", sorted(PERSONAS.glob("*.yaml")), ids=lambda path: path.stem)
@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_shipped_personas_round_trip(tmp_path, path, spec):
    card = read_persona_file(path)
    for suffix in (".json", ".png"):
        assert import_card(export_card(card, tmp_path / f"{card.id}{suffix}", spec=spec)) == card


# ------------------------------------------------------------------ a SillyTavern V2 card


def test_sillytavern_card_becomes_a_valid_persona():
    source = load_fixture("seraphina_v2.json")

    card = card_from_dict(source)

    assert (card.id, card.name) == ("seraphina", "Seraphina")
    assert card.identity.biography == source["data"]["description"]
    assert card.voice.greetings == [source["data"]["first_mes"], *source["data"]["alternate_greetings"]]
    assert [exchange.user for exchange in card.voice.example_dialogue] == ['"Describe your traits?"', '"Who are you, Seraphina?"']
    assert card.voice.example_dialogue[0].persona.endswith('"First and foremost, I am a guardian — a protector of this enchanted forest."')
    assert card.voice.example_dialogue[1].persona == '"I am Seraphina, and this glade is my home. Rest now, you."'
    assert len(card.visual.palette) >= 1

    canon = {entry.id: entry for entry in card.canon}
    assert list(canon) == ["0", "1", "2", "3"]
    assert canon["0"].name == "Eldoria" and canon["0"].is_triggered_by("We walked into the forest at dusk")
    assert canon["1"].constant and canon["1"].keys == []
    assert canon["2"].enabled is False  # disabled in SillyTavern, still kept
    assert canon["3"].keys == [] and not canon["3"].constant and canon["3"].enabled  # triggerless, kept

    kept = card.interchange
    assert kept["card"]["chat"] == "Seraphina - 2023-5-18 @20h 30m 22s 380ms"
    assert "first_mes" in kept["v1_copies"] and "first_mes" not in kept["card"]  # rewritten from data on export
    assert kept["data"]["creator_notes"] == source["data"]["creator_notes"]
    assert kept["data"]["extensions"]["depth_prompt"] == {"prompt": "", "depth": 4, "role": "system"}
    assert kept["data"]["character_book"] == {"name": "Eldoria"}
    assert kept["entries"]["2"]["extra"]["secondary_keys"] == ["night"]


def test_sillytavern_card_exports_back_unchanged():
    source = load_fixture("seraphina_v2.json")

    exported = card_to_dict(card_from_dict(source), "v2")

    assert exported["data"]["extensions"]["atelier"]["id"] == "seraphina"
    assert without_atelier(exported) == source  # every field, known or not, written back as found


def test_sillytavern_card_survives_a_second_trip():
    card = card_from_dict(load_fixture("seraphina_v2.json"))
    assert card_from_dict(json.loads(json.dumps(card_to_dict(card, "v2")))) == card


def test_sillytavern_png_card_imports_and_exports(tmp_path):
    source = load_fixture("seraphina_v2.json")
    png = png_with_texts({"chara": b64(source)})

    card = import_card(png)
    assert card == card_from_dict(source)

    path = export_card(card, tmp_path / "seraphina.png", spec="v2", avatar=Image.open(BytesIO(png)))
    with Image.open(path) as image:
        image.load()
        assert image.size == (64, 64)
        assert without_atelier(json.loads(base64.b64decode(image.text["chara"]))) == source


def test_an_edit_in_atelier_replaces_the_kept_wording():
    source = load_fixture("seraphina_v2.json")
    card = card_from_dict(source)
    card.voice.example_dialogue = card.voice.example_dialogue[:1]
    card.canon[0].content = "Eldoria is older than the kingdom that claims it."
    card.name = "Sera"

    exported = card_to_dict(card, "v2")
    data = exported["data"]

    assert exported["name"] == data["name"] == "Sera"  # SillyTavern's top-level V1 copies follow data
    assert exported["mes_example"] == data["mes_example"] and exported["chat"].startswith("Seraphina - ")

    assert data["mes_example"].count("<START>") == 1 and "{{user}}" in data["mes_example"]
    entry = data["character_book"]["entries"][0]
    assert entry["content"] == "Eldoria is older than the kingdom that claims it."
    assert entry["id"] == 0 and entry["comment"] == "Eldoria" and entry["extensions"]["probability"] == 100


def test_v1_top_level_copies_keep_their_own_value_and_type():
    """SillyTavern's top-level V1 copies come back as the card had them: a `tags: ""` string stays
    a string, a null stays null, a stale copy stays as it was while the data field is unchanged."""
    source = load_fixture("seraphina_v2.json")
    source.update(tags="", creatorcomment=None, personality="Kind.", name="Seraphina the Guardian")

    card = card_from_dict(source)
    exported = card_to_dict(card, "v2")

    assert exported["tags"] == "" and exported["data"]["tags"] == []
    assert exported["creatorcomment"] is None and exported["personality"] == "Kind." and exported["name"] == "Seraphina the Guardian"
    assert without_atelier(exported) == source
    assert card_from_dict(json.loads(json.dumps(exported))) == card  # and again

    # Once the data field changes, its V1 copy follows it, in the copy's own type.
    edited = card.model_copy(update={"name": "Sera", "interchange": {**card.interchange, "data": {**card.interchange.get("data", {}), "tags": ["forest", "healer"]}}})
    again = card_to_dict(edited, "v2")
    assert again["tags"] == "forest, healer" and again["data"]["tags"] == ["forest", "healer"]
    assert again["name"] == again["data"]["name"] == "Sera"
    assert again["creatorcomment"] is None  # data.creator_notes unchanged


def test_v1_tags_string_survives_a_png_file_round_trip(tmp_path):
    source = load_fixture("seraphina_v2.json")
    source["tags"] = ""
    path = tmp_path / "seraphina.png"
    path.write_bytes(png_with_texts({"chara": b64(source)}))

    exported = export_card(import_card(path), tmp_path / "again.json", spec="v2")

    assert json.loads(exported.read_text())["tags"] == ""


# ---------------------------------------------------------------------- a card's own picture


def drawn_picture(size: tuple[int, int] = (160, 240)) -> Image.Image:
    """A real picture, not a flat colour: gradients, shapes and half see-through corners."""
    width, height = size
    image = Image.new("RGBA", size)
    image.putdata([(x * 255 // (width - 1), y * 255 // (height - 1), (x * y) % 256, 255 if (x - width / 2) ** 2 + (y - height / 2) ** 2 < (width * 0.7) ** 2 else 90)
                   for y in range(height) for x in range(width)])
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.25, height * 0.12, width * 0.75, height * 0.45), fill=(250, 220, 180, 255))
    draw.rectangle((width * 0.1, height * 0.6, width * 0.9, height * 0.95), outline=(20, 20, 60, 255), width=5)
    return image


def picture_card(card: dict, path: Path, picture: Image.Image | None = None) -> Path:
    """A card as SillyTavern saves one: her picture, the card in a tEXt chunk, and a chunk of the picture's own."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "drawn for the test")
    info.add_text("chara", b64(card))
    (picture or drawn_picture()).save(path, pnginfo=info)
    return path


def pixels(image: Path | bytes) -> tuple:
    with Image.open(BytesIO(image) if isinstance(image, bytes) else image) as opened:
        opened.load()
        return opened.mode, opened.size, opened.tobytes()


def chunks(png: bytes, kind: bytes) -> list[bytes]:
    found, offset = [], 8
    while offset < len(png):
        length, name = struct.unpack(">I4s", png[offset : offset + 8])
        if name == kind:
            found.append(png[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return found


def test_a_png_cards_picture_is_kept_and_written_back_as_it_was(tmp_path):
    source = load_fixture("seraphina_v2.json")
    path = picture_card(source, tmp_path / "seraphina.png")

    card, picture = import_card_with_avatar(path)

    assert card == import_card(path) and picture is not None
    assert pixels(picture) == pixels(path) and pixels(picture)[0] == "RGBA"
    with Image.open(BytesIO(picture)) as image:
        assert image.text == {"Comment": "drawn for the test"}, "the card is taken out, the picture's own chunks stay"
    for spec in ("v2", "v3"):
        exported = export_card(card, tmp_path / f"again-{spec}.png", spec=spec, avatar=picture)
        assert pixels(exported) == pixels(path)
        assert chunks(exported.read_bytes(), b"IDAT") == chunks(path.read_bytes(), b"IDAT"), "the image data byte for byte"
        assert without_atelier(card_to_dict(import_card(exported), "v2")) == source
        assert len(chunks(exported.read_bytes(), b"tEXt")) == (3 if spec == "v3" else 2)  # Comment, [ccv3,] chara: no stale card


def test_a_json_card_or_atelier_s_own_placeholder_has_no_picture_to_keep(tmp_path, rich_card):
    assert import_card_with_avatar(export_card(rich_card, tmp_path / "mina.json"))[1] is None
    card, picture = import_card_with_avatar(export_card(rich_card, tmp_path / "mina.png").read_bytes())
    assert card == rich_card and picture is None, "the palette placeholder is drawn again on export, not kept"


@pytest.fixture
def personas_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "personas"
    folder.mkdir()
    monkeypatch.delenv("ATELIER_CONFIG", raising=False)
    monkeypatch.setenv("ATELIER_PERSONAS_DIR", str(folder))
    return folder


def test_atelier_persona_import_then_export_keeps_the_cards_picture(tmp_path, personas_dir, capsys):
    from serving.cli import main

    source = load_fixture("seraphina_v2.json")
    card_file = picture_card(source, tmp_path / "Seraphina.png")

    assert main(["persona", "import", str(card_file)]) == 0
    assert (personas_dir / "seraphina.yaml").is_file() and pixels(personas_dir / "seraphina.png") == pixels(card_file)
    assert main(["persona", "export", "seraphina", str(tmp_path / "out.png"), "--spec", "v2"]) == 0

    assert pixels(tmp_path / "out.png") == pixels(card_file)
    assert without_atelier(read_png_card((tmp_path / "out.png").read_bytes())) == source
    assert main(["persona", "export", "seraphina", str(tmp_path / "out.json")]) == 0  # a JSON card: no picture, no complaint

    # --avatar replaces her picture in the export (and only there).
    drawn_picture((90, 60)).convert("RGB").save(tmp_path / "other.jpg", quality=95)
    assert main(["persona", "export", "seraphina", str(tmp_path / "replaced.png"), "--avatar", str(tmp_path / "other.jpg")]) == 0
    with Image.open(tmp_path / "replaced.png") as replaced:
        assert replaced.size == (90, 60)
    assert import_card(tmp_path / "replaced.png") == import_card(tmp_path / "out.png")
    assert pixels(personas_dir / "seraphina.png") == pixels(card_file)

    # A second import of the same card under another id keeps a picture for that id too.
    assert main(["persona", "import", str(card_file), "--id", "sera"]) == 0
    assert pixels(personas_dir / "sera.png") == pixels(card_file)
    capsys.readouterr()


def test_the_studio_keeps_an_imported_cards_picture(tmp_path, personas_dir):
    """The Persona tab: import a picture card, save it, export it: the same picture."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    from gradio_client import Client, handle_file

    from persona.engine.settings import load_settings
    from studio.context import StudioContext
    from persona.engine.library import Library
    from studio.persona_tab import build_persona_tab

    source = load_fixture("seraphina_v2.json")
    card_file = picture_card(source, tmp_path / "seraphina.png")
    settings = load_settings()
    context = StudioContext(settings=settings, persona=get_rich_card(), library=Library(tmp_path / "library"))
    with gr.Blocks() as demo:
        build_persona_tab(context, demo)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    try:
        text, message = client.predict(handle_file(str(card_file)), api_name="/persona_import")
        assert "her picture" in message
        before_save = Path(client.predict(text, "v3", "png", api_name="/persona_export"))
        assert pixels(before_save) == pixels(card_file)
        assert "Saved" in client.predict(text, api_name="/persona_save")[0]
        assert pixels(personas_dir / "seraphina.png") == pixels(card_file)
        fresh = Client(url, verbose=False, download_files=str(tmp_path / "downloads-2"))  # a new page: only the saved picture
        try:
            exported = Path(fresh.predict(text, "v2", "png", api_name="/persona_export"))
        finally:
            fresh.close()
        assert pixels(exported) == pixels(card_file)
        assert without_atelier(read_png_card(exported.read_bytes())) == source
    finally:
        client.close()
        demo.close()
        context.library.close()


# ------------------------------------------------------------------------------- a V3 card


def test_v3_card_with_regex_lorebook():
    card = card_from_dict(load_fixture("astra_v3.json"))
    canon = {entry.id: entry for entry in card.canon}

    assert card.id == "astra-vell"
    assert list(canon) == ["telescope", "vega", "dome", "broken", "entry-4"]
    assert canon["telescope"].use_regex and canon["telescope"].priority == 20
    assert canon["telescope"].is_triggered_by("Can I look through the Great Refractor?")
    assert canon["telescope"].is_triggered_by("TELESCOPES are wonderful")
    assert not canon["telescope"].is_triggered_by("a telescopic lens")
    assert canon["vega"].case_sensitive and canon["vega"].is_triggered_by("Vega is bright tonight")
    assert not canon["vega"].is_triggered_by("vega is bright tonight")
    assert not canon["vega"].is_triggered_by("Look, Vega!")  # anchored at the start
    assert canon["vega"].content.startswith("@@depth 2\n")  # decorators are kept as written
    assert canon["dome"].constant
    assert not canon["broken"].enabled and not canon["broken"].use_regex  # invalid pattern: never matches
    assert not canon["entry-4"].enabled  # duplicate id and empty content: kept, switched off

    examples = card.voice.example_dialogue
    assert [(e.user, e.persona) for e in examples] == [
        ("What are you looking at?", "*She taps the brass tube.* Vega. She's been patient with me all night."),
        ("...", "*muttering to herself* Forty-one... forty-two... there goes another one."),
        ("Another what?", "Meteor. Make a wish, you.\nQuickly, before the clouds win."),
    ]
    assert card.interchange["data"]["nickname"] == "Ash"
    assert card.interchange["data"]["character_book"]["token_budget"] == 600


@pytest.mark.parametrize("suffix", [".json", ".png"])
def test_v3_card_exports_back_unchanged(tmp_path, suffix):
    source = load_fixture("astra_v3.json")

    path = export_card(card_from_dict(source), tmp_path / f"astra{suffix}", spec="v3")

    exported = read_png_card(path.read_bytes()) if suffix == ".png" else json.loads(path.read_text(encoding="utf-8"))
    assert without_atelier(exported) == source
    assert import_card(path) == card_from_dict(source)


def test_ccv3_chunk_wins_over_chara():
    v3 = load_fixture("astra_v3.json")
    v2 = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Old Name", "first_mes": "hi"}}

    assert import_card(png_with_texts({"chara": b64(v2), "ccv3": b64(v3)})).name == "Astra Vell"
    assert import_card(png_with_texts({"chara": b64(v2)})).name == "Old Name"


# ------------------------------------------------------------------ cards from other tools


def test_edits_made_by_another_tool_win(rich_card):
    card = card_to_dict(rich_card, "v2")
    data = card["data"]
    data["name"] = "Mina S."
    data["description"] = "A new biography written in SillyTavern."
    data["first_mes"] = "Yo!"
    data["mes_example"] = "<START>\n{{user}}: Tea?\n{{char}}: Barley tea, always."
    data["scenario"] = "A rooftop at dusk."
    data["extensions"]["sillytavern"] = {"fav": True}
    data["character_book"]["entries"].append({"keys": ["tea"], "content": "She drinks barley tea.", "enabled": True, "insertion_order": 5, "extensions": {}})

    imported = card_from_dict(card)

    assert imported.id == "mina" and imported.name == "Mina S."
    assert imported.identity.biography == "A new biography written in SillyTavern."
    assert imported.identity.full_name == "Seo Mina"  # not in the card: from extensions.atelier
    assert imported.voice.greetings == ["Yo!", *rich_card.voice.greetings[1:]]
    assert [(e.user, e.persona) for e in imported.voice.example_dialogue] == [("Tea?", "Barley tea, always.")]
    assert imported.voice.tone == ["warm", "curious"] and imported.visual == rich_card.visual
    assert [entry.id for entry in imported.canon] == ["grandmother", "birthday", "venus-line", "old.studio", "entry-4"]
    assert imported.canon[2].embargo_until == dt.date(2027, 2, 10)

    again = card_to_dict(imported, "v2")["data"]
    assert again["scenario"] == "A rooftop at dusk." and again["extensions"]["sillytavern"] == {"fav": True}
    assert again["character_book"]["entries"][4]["insertion_order"] == 5


def test_sparse_card_gets_sensible_fallbacks_and_keeps_its_own_wording():
    source = {"spec": "chara_card_v2", "spec_version": "2.0",
              "data": {"name": "하은", "description": "", "personality": "Shy but bright.", "first_mes": "", "mes_example": ""}}

    card = card_from_dict(source)

    assert card.id == "imported"
    assert card.identity.biography == "Shy but bright."
    assert card.voice.greetings == ["Hello, I'm 하은."]
    data = card_to_dict(card)["data"]
    assert (data["description"], data["personality"], data["first_mes"]) == ("", "Shy but bright.", "")

    card.identity.biography = "Ha-eun sings in a Seoul subway station."
    assert card_to_dict(card)["data"]["description"] == "Ha-eun sings in a Seoul subway station."


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Zoë & the Café", "zoe-the-cafe"), ("  Dr. Kai_Ren  ", "dr-kai-ren"), ("東京", "imported"), ("A" * 80, "a" * 64)],
)
def test_persona_id_is_a_slug_of_the_name(name, expected):
    assert card_from_dict({"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": name}}).id == expected


# ------------------------------------------------------------------------------ bad input


def valid_png() -> bytes:
    return png_with_texts({"chara": b64(load_fixture("astra_v3.json"))})


def corrupt_crc() -> bytes:
    png = bytearray(valid_png())
    png[20] ^= 0xFF  # a byte of the IHDR width
    return bytes(png)


def card_with(**data) -> dict:
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Astra", **data}}


def bad_atelier_extension() -> dict:
    card = card_to_dict(get_rich_card())
    card["data"]["extensions"]["atelier"]["visual"]["palette"][0]["hex"] = "pink"
    return card


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        pytest.param("card.png", b"GIF89a\x01\x00\x01\x00", "not a PNG file", id="not-a-png"),
        pytest.param("card.png", valid_png()[:300], "truncated PNG", id="png-cut-mid-chunk"),
        pytest.param("card.png", valid_png()[:-12], "before the IEND chunk", id="png-without-iend"),
        pytest.param("card.png", corrupt_crc(), "chunk 'IHDR' at byte 8 fails its CRC check", id="png-bad-crc"),
        pytest.param("card.png", png_with_texts({"Comment": "just a picture"}), "no 'chara' or 'ccv3' tEXt chunk", id="png-without-card"),
        pytest.param("card.png", png_with_texts({"chara": "this is *not* base64!"}), "tEXt chunk 'chara': not valid base64", id="bad-base64"),
        pytest.param("card.png", png_with_texts({"ccv3": base64.b64encode(b"\xff\xfe\xfa").decode()}),
                     "'ccv3' (after base64 decoding): not UTF-8", id="base64-not-utf8"),
        pytest.param("card.png", png_with_texts({"chara": base64.b64encode(b"hello there").decode()}),
                     "(after base64 decoding): not valid JSON", id="base64-not-json"),
        pytest.param("card.png", png_with_texts({"chara": base64.b64encode(b"[1, 2]").decode()}),
                     "expected a JSON object, got a list", id="base64-json-not-object"),
        pytest.param("card.json", b'{"name": "Seraphina", "first_mes": "hi"}', "no 'spec' field", id="v1-card-no-spec"),
        pytest.param("card.json", b'["not", "a", "card"]', "expected a Character Card object, got a list", id="json-list"),
        pytest.param("card.json", b'{"spec": "chara_card_v2", "spec_version": "2.0"}', "data: expected an object", id="no-data"),
        pytest.param("card.json", b'{"spec": "chara_card_v2", "data": {"description": "x"}}', "data.name: expected the character's name", id="no-name"),
        pytest.param("card.json", b'{"spec": "chara_card_v9", "data": {"name": "x"}}', "spec: unsupported 'chara_card_v9'", id="unsupported-spec"),
        pytest.param("card.json", b'{"spec": "chara_card_v2", "data": {', "not valid JSON", id="broken-json"),
        pytest.param("card.json", b"\xff\xfe{}", "not UTF-8 text", id="json-not-utf8"),
        pytest.param("card.json", json.dumps(card_with(name=42)).encode(), "data.name: expected a string, got a number", id="name-type"),
        pytest.param("card.json", json.dumps(card_with(alternate_greetings="hi")).encode(),
                     "data.alternate_greetings: expected a list of strings, got a string", id="greetings-type"),
        pytest.param("card.json", json.dumps(card_with(extensions=[])).encode(), "data.extensions: expected an object, got a list", id="extensions-type"),
        pytest.param("card.json", json.dumps(card_with(character_book={"entries": [{"keys": "a,b", "content": "x"}]})).encode(),
                     "data.character_book.entries[0].keys: expected a list of strings", id="entry-keys-type"),
        pytest.param("card.json", json.dumps(card_with(character_book={"entries": [{"content": "x", "enabled": "yes"}]})).encode(),
                     "data.character_book.entries[0].enabled: expected true or false", id="entry-enabled-type"),
        pytest.param("card.json", json.dumps(card_with(character_book={"entries": [{"content": "x", "priority": "high"}]})).encode(),
                     "data.character_book.entries[0].priority: expected a finite number, got a string", id="entry-priority-type"),
        pytest.param("card.json", json.dumps(bad_atelier_extension()).encode(), "data.extensions.atelier: visual.palette.0.hex", id="bad-atelier-extension"),
        pytest.param("card.txt", b"{}", "unknown file suffix '.txt'", id="unknown-suffix"),
    ],
)
def test_bad_input_raises_a_clear_error(tmp_path, filename, content, message):
    path = tmp_path / filename
    path.write_bytes(content)

    with pytest.raises(PersonaError) as error:
        import_card(path)

    assert message in str(error.value)
    if filename != "card.txt":
        assert str(path) in str(error.value)  # the message says which file


def test_bytes_that_are_neither_png_nor_json_are_refused():
    with pytest.raises(PersonaError, match="neither a PNG nor a JSON"):
        import_card(b"GIF89a")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PersonaError, match="no such file"):
        import_card(tmp_path / "nowhere.png")


@pytest.mark.parametrize(
    ("filename", "kwargs", "message"),
    [
        ("mina.txt", {}, "unknown file suffix '.txt'"),
        ("mina.json", {"spec": "v4"}, "unsupported 'v4'"),
        ("mina.png", {"avatar": "does-not-exist.png"}, "no such file"),
    ],
)
def test_failed_export_leaves_nothing_behind(tmp_path, rich_card, filename, kwargs, message):
    with pytest.raises(PersonaError, match=message):
        export_card(rich_card, tmp_path / filename, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_not_an_image_as_avatar(tmp_path, rich_card):
    (tmp_path / "avatar.png").write_text("not an image")
    with pytest.raises(PersonaError, match="not an image"):
        export_card(rich_card, tmp_path / "mina.png", avatar=tmp_path / "avatar.png")
    assert not (tmp_path / "mina.png").exists()


def test_write_png_card_refuses_a_non_card():
    with pytest.raises(PersonaError, match="unsupported"):
        write_png_card({"name": "x"}, Image.new("RGB", (8, 8)))


def test_crc_is_checked_on_text_chunks_too():
    png = valid_png()
    start = png.index(b"tEXt")
    damaged = png[: start + 10] + bytes([png[start + 10] ^ 0x01]) + png[start + 11 :]
    with pytest.raises(PersonaError, match="chunk 'tEXt' at byte .* fails its CRC check"):
        read_png_card(damaged)
    # sanity: the undamaged chunk's CRC is what the parser expects
    length = struct.unpack(">I", png[start - 4 : start])[0]
    assert zlib.crc32(png[start : start + 4 + length]) == struct.unpack(">I", png[start + 4 + length : start + 8 + length])[0]
