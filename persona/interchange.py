"""Character Card V2 and V3 in and out of Atelier (SillyTavern, RisuAI, AIRI and friends).

A card is ``{"spec": "chara_card_v2" | "chara_card_v3", "spec_version", "data": {...}}``, saved as
a ``.json`` file or as base64 JSON in a PNG ``tEXt`` chunk: ``chara`` for V2, ``ccv3`` for V3.

How a persona maps onto a card:

- ``name`` is ``data.name``, ``identity.biography`` is ``description``, the voice is rendered into
  ``personality``, ``voice.greetings`` are ``first_mes`` + ``alternate_greetings``,
  ``voice.example_dialogue`` is ``mes_example`` (``<START>\\n{{user}}: ...\\n{{char}}: ...``) and
  ``canon`` is the ``character_book`` (an entry's embargo date rides in its ``extensions.atelier``).
- The rest of the persona rides in ``data.extensions.atelier``, so export then import gives back
  an equal PersonaCard.
- Whatever else a card holds (scenario, system prompt, tags, creator, other tools' extensions,
  lorebook settings, unknown fields at any level) is kept in ``PersonaCard.interchange`` and
  written back on export, so import then export keeps it.

Edits made by another tool win: when a card carries ``extensions.atelier`` but its name,
description, greetings or example messages differ from what Atelier would write, those are read
from the card. The lorebook is always read from ``character_book``.

SillyTavern's top-level V1 copies (``name``, ``tags``, ...) are written afresh from ``data``, so they
never contradict it; where a card's own copy differed from ``data`` at import (``"tags": ""`` beside
``data.tags: []``), ``interchange["v1_notes"]`` keeps it and export writes it back, with its type,
for as long as the ``data`` field is unchanged.

A PNG card's picture is part of the card: ``import_card_with_avatar`` gives it back as PNG bytes
(the card's text chunks taken out, every other byte kept), which Atelier keeps beside the persona
as ``<id>.png`` (``persona.card.avatar_path``) and ``export_card`` writes back byte for byte, with
the card's chunks put in again.

Some card text cannot be rebuilt exactly from the persona (an empty description whose biography
came from ``personality``, hand-written example messages, integer lorebook ids, ...). For those,
``interchange["notes"]`` keeps the card's own value beside Atelier's rendering at import; export
writes the card's value back for as long as the persona still renders the same, i.e. until that
part of the persona is edited in Atelier. Export is deterministic: no dates are stamped.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import os
import re
import struct
import tempfile
import unicodedata
import zlib
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Literal

from PIL import Image, ImageDraw, PngImagePlugin, UnidentifiedImageError
from pydantic import ValidationError

from persona.card import CanonEntry, EmojiPolicy, PersonaCard, PersonaError, Voice
from pipelines.validation import describe_validation_error

Spec = Literal["v2", "v3"]
SPECS = {"v2": ("chara_card_v2", "2.0"), "v3": ("chara_card_v3", "3.0")}
SPEC_OF_NAME = {name: spec for spec, (name, _) in SPECS.items()}
ATELIER = "atelier"  # our namespace inside `extensions`, as the V2 spec asks
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("chara", "ccv3")  # the PNG text chunks a card rides in
PLACEHOLDER_SIZE = 512
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MISSING: Any = object()

# What export writes when the persona has nothing better; a card value equal to these is not kept.
DATA_DEFAULTS: dict[str, Any] = {
    "scenario": "", "creator_notes": "", "system_prompt": "", "post_history_instructions": "",
    "tags": [], "creator": "", "character_version": "",
}
V3_DEFAULTS: dict[str, Any] = {"group_only_greetings": []}
ALL_DEFAULTS = {**DATA_DEFAULTS, **V3_DEFAULTS}
ENTRY_DEFAULTS: dict[str, Any] = {"insertion_order": 100, "extensions": {}}
BOOK_DEFAULT: dict[str, Any] = {"extensions": {}}
# `data` fields Atelier reads itself; every other field is kept as found.
DATA_FIELDS = {"name", "description", "personality", "first_mes", "alternate_greetings", "mes_example", "character_book", "extensions"}
ENTRY_FIELDS = ("id", "keys", "content", "enabled", "constant", "priority", "name", "case_sensitive", "use_regex")
# Top-level copies of `data` fields that SillyTavern writes for V1 readers: we remember which
# were there and write them afresh from `data`, so they never contradict it.
V1_COPIES = {
    "name": "name", "description": "description", "personality": "personality", "scenario": "scenario",
    "first_mes": "first_mes", "mes_example": "mes_example", "creatorcomment": "creator_notes", "tags": "tags",
}
DEFAULT_PALETTE = [{"name": "ink", "hex": "#2B2D42"}, {"name": "mist", "hex": "#EDF2F4"}, {"name": "rose", "hex": "#D90429"}]
CHAR_MACRO = re.compile(r"\{\{char\}\}|<bot>|<char>", re.IGNORECASE)
USER_MACRO = re.compile(r"\{\{user\}\}|<user>", re.IGNORECASE)
START = re.compile(r"^\s*<START>\s*$", re.IGNORECASE | re.MULTILINE)

# ----------------------------------------------------------------------------------- export


def card_to_dict(card: PersonaCard, spec: Spec = "v2") -> dict[str, Any]:
    """The persona as a Character Card object, ready for ``json.dumps``."""
    if spec not in SPECS:
        raise PersonaError(f"spec: unsupported {spec!r} (expected 'v2' or 'v3')")
    spec_name, spec_version = SPECS[spec]
    kept = copy.deepcopy(card.interchange)  # the caller may mutate what we return
    extra: dict[str, Any] = kept.get("data", {})
    fields = _restore(_render_fields(card), kept.get("notes", {}))
    own = card.to_data()
    own.pop("canon", None)  # canon travels as the lorebook, where other tools can read and edit it
    own.pop("interchange", None)

    data: dict[str, Any] = {
        "name": card.name,
        "description": fields["description"],
        "personality": fields["personality"],
        "first_mes": fields["greetings"][0],
        "mes_example": fields["mes_example"],
        "alternate_greetings": fields["greetings"][1:],
        "character_book": _export_book(card, extra.pop("character_book", MISSING), kept.get("entries", {})),
        "extensions": {**extra.pop("extensions", {}), ATELIER: own},
        **copy.deepcopy(DATA_DEFAULTS),
        **(copy.deepcopy(V3_DEFAULTS) if spec == "v3" else {}),
        **extra,  # kept fields replace the defaults
    }
    if data["character_book"] is MISSING:
        del data["character_book"]
    v1_notes = kept.get("v1_notes", {})
    v1_copies = {key: _v1_copy(data[V1_COPIES[key]], v1_notes.get(key)) for key in kept.get("v1_copies", [])}
    return {**v1_copies, **kept.get("card", {}), "spec": spec_name, "spec_version": spec_version, "data": data}


def _v1_copy(value: Any, note: dict[str, Any] | None) -> Any:
    """A top-level V1 copy of a `data` field: the card's own copy while the field is as it was at
    import, else the field's value in the copy's type (a string of tags stays a string)."""
    if note is None:
        return value
    if _same_json(value, note.get("data")):
        return copy.deepcopy(note.get("card"))
    original = note.get("card")
    if isinstance(original, str) and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(original, list) and isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON, types included: "" is not [], 1 is not true or 1.0."""
    return json.dumps(a, sort_keys=True, ensure_ascii=False) == json.dumps(b, sort_keys=True, ensure_ascii=False)


