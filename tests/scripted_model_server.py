"""An OpenAI-compatible model server on 127.0.0.1 that streams scripted replies, a few
characters a chunk, as a real model server does: for tests of what the persona layer lets
through to fans, whatever the model says."""

from __future__ import annotations

import json
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from server_process import free_port


class ScriptedModelServer:
    """Answers every chat completion with the next scripted reply (the last one again once
    they run out), streamed `chunk_chars` characters a chunk; `requests` holds what it was sent."""

    model = "scripted"

    def __init__(self, *replies: str, chunk_chars: int = 3):
        self.replies = list(replies)
        self.chunk_chars = chunk_chars
        self.requests: list[dict] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/models", self._models), Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _complete(self, request: Request) -> StreamingResponse:
        self.requests.append(await request.json())
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        pieces = [reply[i:i + self.chunk_chars] for i in range(0, len(reply), self.chunk_chars)]

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            return "data: " + json.dumps({"object": "chat.completion.chunk", "model": self.model,
                                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}) + "\n\n"

        async def events():
            for piece in pieces:
                yield chunk({"content": piece})
            yield chunk({}, "stop")
            yield chunk({}, usage={"prompt_tokens": 100, "completion_tokens": len(pieces), "total_tokens": 100 + len(pieces)})
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def __enter__(self) -> ScriptedModelServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the scripted model server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
