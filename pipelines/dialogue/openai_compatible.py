"""Dialogue through any OpenAI-compatible server: vLLM on a GPU server, or anything else
that speaks ``/v1/chat/completions`` with server-sent events.

Closing the stream closes the HTTP response, and vLLM aborts a request whose client
has gone, so a cancelled reply stops costing GPU time at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from pipelines.dialogue.base import (
    ChatMessage,
    DialogueBackend,
    DialogueConnectionError,
    DialogueError,
    DialogueTimeout,
    Finished,
    GenerationParams,
    StreamEvent,
    TextDelta,
    Usage,
)


class OpenAICompatibleBackend(DialogueBackend):
    name = "openai"
    supports_json_schema = True  # vLLM's structured outputs, through the OpenAI response_format

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0, connect_timeout_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        )

    def request_body(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.repetition_penalty != 1.0:  # a vLLM extension of the OpenAI API
            body["repetition_penalty"] = params.repetition_penalty
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        if params.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": params.json_schema, "strict": True}}
        return body

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamEvent]:
        url = f"{self.base_url}/chat/completions"
        usage: Usage | None = None
        finish_reason = "length"
        completion_chunks = 0
        try:
            async with self.client.stream("POST", "/chat/completions", json=self.request_body(messages, params)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise DialogueError(f"{url} answered HTTP {response.status_code}: {_error_text(response)}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line.removeprefix("data:").strip()
                    if payload == "[DONE]":
                        break
                    chunk = _parse_chunk(payload, url)
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            completion_chunks += 1
                            yield TextDelta(text)
                        if choice.get("finish_reason"):
                            finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
                    if reported := chunk.get("usage"):
                        cached = (reported.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                        usage = Usage(reported["prompt_tokens"], reported["completion_tokens"], cached)
        except httpx.ConnectError as error:
            raise DialogueConnectionError(
                f"cannot reach the dialogue server at {self.base_url} ({error}); "
                "is it running, and is dialogue.base_url right?"
            ) from None
        except httpx.TimeoutException as error:
            raise DialogueTimeout(f"the dialogue server at {self.base_url} did not answer in time ({type(error).__name__}); see dialogue.timeout_s") from None
        except httpx.HTTPError as error:
            raise DialogueError(f"talking to the dialogue server at {self.base_url} failed: {error!r}") from None
        # A server that omits usage still gets an honest count of streamed chunks.
        yield Finished(usage or Usage(0, completion_chunks), finish_reason)

    async def aclose(self) -> None:
        await self.client.aclose()


def _parse_chunk(payload: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(payload)
    except json.JSONDecodeError:
        raise DialogueError(f"{url} sent a stream event that is not JSON: {payload[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise DialogueError(f"{url} sent a stream event that is not a JSON object: {payload[:200]!r}")
    if "error" in chunk:
        raise DialogueError(f"{url} reported an error mid-stream: {chunk['error']}")
    return chunk


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except ValueError:
        return response.text[:300] or response.reason_phrase