def _render_fields(card: PersonaCard) -> dict[str, Any]:
    """The card fields Atelier renders from the persona (greetings as one list: first_mes first)."""
    return {
        "description": card.identity.biography,
        "personality": _render_personality(card.voice),
        "greetings": list(card.voice.greetings),
        "mes_example": "\n".join("<START>\n{{user}}: " + ex.user + "\n{{char}}: " + ex.persona for ex in card.voice.example_dialogue),
    }


def _render_personality(voice: Voice) -> str:
    """The voice in a few plain lines for other tools' prompts; empty when it holds only defaults."""
    lines = []
    if voice.tone:
        lines.append("Tone: " + ", ".join(voice.tone))
    if voice.formality != "neutral":
        lines.append(f"Formality: {voice.formality}")
    if voice.catchphrases:
        lines.append("Catchphrases: " + "; ".join(f'"{phrase}"' for phrase in voice.catchphrases))
    if voice.languages != ["en"]:
        lines.append("Languages: " + ", ".join(voice.languages))
    if voice.emoji != EmojiPolicy():
        lines.append(f"Emoji: at most {voice.emoji.max_per_message} per message" if voice.emoji.allowed else "Emoji: none")
    if voice.banned_phrases:
        lines.append("Never says: " + "; ".join(f'"{phrase}"' for phrase in voice.banned_phrases))
    return "\n".join(lines)


