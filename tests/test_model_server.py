"""The OpenAI-compatible model server (serving/model_server.py) on a real uvicorn on
127.0.0.1, serving the embedded model: the gateway's own client and the official OpenAI SDK
talk to it, bad requests get OpenAI's error shape, and a client that hangs up stops generation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from pipelines.dialogue import (
    ChatMessage,
    DialogueBackend,
    Finished,
    GenerationParams,
    TextDelta,
    Usage,
)
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend
from server_process import serving_in_thread
from serving.model_server import build_model_app, create_model_app

SERVED = "smollm2"
QUESTION = [
    ChatMessage(role="system", content="You are a fashion designer. Answer briefly."),
    ChatMessage(role="user", content="Which colour goes with navy?"),
]


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """uvicorn on 127.0.0.1 serving `app`, lifespan included; yields the /v1 base URL."""
    with serving_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def base_url(local_backend_fp32) -> Iterator[str]:
    """The embedded model in float32, whose greedy output does not depend on its prefix cache,
    so what it says through the server can be compared with what it says directly. (The
    server's shutdown closes the backend; it starts its thread again on its next reply.)"""
    with serving(create_model_app(local_backend_fp32, SERVED)) as url:
        yield url


@pytest.fixture
def sdk(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)


# --- the gateway's own client ------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    GenerationParams(max_tokens=6, temperature=0.0, repetition_penalty=1.1),
    GenerationParams(max_tokens=6, temperature=1.0, top_p=0.9, seed=7),
], ids=["greedy", "seeded"])
async def test_the_gateway_client_gets_what_the_backend_says_directly(base_url, local_backend_fp32, params):
    client = OpenAICompatibleBackend(base_url, SERVED)
    try:
        deltas = [event async for event in client.stream(QUESTION, params)]
    finally:
        await client.aclose()
    direct, direct_finished = await local_backend_fp32.complete(QUESTION, params)

    texts = [event.text for event in deltas if isinstance(event, TextDelta)]
    finished = deltas[-1]
    assert len(texts) > 1  # streamed as it was generated, not in one piece
    assert "".join(texts) == direct and direct.strip()
    assert isinstance(finished, Finished) and finished.finish_reason == direct_finished.finish_reason
    assert (finished.usage.prompt_tokens, finished.usage.completion_tokens) == (direct_finished.usage.prompt_tokens, direct_finished.usage.completion_tokens)


# --- the official OpenAI SDK -------------------------------------------------------------------


def test_the_openai_sdk_lists_the_model_and_gets_a_whole_completion(sdk):
    assert [model.id for model in sdk.models.list()] == [SERVED]

    completion = sdk.chat.completions.create(model=SERVED, messages=[m.model_dump() for m in QUESTION], max_tokens=5, temperature=0)
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.model == SERVED
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens <= 5 and completion.usage.prompt_tokens > 10
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_the_openai_sdk_streams_with_usage_at_the_end(sdk):
    chunks = list(sdk.chat.completions.create(model=SERVED, messages=[{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}],
                                              max_tokens=4, temperature=0, stream=True, stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert text.strip() and finishes in (["stop"], ["length"])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens <= 4


# --- errors ------------------------------------------------------------------------------------


def test_another_model_name_is_a_404_in_openai_shape(base_url, sdk):
    response = httpx.post(f"{base_url}/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error" and "gpt-4o" in error["message"]
    with pytest.raises(openai.NotFoundError, match=SERVED):
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])


@pytest.mark.parametrize(("body", "field"), [
    ({"model": SERVED}, "messages"),
    ({"model": SERVED, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": "x"}, "max_tokens"),
    ({"model": SERVED, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0}, "max_tokens"),
    ({"model": SERVED, "messages": [{"role": "user", "content": "Hi"}], "temperature": 5}, "temperature"),
    ({"model": SERVED, "messages": [{"role": "fan", "content": "Hi"}]}, "messages.0.role"),
    ({"model": SERVED, "messages": [{"role": "user", "content": "Hi"}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}, "response_format"),
])
def test_a_bad_body_is_a_400_naming_the_field(base_url, body, field):
    response = httpx.post(f"{base_url}/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(f"{field}")


def test_a_prompt_beyond_the_context_is_a_400_before_any_stream(base_url):
    long = [{"role": "user", "content": "navy " * 9000}]
    response = httpx.post(f"{base_url}/chat/completions", json={"model": SERVED, "messages": long, "max_tokens": 8, "stream": True}, timeout=60)
    assert response.status_code == 400 and "context" in response.json()["error"]["message"]


# --- the dialogue deployment's builder ---------------------------------------------------------


def test_the_deployment_builder_runs_the_model_itself_whatever_the_gateway_backend(model_dir, cache_dir, monkeypatch):
    """What Ray's serve.ingress calls in each replica: a config whose gateways use the openai
    backend still gets the local model here, served under dialogue.model."""
    monkeypatch.delenv("ATELIER_CONFIG", raising=False)
    monkeypatch.setenv("ATELIER_CACHE_DIR", str(cache_dir))  # the embedded model the session prepared
    monkeypatch.setenv("ATELIER_DIALOGUE__BACKEND", "openai")
    monkeypatch.setenv("ATELIER_DIALOGUE__MODEL", "atelier-dialogue")
    app = build_model_app()
    assert app.state.backend.name == "local"
    with serving(app) as url:
        assert httpx.get(f"{url}/models").json()["data"][0]["id"] == "atelier-dialogue"
        assert httpx.get(url.removesuffix("/v1") + "/healthz").json() == {"status": "ok"}


# --- a client that hangs up --------------------------------------------------------------------


class EndlessBackend(DialogueBackend):
    """Says "la " until it is told to stop (or ten thousand times); records how it ended. The
    server runs on another thread's event loop, hence threading events."""

    name = "endless"

    def __init__(self):
        self.sent = 0
        self.stream_closed = threading.Event()
        self.backend_closed = threading.Event()

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[TextDelta | Finished]:
        try:
            for _ in range(10_000):
                self.sent += 1
                yield TextDelta("la ")
                await asyncio.sleep(0.01)
            yield Finished(Usage(1, self.sent), "length")
        finally:
            self.stream_closed.set()

    async def aclose(self) -> None:
        self.backend_closed.set()


def test_a_client_that_hangs_up_stops_generation_and_shutdown_closes_the_backend():
    backend = EndlessBackend()
    with serving(create_model_app(backend, "endless")) as url:
        with httpx.Client(timeout=30) as client:
            body = {"model": "endless", "messages": [{"role": "user", "content": "Sing"}], "stream": True}
            with client.stream("POST", f"{url}/chat/completions", json=body) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.iter_lines()
                contents = []
                while len(contents) < 3:
                    line = next(lines)
                    if line.startswith("data:"):
                        contents.append(json.loads(line.removeprefix("data:"))["choices"][0]["delta"].get("content"))
                assert contents == ["", "la ", "la "]  # the role chunk, then her words
            # Leaving the block hangs up mid-stream.
        assert backend.stream_closed.wait(timeout=20), "the backend's stream was not closed when the client left"
        assert backend.sent < 10_000
        assert not backend.backend_closed.is_set()
    assert backend.backend_closed.is_set()  # the app's lifespan closed it at shutdown
