"""What a memory is: its kind, who may write it, and the checks every write passes.

Every memory carries provenance (kind and author). Write permissions are a table, not
scattered ifs: fans can never create canon, whatever they say.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
MAX_TEXT_CHARS = 4000


class MemoryStoreError(ValueError):
    """A memory or a request about memory is invalid; the message says which part."""


class MemoryPermissionError(MemoryStoreError):
    """The author may not write this kind of memory."""


class MemoryKind(str, Enum):
    CANON = "canon"  # lore shared by every fan: the operator's (her card) and the studio's (her published work)
    PERSONA = "persona_utterance"  # something she said about herself, checked against canon
    FAN_FACT = "fan_fact"  # a fact about one fan, extracted from the conversation
    EPISODIC = "episodic_turn"  # one turn of a conversation
    SUMMARY = "summary"  # a summary of older turns
    ARTIFACT = "artifact"  # a piece she made for one fan (kind, title, brief, date); its key is the artifact id


class Author(str, Enum):
    OPERATOR = "operator"
    PERSONA = "persona"
    FAN = "fan"
    SYSTEM = "system"  # the extractor and the summariser
    STUDIO = "studio"  # her portfolio: what designers publish in the studio


WRITERS: dict[MemoryKind, frozenset[Author]] = {
    MemoryKind.CANON: frozenset({Author.OPERATOR, Author.STUDIO}),
    MemoryKind.PERSONA: frozenset({Author.PERSONA, Author.OPERATOR}),
    MemoryKind.FAN_FACT: frozenset({Author.SYSTEM, Author.OPERATOR}),
    MemoryKind.EPISODIC: frozenset({Author.FAN, Author.PERSONA}),
    MemoryKind.SUMMARY: frozenset({Author.SYSTEM}),
    MemoryKind.ARTIFACT: frozenset({Author.SYSTEM}),
}


def check_fan_id(fan_id: str) -> str:
    if not isinstance(fan_id, str) or not FAN_ID.match(fan_id):
        shown = f"{fan_id[:40]!r}... ({len(fan_id):,} characters)" if isinstance(fan_id, str) and len(fan_id) > 40 else repr(fan_id)
        raise MemoryStoreError(f"fan id {shown} is not valid: use 1-128 letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
    return fan_id


class NewMemory(BaseModel):
    """A memory as a writer submits it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: MemoryKind
    fan_id: str | None = Field(default=None, description="None for canon, which belongs to no fan")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    key: str = Field(default="", max_length=200, description="canon entry id, or a fact's subject for updates")
    embargo_until: dt.date | None = None

    @field_validator("fan_id")
    @classmethod
    def _check_fan(cls, value: str | None) -> str | None:
        return None if value is None else check_fan_id(value)

    @model_validator(mode="after")
    def _check_ownership(self) -> NewMemory:
        if self.kind is MemoryKind.CANON and self.fan_id is not None:
            raise ValueError("canon belongs to no fan: fan_id must be empty")
        if self.kind is not MemoryKind.CANON and self.fan_id is None:
            raise ValueError(f"a {self.kind.value} memory needs a fan_id")
        if self.embargo_until is not None and self.kind is not MemoryKind.CANON:
            raise ValueError("only canon can carry an embargo date")
        return self


class Memory(NewMemory):
    """A stored memory."""

    id: int
    author: Author
    created_at: dt.datetime

    def is_visible(self, today: dt.date) -> bool:
        return self.embargo_until is None or today >= self.embargo_until


def check_permission(memory: NewMemory, author: Author) -> None:
    if author not in WRITERS[memory.kind]:
        allowed = ", ".join(sorted(a.value for a in WRITERS[memory.kind]))
        raise MemoryPermissionError(f"a {author.value} may not write {memory.kind.value} memories (only: {allowed})")
