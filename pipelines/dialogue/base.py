"""The one streaming interface every dialogue backend speaks.

A backend takes chat messages and generation parameters and yields ``TextDelta`` events,
then exactly one ``Finished`` event with the token usage. Closing the stream (``aclose``,
``break`` out of ``async for``, or cancelling the task) stops generation, upstream too.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DialogueError(RuntimeError):
    """Generation failed; the message says why and, where it can, what to change."""


class DialogueConnectionError(DialogueError):
    """The dialogue server could not be reached."""


class DialogueTimeout(DialogueError):
    """The dialogue server did not answer in time."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=256, ge=1, le=32768)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=2.0, description="above 1 discourages loops; small models need it")
    stop: list[str] = Field(default=[], max_length=8)
    max_sentences: int | None = Field(default=None, ge=1, le=50, description="chat: the reply ends after this many sentences (the persona layer stops the model there)")
    no_repeat_ngram: int = Field(default=0, ge=0, le=64, description="local: never generate a run of this many tokens twice (0: off); loops are also cut at the last clean sentence on every backend")
    seed: int | None = None
    json_schema: dict | None = Field(default=None, description="constrain the reply to JSON of this schema (backends whose supports_json_schema is true)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens whose KV cache was reused instead of recomputed


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    usage: Usage
    finish_reason: Literal["stop", "length"]


StreamEvent = TextDelta | Finished


class DialogueBackend(abc.ABC):
    """Subclasses implement ``stream``; ``complete`` is built on it."""

    name: str
    supports_json_schema = False  # can constrain a reply to a JSON schema (GenerationParams.json_schema)

    @abc.abstractmethod
    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamEvent]:
        """Yield text deltas, then one ``Finished``."""

    async def complete(self, messages: list[ChatMessage], params: GenerationParams) -> tuple[str, Finished]:
        """The whole reply at once (tests, benchmarks, batch jobs)."""
        parts: list[str] = []
        finished: Finished | None = None
        async for event in self.stream(messages, params):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                finished = event
        assert finished is not None, "a backend stream must end with Finished"
        return "".join(parts), finished

    async def aclose(self) -> None:
        """Release connections or model memory."""


def shared_prefix_length(a: Sequence, b: Sequence) -> int:
    """How many leading items (tokens, characters) two sequences have in common."""
    shared = 0
    for x, y in zip(a, b):
        if x != y:
            break
        shared += 1
    return shared


class StopScanner:
    """Finds stop strings in streamed text without emitting a stop string's first half.

    Text that might be the start of a stop string is held back until the next delta
    proves it is not.
    """

    def __init__(self, stop: list[str]):
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop string was reached)."""
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stop) if i >= 0]
        if hits:
            emit, self.pending = self.pending[: min(hits)], ""
            return emit, True
        cut = len(self.pending) - self.hold
        if cut <= 0:
            return "", False
        emit, self.pending = self.pending[:cut], self.pending[cut:]
        return emit, False

    def flush(self) -> str:
        emit, self.pending = self.pending, ""
        return emit