def _render_entry(entry: CanonEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "keys": list(entry.keys), "content": entry.content, "enabled": entry.enabled,
        "constant": entry.constant, "priority": entry.priority, "name": entry.name,
        "case_sensitive": entry.case_sensitive, "use_regex": entry.use_regex,
    }


def _export_book(card: PersonaCard, kept_book: Any, records: dict[str, Any]) -> Any:
    if not card.canon and (kept_book is MISSING or kept_book is None):
        return kept_book  # no lorebook, or the card's explicit null
    entries = []
    for entry in card.canon:
        record = records.get(entry.id, {})
        exported = {**copy.deepcopy(ENTRY_DEFAULTS), **_restore(_render_entry(entry), record.get("notes", {})), **record.get("extra", {})}
        if entry.embargo_until is not None:
            exported["extensions"] = {**exported["extensions"], ATELIER: {"embargo_until": entry.embargo_until.isoformat()}}
        entries.append(exported)
    book = BOOK_DEFAULT if kept_book is MISSING or kept_book is None else kept_book
    return {**copy.deepcopy(book), "entries": entries}


# ----------------------------------------------------------------------------------- import


def card_from_dict(card: Any, source: str = "card") -> PersonaCard:
    """A PersonaCard from a parsed Character Card; any problem is a PersonaError naming the field."""
    if not isinstance(card, dict):
        raise PersonaError(f"{source}: expected a Character Card object, got {_json_type(card)}")
    if "spec" not in card:
        raise PersonaError(f"{source}: not a Character Card: no 'spec' field (V1 cards are not supported; re-save it as V2 or V3)")
    if card["spec"] not in SPEC_OF_NAME:
        raise PersonaError(f"{source}: spec: unsupported {card['spec']!r} (expected 'chara_card_v2' or 'chara_card_v3')")
    data = card.get("data")
    if not isinstance(data, dict):
        raise PersonaError(f"{source}: data: expected an object holding the card's fields, got {_json_type(data)}")
    where = f"{source}: data"
    name = _field(data, "name", STRING, where, "")
    if not name.strip():
        raise PersonaError(f"{where}.name: expected the character's name, got an empty or missing value")
    extensions = _field(data, "extensions", OBJECT, where, {})
    card_fields = {
        "description": _field(data, "description", STRING, where, ""),
        "personality": _field(data, "personality", STRING, where, ""),
        "greetings": [_field(data, "first_mes", STRING, where, ""), *_field(data, "alternate_greetings", STRINGS, where, [])],
        "mes_example": _field(data, "mes_example", STRING, where, ""),
    }

    own = extensions.get(ATELIER)
    if own is None:  # a card from another tool: build the persona from its fields
        fields: dict[str, Any] = {"id": _slug(name) or "imported", "visual": {"palette": DEFAULT_PALETTE}}
        edited = set(card_fields)
    else:
        if not isinstance(own, dict):
            raise PersonaError(f"{where}.extensions.atelier: expected an object, got {_json_type(own)}")
        own = {key: value for key, value in own.items() if key not in ("canon", "interchange")}
        base = PersonaCard.from_data(own, f"{where}.extensions.atelier")
        fields = base.to_data()
        rendered = _render_fields(base)
        edited = {key for key, value in card_fields.items() if value != rendered[key]}

    fields["name"] = name
    identity, voice = fields.setdefault("identity", {}), fields.setdefault("voice", {})
    if "description" in edited:
        identity["biography"] = _biography(name, card_fields["description"], card_fields["personality"])
    if "greetings" in edited:
        voice["greetings"] = [text for text in card_fields["greetings"] if text.strip()] or [f"Hello, I'm {name}."]
    if "mes_example" in edited:
        voice["example_dialogue"] = _parse_examples(card_fields["mes_example"], name)

    book = data.get("character_book", MISSING)
    canon, records = _read_book(book, f"{where}.character_book")
    fields["canon"] = [entry.model_dump(mode="json", exclude_defaults=True) for entry in canon]
    persona = PersonaCard.from_data(fields, source)

    extra = {key: value for key, value in data.items() if key not in DATA_FIELDS and ALL_DEFAULTS.get(key, MISSING) != value}
    other_extensions = {key: value for key, value in extensions.items() if key != ATELIER}
    if other_extensions:
        extra["extensions"] = other_extensions
    if book is None:
        extra["character_book"] = None
    elif isinstance(book, dict) and {k: v for k, v in book.items() if k != "entries"} not in ({}, BOOK_DEFAULT):
        extra["character_book"] = {key: value for key, value in book.items() if key != "entries"}
    interchange = {
        "card": {key: value for key, value in card.items() if key not in ("spec", "spec_version", "data", *V1_COPIES)},
        "v1_copies": [key for key in V1_COPIES if key in card],
        "data": extra,
        "notes": _notes(card_fields, _render_fields(persona)),
        "entries": records,
    }
    persona = persona.model_copy(update={"interchange": {key: value for key, value in interchange.items() if value}})
    # Top-level V1 copies that differ from what export writes from `data` (in value or type) are remembered.
    exported = card_to_dict(persona, SPEC_OF_NAME[card["spec"]])
    v1_notes = {key: {"data": exported["data"][V1_COPIES[key]], "card": card[key]}
                for key in interchange["v1_copies"] if not _same_json(card[key], exported[key])}
    if v1_notes:
        persona = persona.model_copy(update={"interchange": {**persona.interchange, "v1_notes": v1_notes}})
    return persona


