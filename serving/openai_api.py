"""The persona as an OpenAI-compatible model: /v1/models and /v1/chat/completions.

`model` is the persona id and the bearer key is a fan token, so any OpenAI client talks to
her as that fan, with her memory of them. The client's earlier user and assistant messages
are the conversation; its system messages are ignored (she keeps her own, and a client
cannot rewrite her). Streaming is Server-Sent Events as OpenAI sends them, with usage in a
last chunk when `stream_options.include_usage` is set. A piece she finished for the fan since
their last call (a look, a print, a song they asked for) follows her reply as Markdown: a
preview image and links signed for that fan.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from persona.engine.service import ChatService, TurnRefused
from pipelines.dialogue import ChatMessage
from serving.job_frames import artifact_markdown, held_as_markdown
from serving.openai_protocol import StreamOptions, TextPart, invalid_request, openai_error, server_sent_chunk, server_sent_error, usage_object
from serving.protocol import MAX_TEXT_CHARS

# How each of the turn routine's refusals reads as an OpenAI error: (status, type).
REFUSALS = {
    "unauthorized": (401, "authentication_error"),
    "rate_limited": (429, "rate_limit_error"),
    "unavailable": (503, "server_error"),
    "internal": (500, "server_error"),
}


class RequestMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI fields she has no use for are accepted and ignored

    model: str
    messages: list[RequestMessage] = Field(min_length=1, max_length=512)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1, description="one reply per request")


def refusal(refused: TurnRefused) -> JSONResponse:
    status, kind = REFUSALS[refused.code]
    return openai_error(status, str(refused), kind, refused.code)


async def list_models(request: Request) -> Response:
    persona = request.app.state.service.runtime.persona
    return JSONResponse({"object": "list", "data": [{"id": persona.id, "object": "model", "created": 0, "owned_by": "atelier"}]})


async def chat_completions(request: Request) -> Response:
    service: ChatService = request.app.state.service
    runtime = service.runtime
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return openai_error(401, "send a fan token as the bearer key (Authorization: Bearer <token>)", "authentication_error", "missing_token")
    try:
        fan_id = service.authenticate(token.strip())
    except TurnRefused as refused:
        return openai_error(401, str(refused), "authentication_error", "invalid_token")
    try:
        body = CompletionRequest.model_validate_json(await request.body())
    except ValidationError as error:
        return invalid_request(error)
    if body.model != runtime.persona.id:
        return openai_error(404, f"the model {body.model!r} does not exist here; this server hosts {runtime.persona.id!r}", "invalid_request_error", "model_not_found")
    conversation = [m for m in body.messages if m.role in ("user", "assistant")]
    if not conversation or conversation[-1].role != "user" or not conversation[-1].text.strip():
        return openai_error(400, "messages must end with a user message that has text", "invalid_request_error", "invalid_request")
    user_text = conversation[-1].text
    if len(user_text) > MAX_TEXT_CHARS:
        return openai_error(400, f"the last user message has {len(user_text)} characters; the limit is {MAX_TEXT_CHARS}", "invalid_request_error", "too_large")
    try:
        service.admit(fan_id)
        session = await service.open_chat(fan_id, recent_turns=0)
    except TurnRefused as refused:
        return refusal(refused)
    session.history = [ChatMessage(role=m.role, content=m.text) for m in conversation[:-1]]
    configured = runtime.director.params
    stop = [body.stop] if isinstance(body.stop, str) else (body.stop or configured.stop)
    params = configured.model_copy(update={
        "max_tokens": body.max_completion_tokens or body.max_tokens or configured.max_tokens,
        "temperature": configured.temperature if body.temperature is None else body.temperature,
        "top_p": body.top_p or configured.top_p,
        "stop": stop[:8],
        "seed": body.seed,
    })
    def pieces_for(chat, fan: str) -> str:
        """After her reply: a piece sent with it (asked for again, or shown from her portfolio), then
        those finished since the fan's last call."""
        sent = artifact_markdown(service, chat.last_turn.sent) if chat.last_turn and chat.last_turn.sent else ""
        return "\n\n".join(part for part in (sent, held_as_markdown(service, request.app.state.sessions, fan)) if part)

    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def finish_reason() -> str:
        """"length" when her token limit ended the reply (the unfinished sentence was not sent);
        "stop" when she or the persona layer ended it at a sentence's end."""
        return "length" if session.last_turn.finish_reason == "length" else "stop"

    if not body.stream:
        try:
            text = "".join([piece async for piece in service.turn(session, user_text, params)])
        except TurnRefused as refused:
            return refusal(refused)
        if pieces := pieces_for(session, fan_id):
            text += "\n\n" + pieces
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason()}],
            "usage": usage_object(session.last_turn.usage),
        })

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return server_sent_chunk(completion_id, created, body.model, [{"index": 0, "delta": delta, "finish_reason": finish}])

    async def events():
        reply = service.turn(session, user_text, params)
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for piece in reply:
                yield chunk({"content": piece})
            if pieces := pieces_for(session, fan_id):
                yield chunk({"content": "\n\n" + pieces})
            yield chunk({}, finish_reason())
            if body.stream_options and body.stream_options.include_usage:
                yield server_sent_chunk(completion_id, created, body.model, [], usage=usage_object(session.last_turn.usage))
        except TurnRefused as refused:
            yield server_sent_error(str(refused), REFUSALS[refused.code][1], refused.code)
        finally:
            await reply.aclose()  # a client that hangs up stops generation; the turn is still committed
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
