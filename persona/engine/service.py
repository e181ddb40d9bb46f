"""The chat service: what every chat front end shares, and the one routine that runs a turn.

    service = ChatService(settings, runtime, token_secret(settings))
    fan_id = service.authenticate(token)                 # TurnRefused("unauthorized")
    chat = await service.open_chat(fan_id, recent_turns)  # TurnRefused("unavailable")
    service.admit(fan_id)                                # TurnRefused("rate_limited")
    async for piece in service.turn(chat, text):         # errors and metrics
        ...
    chat.last_turn                                       # how it ended: text, usage, interrupted

The WebSocket endpoint and /v1/chat/completions both run turns through `turn`, so a fan gets
the same limits, the same error codes and the same metrics whichever way they talk to her.
A failure always becomes a TurnRefused with one of the protocol's error codes; the front end
only translates it (an error frame, an HTTP status).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from persona.director import ChatSession
from persona.engine.artifacts import PORTFOLIO, ArtifactStore, FanArtifact, UrlSigner
from persona.engine.auth import AuthError, load_or_create_secret, verify_token
from persona.engine.limits import FanRateLimits
from persona.engine.runtime import Runtime
from persona.engine.settings import Settings
from persona.memory.records import MemoryStoreError
from pipelines.dialogue import DialogueError, GenerationParams

log = logging.getLogger(__name__)


class TurnRefused(Exception):
    """A turn that was not answered. `code` is the protocol's error code: unauthorized,
    rate_limited, unavailable (the model or the memory store failed; try again) or internal."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


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
    """The runtime, the fans' rate limits and the metrics, for every chat front end."""

    settings: Settings
    runtime: Runtime
    secret: bytes
    metrics: Metrics = field(default_factory=Metrics)
    rate_limits: FanRateLimits = field(init=False)
    url_signer: UrlSigner = field(init=False)

    def __post_init__(self) -> None:
        config = self.settings.serving
        self.rate_limits = FanRateLimits(config.messages_per_minute / 60, config.message_burst)
        # Artifact URLs are signed with a key of their own, derived from the tokens' one.
        self.url_signer = UrlSigner(hmac.new(self.secret, b"atelier artifact urls", hashlib.sha256).digest())

    @property
    def artifacts(self) -> ArtifactStore | None:
        return self.runtime.artifacts

    def artifact_links(self, artifact: FanArtifact) -> tuple[dict[str, str], int | None]:
        """({file name: signed url}, expiry in unix seconds) for the artifact's fan; a piece of her
        portfolio has public urls that do not expire (None)."""
        if artifact.owner == PORTFOLIO:
            return {file.name: f"/portfolio/{artifact.id}/{file.name}" for file in artifact.files}, None
        ttl, now = self.settings.creations.url_ttl_s, time.time()
        links = {file.name: self.url_signer.url(artifact.owner, artifact.id, file.name, ttl, now=now) for file in artifact.files}
        return links, math.ceil(now + ttl)

    def authenticate(self, token: str) -> str:
        """The fan id a token was issued to."""
        try:
            return verify_token(self.secret, token).fan_id
        except AuthError as error:
            self.metrics.auth_failures.inc()
            raise TurnRefused("unauthorized", str(error)) from None

    async def open_chat(self, fan_id: str, recent_turns: int) -> ChatSession:
        """The fan's conversation, picking up their last `recent_turns` turns from memory. The
        fan id lives here, in the ChatSession, and nowhere else."""
        try:
            return await self.runtime.director.start_session(fan_id, recent_turns=recent_turns)
        except MemoryStoreError as error:
            log.warning("memory of fan %s could not be read: %s", fan_id, error)
            raise TurnRefused("unavailable", f"her memory cannot be read just now: {error}") from error

    def admit(self, fan_id: str) -> None:
        """Count a message of the fan's against their rate limit, before anything else is done
        for it (a refused message costs no turn, no log write)."""
        if not self.rate_limits.take(fan_id):
            raise TurnRefused("rate_limited", f"slow down: at most {self.settings.serving.messages_per_minute:g} messages a minute")

    async def turn(self, chat: ChatSession, text: str, params: GenerationParams | None = None, request: str | None = None) -> AsyncIterator[str]:
        """Her reply to `text` (a message `admit` let through), piece by piece. The turn is
        committed before this ends, also when it is closed or cancelled early (with what the fan
        received, marked as interrupted); `chat.last_turn` then says how it ended. `request`
        (the message's id) tags the job a request for a piece starts."""
        received = time.perf_counter()
        before = chat.last_turn
        reply = self.runtime.director.reply(chat, text, params, request)
        failed = False
        try:
            first = True
            async for piece in reply:
                if first:
                    self.metrics.ttft.observe(time.perf_counter() - received)
                    self.metrics.persona_layer.observe(chat.last_persona_s)
                    first = False
                yield piece
        except (DialogueError, MemoryStoreError) as error:
            failed = True
            log.warning("a turn of fan %s failed: %s", chat.fan_id, error)
            raise TurnRefused("unavailable", f"she could not answer just now: {error}") from error
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as error:
            failed = True
            log.exception("a turn of fan %s failed", chat.fan_id)
            raise TurnRefused("internal", "something went wrong on the server; try again") from error
        finally:
            await reply.aclose()  # commits what the fan received when the turn ends early
            result = chat.last_turn
            outcome = "error" if failed or result is before or result is None else \
                "interrupted" if result.interrupted else "refused" if result.refused else "guarded" if result.guarded else "ok"
            self.metrics.turns.labels(outcome=outcome).inc()
