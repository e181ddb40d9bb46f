"""The serving app: one ASGI application for fans and the studio.

    /ws/chat               the fan chat protocol (serving/protocol.py, docs/protocol.md)
    /v1/models             the persona as an OpenAI model
    /v1/chat/completions   OpenAI-compatible chat, streaming or not
    /healthz  /readyz      the process is up / the persona can answer
    /metrics               Prometheus text format
    /studio                the designers' Gradio studio, behind its own login (studio/app.py)

`create_app(settings)` loads the runtime when the app starts (uvicorn's lifespan); tests and
benchmarks may pass a ready `Runtime` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from serving.auth import load_or_create_secret
from serving.chat_socket import ChatConnection
from serving.limits import ConnectionCaps, FanRateLimits
from serving.openai_api import chat_completions, list_models
from serving.runtime import Runtime, start_runtime
from serving.sessions import FrameLog, SessionHub
from serving.settings import Settings

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("atelier_ws_connections", "open fan WebSocket connections", registry=r)
        self.frames_sent = Counter("atelier_ws_frames_sent", "server frames written to fans", registry=r)
        self.bad_frames = Counter("atelier_ws_bad_frames", "client frames refused by the protocol", registry=r)
        self.slow_clients = Counter("atelier_ws_slow_clients", "connections closed because the client fell behind", registry=r)
        self.auth_failures = Counter("atelier_auth_failures", "requests with a missing, bad or expired fan token", registry=r)
        self.turns = Counter("atelier_turns", "turns answered, by outcome", ["outcome"], registry=r)
        self.ttft = Histogram("atelier_time_to_first_token_seconds", "from a fan's message to the first delta", registry=r,
                              buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
        self.persona_layer = Histogram("atelier_persona_layer_seconds", "policy, recall and prompt assembly before the model is asked", registry=r,
                                       buckets=(0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1))


def token_secret(settings: Settings) -> bytes:
    """The HMAC key for fan tokens: from the settings, else a file beside the memory store."""
    if settings.serving.token_secret:
        return settings.serving.token_secret.encode()
    return load_or_create_secret(settings.memory.data_dir / "token-secret")


@dataclass
class ChatService:
    """What the routes share: the runtime and the fans' sessions, limits and metrics."""

    settings: Settings
    runtime: Runtime
    secret: bytes
    hub: SessionHub
    metrics: Metrics = field(default_factory=Metrics)
    connections: ConnectionCaps = field(init=False)
    rate_limits: FanRateLimits = field(init=False)

    def __post_init__(self) -> None:
        config = self.settings.serving
        self.connections = ConnectionCaps(config.connections_per_address)
        self.rate_limits = FanRateLimits(config.messages_per_minute / 60, config.message_burst)


async def chat_socket(websocket: WebSocket) -> None:
    service: ChatService = websocket.app.state.service
    service.metrics.connections.inc()
    try:
        await ChatConnection(websocket, service).run()
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


def create_app(settings: Settings, runtime: Runtime | None = None, studio: bool | None = None) -> Starlette:
    """`studio`: mount the studio at /studio (default: settings.studio.enabled)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        limit_model_threads(settings.serving.torch_threads)
        ready = runtime or await start_runtime(settings, log=log.info)
        data_dir = settings.memory.data_dir.expanduser()
        frame_log = FrameLog(data_dir / f"sessions-{ready.persona.id}.db", settings.serving.resume_window_s)
        app.state.service = ChatService(settings, ready, token_secret(settings), SessionHub(frame_log))
        if (studio_context := getattr(app.state, "studio", None)) is not None:
            studio_context.runtime = ready  # the studio's Chat tab shares the fans' runtime
        try:
            yield
        finally:
            # Replies in flight end now: committed and logged as far as they got.
            turns = [s.turn_task for s in app.state.service.hub.sessions.values() if s.turn_task is not None and not s.turn_task.done()]
            for task in turns:
                task.cancel()
            await asyncio.gather(*turns, return_exceptions=True)
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
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if settings.studio.enabled if studio is None else studio:
        from studio.app import mount_studio, studio_context

        mount_studio(app, studio_context(settings))
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None, studio: bool = False) -> None:
    """`atelier serve` is the fans' endpoints only; `atelier up` adds the studio."""
    import uvicorn

    config = settings.serving
    uvicorn.run(
        create_app(settings, studio=studio),
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