def _biography(name: str, description: str, personality: str) -> str:
    if description.strip():
        return description
    if personality.strip():
        return personality
    return f"{name} is a character imported from a Character Card."


def _parse_examples(text: str, name: str) -> list[dict[str, str]]:
    """``mes_example`` blocks (``<START>`` then ``{{user}}:`` / ``{{char}}:`` turns) as exchanges.

    A turn runs until the next speaker line. ``{{char}}`` becomes her name and ``{{user}}`` becomes
    "you"; a reply with no question before it is paired with "...".
    """
    speakers = {"{{user}}": "user", "<user>": "user", "{{char}}": "persona", "<bot>": "persona", "<char>": "persona", name.lower(): "persona"}
    exchanges = []
    for block in START.split(text):
        turns: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            head, colon, rest = line.partition(":")
            speaker = speakers.get(head.strip().lower()) if colon else None
            if speaker:
                turns.append((speaker, [rest.strip()]))
            elif turns:
                turns[-1][1].append(line)
        question = ""
        for speaker, lines in turns:
            said = USER_MACRO.sub("you", CHAR_MACRO.sub(name, "\n".join(lines))).strip()
            if not said:
                continue
            if speaker == "user":
                question = f"{question}\n{said}" if question else said
            else:
                exchanges.append({"user": question or "...", "persona": said})
                question = ""
    return exchanges


def _read_book(book: Any, where: str) -> tuple[list[CanonEntry], dict[str, Any]]:
    """Canon entries from a lorebook, and per entry what the card holds beyond them."""
    if book is MISSING or book is None:
        return [], {}
    if not isinstance(book, dict):
        raise PersonaError(f"{where}: expected a lorebook object, got {_json_type(book)}")
    entries = book.get("entries", [])
    if not isinstance(entries, list):
        raise PersonaError(f"{where}.entries: expected a list, got {_json_type(entries)}")
    canon, records, used_ids = [], {}, set()
    for index, raw in enumerate(entries):
        here = f"{where}.entries[{index}]"
        if not isinstance(raw, dict):
            raise PersonaError(f"{here}: expected an object, got {_json_type(raw)}")
        keys = _field(raw, "keys", STRINGS, here, [])
        content = _field(raw, "content", STRING, here, "")
        name = _field(raw, "name", STRING, here, "") or (raw.get("comment") if isinstance(raw.get("comment"), str) else "")
        extensions = _field(raw, "extensions", OBJECT, here, {})
        own = _field(extensions, ATELIER, OBJECT, f"{here}.extensions", {})
        use_regex = _field(raw, "use_regex", BOOLEAN, here, False)
        # The spec says an invalid pattern never matches and empty content adds nothing: keep
        # such entries, switched off, so that they are still written back.
        broken = use_regex and not all(_compiles(key) for key in keys)
        fields = {
            "id": _unique_id([_text_id(raw.get("id")), _slug(name)], f"entry-{index}", used_ids),
            "name": name,
            "keys": keys,
            "use_regex": use_regex and not broken,
            "case_sensitive": _field(raw, "case_sensitive", BOOLEAN, here, False),
            "content": content or "(empty)",
            "constant": _field(raw, "constant", BOOLEAN, here, False),
            "priority": int(_field(raw, "priority", NUMBER, here, 100)),
            "enabled": _field(raw, "enabled", BOOLEAN, here, True) and bool(content) and not broken,
            "embargo_until": own.get("embargo_until"),
        }
        try:
            entry = CanonEntry.model_validate(fields)
        except ValidationError as error:
            raise PersonaError(describe_validation_error(error, here)) from None
        canon.append(entry)
        extra = {key: value for key, value in raw.items() if key not in ENTRY_FIELDS and ENTRY_DEFAULTS.get(key, MISSING) != value}
        if "extensions" in extra:
            extra["extensions"] = {key: value for key, value in extensions.items() if key != ATELIER}
            if not extra["extensions"]:
                del extra["extensions"]
        notes = _notes({key: raw[key] for key in ENTRY_FIELDS if key in raw}, _render_entry(entry))
        record = {key: value for key, value in (("extra", extra), ("notes", notes)) if value}
        if record:
            records[entry.id] = record
    return canon, records


