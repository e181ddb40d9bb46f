"""Fan facts read by the dialogue model, its reply constrained to a JSON schema.

Backends that can constrain output (vLLM, through the OpenAI ``response_format``) read a
message with the fan's stored facts beside it, and answer with facts and retractions in the
same slots the rule extractor uses; reconciliation is shared. The reply is still checked:
a statement that is not about the fan is dropped, so nothing the fan says can turn into
anything but a fact about the fan. When the model fails (unreachable, slow, not valid),
the rule extractor reads the message instead: learning is never lost to a bad reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from persona.memory.extraction import FanFact, Retraction, keyify, extract_changes
from persona.memory.records import Memory
from pipelines.dialogue import ChatMessage, DialogueBackend, DialogueError, GenerationParams

log = logging.getLogger(__name__)

Slot = Literal["name", "age", "nationality", "birthday", "home", "job", "workplace", "study", "language", "project",
               "goal", "partner", "sibling", "family", "pet", "likes", "dislikes", "favourite"]
KEYED_SLOTS = {"family", "pet", "likes", "dislikes", "favourite"}  # one memory per subject: "pet:mochi"
IMPORTANCE: dict[str, float] = {"name": 0.9, "age": 0.7, "nationality": 0.6, "birthday": 0.8, "home": 0.8, "job": 0.8,
                                "workplace": 0.7, "study": 0.7, "language": 0.6, "project": 0.6, "goal": 0.65,
                                "partner": 0.75, "sibling": 0.7, "family": 0.7, "pet": 0.7, "likes": 0.4,
                                "dislikes": 0.4, "favourite": 0.5}


class ExtractedFact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: Slot
    subject: str = Field(default="", max_length=40, description="for pet, family, likes, dislikes, favourite: what it is about")
    statement: str = Field(max_length=240, description="one sentence that starts with 'The fan'")


class ExtractedRetraction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: Slot
    subject: str = Field(default="", max_length=40)


class Extraction(BaseModel):
    """What the model answers: the facts the message states and the ones it takes back."""

    model_config = ConfigDict(extra="forbid")

    facts: list[ExtractedFact] = Field(default=[], max_length=8)
    retractions: list[ExtractedRetraction] = Field(default=[], max_length=8)


SCHEMA = Extraction.model_json_schema()
INSTRUCTIONS = (
    "You read one chat message a fan sent and list the facts it states about the fan themself: name, age, home, "
    "job, studies, family, pets, likes, dislikes, favourites, projects, goals. Ignore questions, hypotheticals, "
    "jokes and anything about the person they are talking to. Write each fact as one sentence that starts with "
    "'The fan'. List a retraction when the message says a known fact is no longer true. Answer in JSON."
)


def _key(slot: str, subject: str) -> str:
    subject = keyify(subject)  # the rule extractor's keys, so both read into the same slots
    return f"{slot}:{subject}" if slot in KEYED_SLOTS and subject else slot


def parse_extraction(reply: str) -> tuple[list[FanFact], list[Retraction]]:
    """Facts and retractions from the model's JSON; statements not about the fan are dropped.
    Raises ValueError when the reply does not fit the schema."""
    try:
        extraction = Extraction.model_validate_json(reply)
    except ValidationError as error:
        raise ValueError(f"the extraction reply does not fit its schema: {error.errors()[0]['msg']} ({reply[:120]!r})") from None
    facts = {}
    for fact in extraction.facts:
        statement = " ".join(fact.statement.split())
        if statement.startswith("The fan") and len(statement) > len("The fan "):
            if not statement.endswith((".", "!")):
                statement += "."
            key = _key(fact.slot, fact.subject)
            facts[key] = FanFact(key, statement, IMPORTANCE[fact.slot], fact.subject)
    retractions = {_key(r.slot, r.subject) for r in extraction.retractions} - set(facts)
    return list(facts.values()), [Retraction(key) for key in sorted(retractions)]


class JsonSchemaExtractor:
    """Runs on the memory thread; the request runs on the event loop the backend lives on."""

    def __init__(self, backend: DialogueBackend, loop: asyncio.AbstractEventLoop, timeout_s: float = 30.0, max_tokens: int = 400):
        if not backend.supports_json_schema:
            raise DialogueError(f"the {backend.name} backend cannot constrain a reply to a JSON schema")
        self.backend = backend
        self.loop = loop
        self.timeout_s = timeout_s
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0, json_schema=SCHEMA)

    def messages(self, fan_text: str, known: list[Memory]) -> list[ChatMessage]:
        facts = "\n".join(f"- [{m.key}] {m.text}" for m in known) or "(none yet)"
        return [
            ChatMessage(role="system", content=INSTRUCTIONS),
            ChatMessage(role="user", content=f"Known facts about the fan:\n{facts}\n\nMessage:\n{fan_text}"),
        ]

    def extract(self, fan_text: str, known: list[Memory]) -> tuple[list[FanFact], list[Retraction]]:
        if _running_loop() is self.loop:
            raise RuntimeError("JsonSchemaExtractor.extract waits for the event loop: call it from a worker thread")
        request = asyncio.run_coroutine_threadsafe(self.backend.complete(self.messages(fan_text, known), self.params), self.loop)
        try:
            reply, _ = request.result(self.timeout_s)
            return parse_extraction(reply)
        except (DialogueError, ValueError, TimeoutError) as error:
            request.cancel()
            log.warning("model extraction failed (%s); reading the message by rules", error)
            return extract_changes(fan_text)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
