"""The serving app: one ASGI application for fans and the studio.

    /ws/chat               the fan chat protocol (serving/protocol.py, docs/protocol.md)
    /v1/models             the persona as an OpenAI model
    /v1/chat/completions   OpenAI-compatible chat, streaming or not
    /healthz  /readyz      the process is up / the persona can answer
    /metrics               Prometheus text format
    /artifacts/...         the pieces she made for a fan: signed URLs, or the fan's token
    /studio                the designers' Gradio studio, behind its own login (studio/app.py)

`create_app(settings)` loads the runtime when the app starts (uvicorn's lifespan); tests and
benchmarks may pass a ready `Runtime` instead. What the routes share is the engine's
ChatService (persona/engine/service.py); the WebSocket sessions and connection caps are this
app's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from persona.engine.limits import ConnectionCaps
from persona.engine.runtime import Runtime, start_runtime
from persona.engine.service import ChatService, token_secret
from persona.engine.settings import ConfigError, Settings
from serving.artifact_files import routes as artifact_routes
from serving.chat_socket import ChatConnection
from serving.job_frames import JobFeed
from serving.openai_api import chat_completions, list_models
from serving.sessions import FrameLog, SessionHub

log = logging.getLogger(__name__)


async def chat_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    service: ChatService = state.service
    service.metrics.connections.inc()
    try:
        await ChatConnection(websocket, service, state.sessions, state.connection_caps, state.job_feed).run()
    finally:
        service.metrics.connections.dec()


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    service = getattr(request.app.state, "service", None)
    if service is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready", "persona": service.runtime.persona.id, "backend": service.runtime.backend.name})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def limit_model_threads(threads: int) -> None:
    """Models running in worker threads must leave the event loop a core: with every core
    busy in a model, frames and recall wait (one sentence's embedding went from 20 ms to
    over 500 ms on two cores when torch used both)."""
    import torch

    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) - 1))


class FrontEnd(Protocol):
    """Another front end served on the same port (the studio), installed as an
    `atelier.front_ends` entry point: serving finds it by name and never imports it."""

    path: str

    def mount(self, app: Starlette, settings: Settings) -> Callable[[ChatService], None]:
        """Mount on `app`; the returned callback gets the chat service once it has started."""

    def describe(self, settings: Settings, base_url: str) -> list[str]:
        """Lines for the start-up banner (where it is, how to sign in)."""


def front_end(name: str) -> FrontEnd:
    found = entry_points(group="atelier.front_ends", name=name)
    if not found:
        raise ConfigError(f"no front end named {name!r} is installed (its entry point is in pyproject.toml: run `pip install -e .`)")
    return next(iter(found)).load()


def open_frame_log(settings: Settings, service: ChatService, data_dir: Path):
    """sessions.backend: the SQLite log of this process, or Redis shared by every replica (with
    the fans' rate limits there too, so they hold across replicas)."""
    persona, window = service.runtime.persona.id, settings.serving.resume_window_s
    if settings.sessions.backend == "sqlite":
        return FrameLog(data_dir / f"sessions-{persona}.db", window)
    from serving.redis_sessions import RedisFrameLog, RedisRateLimits

    config = settings.sessions
    try:
        service.rate_limits = RedisRateLimits(config.redis_url, persona, settings.serving.messages_per_minute / 60, settings.serving.message_burst)
        return RedisFrameLog(config.redis_url, persona, window, config.max_frames)
    except ConnectionError as error:
        raise ConfigError(f"{error} (set in {settings.source_of('sessions.redis_url')})") from None


def create_app(settings: Settings, runtime: Runtime | None = None, front_ends: Sequence[str] | None = None) -> Starlette:
    """`front_ends`: others to mount beside the fans' routes, by entry point name (default: the
    studio when studio.enabled)."""
    on_start: list[Callable[[ChatService], None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        limit_model_threads(settings.serving.torch_threads)
        ready = runtime or await start_runtime(settings, log=log.info)
        data_dir = settings.memory.data_dir.expanduser()
        app.state.service = service = ChatService(settings, ready, token_secret(settings))
        frame_log = open_frame_log(settings, service, data_dir)
        app.state.sessions = SessionHub(frame_log)
        app.state.connection_caps = ConnectionCaps(settings.serving.connections_per_address)
        app.state.job_feed = JobFeed(service, app.state.sessions, asyncio.get_running_loop())
        for started in on_start:
            started(service)
        try:
            yield
        finally:
            # Replies in flight end now: committed and logged as far as they got.
            turns = [s.turn_task for s in app.state.sessions.sessions.values() if s.turn_task is not None and not s.turn_task.done()]
            for task in turns:
                task.cancel()
            await asyncio.gather(*turns, return_exceptions=True)
            app.state.job_feed.close()
            frame_log.close()
            if runtime is None:  # a runtime handed in belongs to its caller
                await ready.aclose()

    routes = [
        WebSocketRoute("/ws/chat", chat_socket),
        Route("/v1/models", list_models),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *artifact_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    for name in ("studio",) if front_ends is None and settings.studio.enabled else front_ends or ():
        on_start.append(front_end(name).mount(app, settings))
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None, front_ends: Sequence[str] = ()) -> None:
    """`atelier serve` is the fans' endpoints only; `atelier up` adds the studio."""
    import uvicorn

    config = settings.serving
    uvicorn.run(
        create_app(settings, front_ends=front_ends),
        host=host or config.host,
        port=port or config.port,
        ws="websockets-sansio",
        ws_max_size=config.max_frame_bytes,
        ws_ping_interval=config.ping_interval_s,
        ws_ping_timeout=config.ping_interval_s,
        ws_per_message_deflate=False,  # compression costs ~4x memory per connection
        timeout_graceful_shutdown=10,  # then replies in flight end, committed as far as they got
        log_level="info",
    )
