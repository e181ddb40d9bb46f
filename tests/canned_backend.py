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
