"""What both OpenAI-compatible endpoints send and read on the wire: the persona's /v1
(serving/openai_api.py) and the model server of the cluster's dialogue deployment
(serving/model_server.py). Their requests differ; these pieces do not."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from pipelines.dialogue import Usage


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class StreamOptions(BaseModel):
    include_usage: bool = False


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def invalid_request(error: ValidationError) -> JSONResponse:
    """A 400 naming the first field that was wrong and why."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return openai_error(400, f"{where}: {first['msg']}", "invalid_request_error", "invalid_request")


def usage_object(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}


def server_sent_chunk(completion_id: str, created: int, model: str, choices: list[dict[str, Any]], **extra: Any) -> str:
    """One `chat.completion.chunk` as a Server-Sent Event."""
    data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices, **extra}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def server_sent_error(message: str, kind: str, code: str) -> str:
    """An error once the stream has begun (its status is sent): it rides in the stream, as vLLM sends it."""
    return f"data: {json.dumps({'error': {'message': message, 'type': kind, 'code': code}})}\n\n"
