"""Any dialogue backend as an OpenAI-compatible model server, as vLLM is one on a GPU.

    POST /v1/chat/completions   streamed (Server-Sent Events) or whole
    GET  /v1/models             the one model served
    GET  /healthz               the process is up

The cluster's dialogue deployment serves `build_model_app()` (Ray's `serve.ingress`): on CPU
it runs the embedded model, and the gateways reach it with `dialogue.backend: openai` as they
would reach vLLM. The wire format is the one pipelines/dialogue/openai_compatible.py sends and
reads. There is no lock around the backend: LocalBackend already takes concurrent replies in
turns on its one generation thread, and an OpenAI-compatible backend is the client of a server
that batches.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pipelines.dialogue import ChatMessage, DialogueBackend, DialogueError, Finished, GenerationParams
from serving.openai_protocol import StreamOptions, TextPart, invalid_request, openai_error, server_sent_chunk, server_sent_error, usage_object

# --- the wire protocol -----------------------------------------------------------------------


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, and the like

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def to_chat(self) -> ChatMessage:
        text = self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)
        return ChatMessage(role="system" if self.role == "developer" else self.role, content=text)


class JsonSchemaFormat(BaseModel):
    name: str = "reply"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_when_asked(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs a json_schema object with the schema")
        return self


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI fields with no meaning here (user, logprobs) are accepted

    model: str
    messages: list[WireMessage] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None  # vLLM's extension of the OpenAI API
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="one reply per request")

    def generation_params(self) -> GenerationParams:
        """The backend's parameters; a ValidationError names the field out of bounds (the bounds
        live in GenerationParams). Unset sampling follows OpenAI's defaults, not the persona's."""
        chosen = {
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "temperature": 1.0 if self.temperature is None else self.temperature,
            "top_p": 1.0 if self.top_p is None else self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
            "seed": self.seed,
            "json_schema": self.response_format.json_schema.schema_ if self.response_format and self.response_format.json_schema else None,
        }
        return GenerationParams(**{name: value for name, value in chosen.items() if value is not None})


# --- serving it ------------------------------------------------------------------------------


class ClosingStreamingResponse(StreamingResponse):
    """Closes its event stream however the response ends, a client hanging up included, so the
    backend stops generating at once rather than when the stream is garbage-collected."""

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()


async def chat_completions(request: Request) -> Response:
    backend: DialogueBackend = request.app.state.backend
    served_name: str = request.app.state.served_name
    try:
        body = CompletionRequest.model_validate_json(await request.body())
    except ValidationError as error:
        return invalid_request(error)
    if body.model != served_name:
        return openai_error(404, f"the model {body.model!r} does not exist here; this server serves {served_name!r}", "invalid_request_error", "model_not_found")
    try:
        params = body.generation_params()
    except ValidationError as error:
        return invalid_request(error)
    if params.json_schema is not None and not backend.supports_json_schema:
        return openai_error(400, f"response_format: this server's {backend.name} backend cannot constrain a reply to a JSON schema", "invalid_request_error", "invalid_request")

    events = backend.stream([message.to_chat() for message in body.messages], params)
    # A backend refuses a request it cannot run (a prompt beyond the context) before its first
    # event: that is the client's to fix, and answered with a status, not half a stream.
    try:
        first = await anext(events)
    except DialogueError as error:
        await events.aclose()
        return openai_error(400, str(error), "invalid_request_error", "generation_failed")

    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    if not body.stream:
        pieces: list[str] = []
        event = first
        try:
            while not isinstance(event, Finished):
                pieces.append(event.text)
                event = await anext(events)
        except DialogueError as error:
            return openai_error(500, str(error), "server_error", "generation_failed")
        finally:
            await events.aclose()
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": served_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "finish_reason": event.finish_reason}],
            "usage": usage_object(event.usage),
        })

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        return server_sent_chunk(completion_id, created, served_name, choices, **extra)

    async def server_sent_events() -> AsyncIterator[str]:
        try:
            yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            event = first
            while not isinstance(event, Finished):
                yield chunk([{"index": 0, "delta": {"content": event.text}, "finish_reason": None}])
                event = await anext(events)
            yield chunk([{"index": 0, "delta": {}, "finish_reason": event.finish_reason}])
            if body.stream_options and body.stream_options.include_usage:
                yield chunk([], usage=usage_object(event.usage))
        except DialogueError as error:  # the status is sent already: the error rides in the stream, as vLLM sends it
            yield server_sent_error(str(error), "server_error", "generation_failed")
        finally:
            await events.aclose()
        yield "data: [DONE]\n\n"

    return ClosingStreamingResponse(server_sent_events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def list_models(request: Request) -> Response:
    model = {"id": request.app.state.served_name, "object": "model", "created": 0, "owned_by": "atelier"}
    return JSONResponse({"object": "list", "data": [model]})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_model_app(backend: DialogueBackend, served_name: str) -> Starlette:
    """Serve `backend` under the model name `served_name`. The app owns the backend: it is
    closed when the app shuts down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await backend.aclose()

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models),
        Route("/healthz", healthz),
    ], lifespan=lifespan)
    app.state.backend, app.state.served_name = backend, served_name
    return app


def build_model_app() -> Starlette:
    """The dialogue deployment's app, built in each replica: the settings in ATELIER_CONFIG, and
    always the local backend, whatever `dialogue.backend` says (this is the server the gateways'
    `openai` backend talks to), served as `dialogue.model`."""
    from persona.engine.settings import load_settings
    from pipelines.dialogue import create_backend

    settings = load_settings(os.environ.get("ATELIER_CONFIG"))
    config = settings.dialogue.model_copy(update={"backend": "local"})
    log = logging.getLogger(__name__).info
    backend = create_backend(config, settings.cache_path, log=log)
    log(f"Serving the dialogue model as {config.model!r}")
    return create_model_app(backend, config.model)