def _unique_id(candidates: list[str], fallback: str, used: set[str]) -> str:
    """The first usable candidate not taken yet, else the fallback made unique."""
    choice = next((c for c in candidates if ENTRY_ID.match(c) and c not in used), None)
    if choice is None:
        choice, suffix = fallback, 2
        while choice in used:
            choice, suffix = f"{fallback}-{suffix}", suffix + 1
    used.add(choice)
    return choice


def _text_id(value: Any) -> str:
    return "" if value is None or isinstance(value, bool) else str(value)  # V2 ids are numbers, V3 strings


def _slug(text: str) -> str:
    """Lower-case ASCII words joined by '-' ("Zoë Café" -> "zoe-cafe"); empty for e.g. Hangul."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64].strip("-")


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


# ---------------------------------------------------------------- notes: a card's own wording


def _notes(card_values: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
    """Where the card's value differs from Atelier's rendering, remember both (see module doc)."""
    notes = {}
    for key, value in rendered.items():
        if card_values.get(key, MISSING) != value:
            notes[key] = {"atelier": value, **({"card": card_values[key]} if key in card_values else {})}
    return notes


def _restore(rendered: dict[str, Any], notes: dict[str, Any]) -> dict[str, Any]:
    """Put the card's own values back where the persona still renders as it did on import."""
    restored = dict(rendered)
    for key, note in notes.items():
        if key in restored and restored[key] == note.get("atelier"):
            if "card" in note:
                restored[key] = note["card"]
            else:
                del restored[key]  # the card left this optional field out
    return restored


# ----------------------------------------------------------------------------- field types

