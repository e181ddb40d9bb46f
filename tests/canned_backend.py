"""A dialogue backend that answers from a script, for tests of model-drafted designs and plans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from pipelines.dialogue import ChatMessage, DialogueBackend, Finished, GenerationParams, TextDelta, Usage


class CannedBackend(DialogueBackend):
    """Answers every request with the next canned reply (or raises it, or waits forever)."""

    name = "canned-model"
    supports_json_schema = True

    def __init__(self, *replies: str | Exception | None):
        self.replies = list(replies)
        self.requests: list[tuple[list[ChatMessage], GenerationParams]] = []

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator:
        self.requests.append((messages, params))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if reply is None:
            await asyncio.sleep(3600)
        if isinstance(reply, Exception):
            raise reply
        yield TextDelta(reply)
        yield Finished(Usage(prompt_tokens=10, completion_tokens=10), "stop")


class PlainBackend(CannedBackend):
    supports_json_schema = False


class StreamedBackend(PlainBackend):
    """Streams each canned reply a few characters at a time, as a model does, ending with
    `finish_reason`; `sent` counts the characters it got to send before the stream was closed."""

    def __init__(self, *replies: str, chunk_chars: int = 3, finish_reason: str = "stop"):
        super().__init__(*replies)
        self.chunk_chars, self.finish_reason, self.sent = chunk_chars, finish_reason, 0

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator:
        self.requests.append((messages, params))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        self.sent = 0
        for start in range(0, len(reply), self.chunk_chars):
            self.sent += len(reply[start:start + self.chunk_chars])
            yield TextDelta(reply[start:start + self.chunk_chars])
        yield Finished(Usage(prompt_tokens=10, completion_tokens=len(reply) // 4), self.finish_reason)
