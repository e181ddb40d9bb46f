"""The persona card: who she is, what is canon, how she speaks, looks and sounds.

Cards live in ``configs/personas/<id>.yaml``. Loading validates every field and names the
one that is wrong; saving writes a temporary file and renames it, so a card on disk is
always whole.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.style import FashionDNA, MusicDNA, VisualIdentity
from pipelines.validation import describe_validation_error

PERSONA_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class PersonaError(ValueError):
    """A persona file or card that cannot be used; the message says what and where."""


class CardModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CanonEntry(CardModel):
    """One piece of lore. ``constant`` entries are always in the prompt; the others are
    triggered when a key (plain text or regex) appears in the recent conversation."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = ""
    keys: list[str] = []
    use_regex: bool = False
    case_sensitive: bool = False
    content: str = Field(min_length=1)
    constant: bool = False
    priority: int = Field(default=100, description="higher is kept first when the budget is tight")
    embargo_until: dt.date | None = Field(default=None, description="invisible before this date")
    enabled: bool = True

    @model_validator(mode="after")
    def _check_regex_keys(self) -> CanonEntry:
        if self.use_regex:
            for key in self.keys:
                try:
                    re.compile(key)
                except re.error as error:
                    raise ValueError(f"key {key!r} is not a valid regular expression: {error}") from None
        return self

    def is_visible(self, today: dt.date) -> bool:
        return self.enabled and (self.embargo_until is None or today >= self.embargo_until)

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """Every key in one pattern: one scan of the conversation a turn, not one a key."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if self.use_regex:
            return re.compile("|".join(f"(?:{key})" for key in self.keys), flags) if self.keys else None
        words = [re.escape(key) for key in self.keys if key.strip()]
        # Whole words only, so the key "art" does not fire on "party".
        return re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", flags) if words else None

    def is_triggered_by(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None


class Identity(CardModel):
    full_name: str = ""
    tagline: str = ""
    age: int | None = Field(default=None, ge=0, le=200)
    pronouns: str = ""
    home: str = ""
    occupation: str = ""
    timezone: str = Field(default="UTC", description="IANA name such as 'Asia/Seoul': her sense of 'now'")
    biography: str = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Seoul'") from None
        return value


class ExampleExchange(CardModel):
    user: str = Field(min_length=1)
    persona: str = Field(min_length=1)


class EmojiPolicy(CardModel):
    allowed: bool = True
    max_per_message: int = Field(default=2, ge=0, le=20)


class Voice(CardModel):
    tone: list[str] = []
    formality: Literal["casual", "neutral", "formal"] = "neutral"
    catchphrases: list[str] = []
    languages: list[str] = Field(default=["en"], min_length=1)
    emoji: EmojiPolicy = EmojiPolicy()
    banned_phrases: list[str] = []
    example_dialogue: list[ExampleExchange] = []
    greetings: list[str] = Field(min_length=1)


class SafetyPolicy(CardModel):
    """Topic toggles: ``true`` means she may engage, ``false`` means she steers away."""

    topics: dict[str, bool] = {}
    redirect: str = "That's not something I talk about, but I'd love to hear what you're working on."
    injection_reply: str = Field(
        default="Ha, nice try. My sketchbook stays closed. Tell me what you're making instead?",
        description="her answer, in character, to attempts to rewrite her instructions or read her prompt",
    )

    def refused_topics(self) -> list[str]:
        return sorted(topic for topic, allowed in self.topics.items() if not allowed)


class PersonaCard(CardModel):
    id: str
    name: str = Field(min_length=1)
    identity: Identity
    canon: list[CanonEntry] = []
    voice: Voice
    visual: VisualIdentity
    fashion: FashionDNA = FashionDNA()
    music: MusicDNA = MusicDNA()
    safety: SafetyPolicy = SafetyPolicy()
    interchange: dict[str, Any] = Field(
        default={},
        description="fields of an imported Character Card that Atelier does not use, kept for export",
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not PERSONA_ID.match(value):
            raise ValueError("expected lower-case letters, digits, '-' or '_' (at most 64), starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _check_unique_canon_ids(self) -> PersonaCard:
        seen: set[str] = set()
        for entry in self.canon:
            if entry.id in seen:
                raise ValueError(f"canon entry id {entry.id!r} is used twice")
            seen.add(entry.id)
        return self

    @classmethod
    def from_data(cls, data: Any, source: str) -> PersonaCard:
        """Validate parsed data; any problem becomes a PersonaError naming the field."""
        if not isinstance(data, dict):
            raise PersonaError(f"{source}: expected a mapping of persona fields, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise PersonaError(describe_validation_error(error, source)) from None

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def persona_path(persona_id: str, personas_dir: Path) -> Path:
    if not PERSONA_ID.match(persona_id):
        raise PersonaError(f"persona id {persona_id!r} is not valid: use lower-case letters, digits, '-' or '_'")
    return Path(personas_dir) / f"{persona_id}.yaml"


def avatar_path(persona_id: str, personas_dir: Path) -> Path:
    """Her picture, kept beside her card: the picture of the Character Card she was imported from
    (written back when she is exported as a PNG card)."""
    return persona_path(persona_id, personas_dir).with_suffix(".png")


def list_personas(personas_dir: Path) -> list[str]:
    return sorted(path.stem for path in Path(personas_dir).glob("*.yaml"))


def read_persona_file(path: Path) -> PersonaCard:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PersonaError(f"{path}: no such persona file") from None
    except IsADirectoryError:
        raise PersonaError(f"{path}: a folder, not a persona file (a .yaml card)") from None
    except UnicodeDecodeError as error:
        raise PersonaError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except yaml.YAMLError as error:
        raise PersonaError(f"{path}: not valid YAML: {error}") from None
    return PersonaCard.from_data(data, str(path))


def load_persona(persona_id: str, personas_dir: Path) -> PersonaCard:
    path = persona_path(persona_id, personas_dir)
    if not path.exists():
        available = ", ".join(list_personas(personas_dir)) or "none"
        raise PersonaError(f"no persona {persona_id!r} in {personas_dir} (available: {available})")
    card = read_persona_file(path)
    if card.id != persona_id:
        raise PersonaError(f"{path}: id is {card.id!r} but the file is named for {persona_id!r}")
    return card


def save_persona(card: PersonaCard, personas_dir: Path) -> Path:
    """Write atomically: a crash mid-write never leaves a half-written card."""
    path = persona_path(card.id, personas_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(card.to_data(), allow_unicode=True, sort_keys=False, width=100)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{card.id}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