Check = tuple[str, Callable[[Any], bool]]
STRING: Check = ("a string", lambda v: isinstance(v, str))
STRINGS: Check = ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v))
BOOLEAN: Check = ("true or false", lambda v: isinstance(v, bool))
NUMBER: Check = ("a finite number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
OBJECT: Check = ("an object", lambda v: isinstance(v, dict))


def _field(obj: dict[str, Any], key: str, check: Check, where: str, default: Any) -> Any:
    """``obj[key]`` when it has the expected type; missing or null gives the default."""
    value = obj.get(key)
    if value is None:
        return default
    expected, is_valid = check
    if not is_valid(value):
        raise PersonaError(f"{where}.{key}: expected {expected}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _suffix(path: Path) -> str:
    if path.suffix.lower() not in (".json", ".png"):
        raise PersonaError(f"{path}: unknown file suffix {path.suffix!r} (expected .json or .png)")
    return path.suffix.lower()


# ----------------------------------------------------------------------------- files and PNG


def export_card(
    card: PersonaCard,
    path: str | os.PathLike[str],
    spec: Spec = "v2",
    avatar: str | os.PathLike[str] | Image.Image | bytes | None = None,
) -> Path:
    """Write the card as ``.json`` or ``.png`` (chosen by suffix), atomically.

    A PNG shows ``avatar`` (a path, PIL image or image bytes; a PNG is kept byte for byte, a card
    inside it replaced), or a placeholder portrait in the persona's palette.
    """
    path = Path(path)
    suffix = _suffix(path)
    card_data = card_to_dict(card, spec)
    if suffix == ".json":
        payload = (json.dumps(card_data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        payload = write_png_card(card_data, _placeholder_avatar(card) if avatar is None else _open_avatar(avatar))
    _write_atomically(path, payload)
    return path


def import_card_with_avatar(source: str | os.PathLike[str] | bytes) -> tuple[PersonaCard, bytes | None]:
    """The card, and for a PNG card its picture: PNG bytes without the card's text chunks (every
    other chunk as it was), to keep beside the persona and write back on export. None for a JSON
    card, or for a picture that is only the placeholder Atelier draws from her palette."""
    if isinstance(source, (bytes, bytearray)):
        raw, where = bytes(source), "card bytes"
        card = import_card(raw)
    else:
        path = Path(source)
        raw, where = _read_card_file(path), str(path)
        card = _card_from_file(raw, path)
    if not raw.startswith(PNG_SIGNATURE):
        return card, None
    picture = _png_bytes(_without_card(_png_chunks(raw, where)))
    return card, None if _is_placeholder(picture, card) else picture


def import_card(source: str | os.PathLike[str] | bytes) -> PersonaCard:
    """Read a card from a ``.json`` or ``.png`` file, or from the bytes of either."""
    if isinstance(source, (bytes, bytearray)):
        raw, where = bytes(source), "card bytes"
        if raw.startswith(PNG_SIGNATURE):
            return card_from_dict(read_png_card(raw, where), where)
        if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise PersonaError(f"{where}: neither a PNG nor a JSON Character Card")
        return card_from_dict(_decode_json(raw, where), where)
    path = Path(source)
    return _card_from_file(_read_card_file(path), path)


def _card_from_file(raw: bytes, path: Path) -> PersonaCard:
    card = read_png_card(raw, str(path)) if _suffix(path) == ".png" else _decode_json(raw, str(path))
    return card_from_dict(card, str(path))


def _read_card_file(path: Path) -> bytes:
    _suffix(path)  # a wrong suffix is reported before the file is read
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PersonaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PersonaError(f"{path}: a folder, not a card file (.json or .png)") from None


def read_png_card(png: bytes, source: str = "PNG") -> dict[str, Any]:
    """The card object inside a PNG; ``ccv3`` is preferred over ``chara``, as the V3 spec asks."""
    texts = _png_texts(png, source)
    for keyword in ("ccv3", "chara"):
        if keyword in texts:
            where = f"{source}: tEXt chunk {keyword!r}"
            text = texts[keyword]
            if text.lstrip().startswith("{"):  # a few tools store the JSON itself instead of base64
                raw = text.encode("latin-1")
            else:
                try:
                    raw = base64.b64decode("".join(text.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise PersonaError(f"{where}: not valid base64") from None
                where += " (after base64 decoding)"
            card = _decode_json(raw, where)
            if not isinstance(card, dict):
                raise PersonaError(f"{where}: expected a JSON object, got {_json_type(card)}")
            return card
    raise PersonaError(f"{source}: no character card inside: the PNG has no 'chara' or 'ccv3' tEXt chunk")


def write_png_card(card: dict[str, Any], image: Image.Image | bytes) -> bytes:
    """PNG bytes of ``image`` carrying ``card``; a V3 card also gets a V2 ``chara`` chunk for older tools.

    ``image`` as PNG bytes is kept as it is, chunk for chunk: any card already inside is replaced."""
    if card.get("spec") not in SPEC_OF_NAME:
        raise PersonaError(f"spec: unsupported {card.get('spec')!r} (expected 'chara_card_v2' or 'chara_card_v3')")
    texts = []
    if card["spec"] == SPECS["v3"][0]:
        texts.append(("ccv3", _base64_json(card)))
        card = {**card, "spec": SPECS["v2"][0], "spec_version": SPECS["v2"][1]}
    texts.append(("chara", _base64_json(card)))
    if isinstance(image, (bytes, bytearray)):
        chunks = _without_card(_png_chunks(bytes(image), "avatar"))
        added = [(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1")) for keyword, text in texts]
        return _png_bytes([chunks[0], *added, *chunks[1:]])  # right after IHDR, where Pillow puts them too
    info = PngImagePlugin.PngInfo()
    for keyword, text in texts:
        info.add_text(keyword, text)
    buffer = BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _png_texts(png: bytes, source: str) -> dict[str, str]:
    """The tEXt chunks of a PNG by keyword."""
    texts: dict[str, str] = {}
    for kind, body in _png_chunks(png, source):
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            texts.setdefault(keyword.decode("latin-1").lower(), text.decode("latin-1"))
    return texts


def _png_chunks(png: bytes, source: str) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk up to IEND; walks them so that damage is reported, not guessed."""
    if not png.startswith(PNG_SIGNATURE):
        raise PersonaError(f"{source}: not a PNG file (the PNG signature is missing)")
    chunks: list[tuple[bytes, bytes]] = []
    offset = len(PNG_SIGNATURE)
    while True:
        if offset + 8 > len(png):
            raise PersonaError(f"{source}: truncated PNG: the file ends at byte {len(png)} before the IEND chunk")
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        end = offset + 12 + length
        name = kind.decode("latin-1")
        if end > len(png):
            raise PersonaError(f"{source}: truncated PNG: chunk {name!r} at byte {offset} runs past the end of the file")
        body = png[offset + 8 : end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", png[end - 4 : end])[0]:
            raise PersonaError(f"{source}: corrupt PNG: chunk {name!r} at byte {offset} fails its CRC check")
        chunks.append((kind, body))
        if kind == b"IEND":
            return chunks
        offset = end


def _without_card(chunks: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The chunks less any text chunk holding a card (``chara``, ``ccv3``, in tEXt, zTXt or iTXt)."""
    return [(kind, body) for kind, body in chunks
            if not (kind in (b"tEXt", b"zTXt", b"iTXt") and body.partition(b"\0")[0].decode("latin-1").lower() in CARD_KEYWORDS)]


def _png_bytes(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks)


def _is_placeholder(png: bytes, card: PersonaCard) -> bool:
    """Whether a picture is the placeholder Atelier draws for this card (not worth keeping: it is drawn again)."""
    try:
        with Image.open(BytesIO(png)) as image:
            if image.size != (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE):
                return False
            pixels = image.convert("RGB").tobytes()
    except (UnidentifiedImageError, OSError):
        return False
    return pixels == _placeholder_avatar(card).tobytes()


def _base64_json(card: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii")


def _decode_json(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PersonaError(f"{where}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PersonaError(f"{where}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None


def _open_avatar(avatar: str | os.PathLike[str] | Image.Image | bytes) -> Image.Image | bytes:
    """A PIL image, or the bytes of a PNG (kept as they are, once Pillow has read them whole)."""
    if isinstance(avatar, Image.Image):
        image = avatar
    else:
        where = "avatar (bytes)" if isinstance(avatar, (bytes, bytearray)) else f"avatar {avatar}"
        try:
            raw = bytes(avatar) if isinstance(avatar, (bytes, bytearray)) else Path(avatar).read_bytes()
            with Image.open(BytesIO(raw)) as opened:
                opened.load()
                image = opened.copy()
        except FileNotFoundError:
            raise PersonaError(f"{where}: no such file") from None
        except IsADirectoryError:
            raise PersonaError(f"{where}: a folder, not an image") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise PersonaError(f"{where}: not an image Pillow can read ({error})") from None
        if raw.startswith(PNG_SIGNATURE):
            _png_chunks(raw, where)  # whole, so it can be written back chunk for chunk
            return raw
    return image if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else image.convert("RGBA")


def save_avatar(png: bytes, path: str | os.PathLike[str]) -> Path:
    """Keep a card's picture (from ``import_card_with_avatar``) at `path`, atomically."""
    path = Path(path)
    _write_atomically(path, png)
    return path


def _placeholder_avatar(card: PersonaCard, size: int = PLACEHOLDER_SIZE) -> Image.Image:
    """A plain portrait silhouette: first palette colour behind, a contrasting one for the figure,
    and the whole palette as a band along the bottom."""
    colours = [colour.hex for colour in card.visual.palette]
    background = colours[0]
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    contrast = "#111111" if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "#F5F5F5"
    figure = next((colour for colour in colours[1:] if colour != background), contrast)
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((0.34 * size, 0.16 * size, 0.66 * size, 0.48 * size), fill=figure)  # head
    draw.ellipse((0.16 * size, 0.54 * size, 0.84 * size, 1.20 * size), fill=figure)  # shoulders
    band, width = size // 16, size / len(colours)
    for index, colour in enumerate(colours):
        draw.rectangle((round(index * width), size - band, round((index + 1) * width), size), fill=colour)
    return image


def _write_atomically(path: Path, payload: bytes) -> None:
    """Temporary file then rename: a crash never leaves a half-written card behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
