"""The fan chat protocol over WebSocket, version 1: one JSON object per text frame.

Client -> server: ``hello`` first (token, persona, optional resume point), then ``message``,
``interrupt``, ``ping``, and ``create`` / ``cancel`` for creative jobs. Server -> client:
``ready``, ``delta``, ``end``, ``error``, ``pong``, and ``job`` / ``artifact`` to a client whose
hello accepts "jobs" (``ready.capabilities`` says what the server offers). Every server frame carries ``seq``, counting up by one within a session, so a
client that reconnects says the last ``seq`` it saw and gets exactly the frames it missed.
docs/protocol.md explains the flow; docs/protocol-{client,server}.schema.json are the JSON
Schemas (``atelier protocol schema`` prints them).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_TEXT_CHARS = 4000  # one fan message; the memory store keeps texts up to the same size
CAPABILITIES = ["jobs"]  # what this server offers beyond version 1's chat: creative jobs and their artifacts
CreationKind = Literal["look", "print", "song"]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- client -> server -------------------------------------------------------------------

class ResumePoint(Frame):
    session: str = Field(min_length=1, max_length=64, description="the session id from an earlier `ready`")
    last_seq: int = Field(ge=0, description="the last server seq the client received")


class Hello(Frame):
    type: Literal["hello"] = "hello"
    protocol: int = Field(default=PROTOCOL_VERSION, description="the protocol version the client speaks")
    token: str = Field(min_length=1, max_length=2048, description="the fan token from `atelier token issue`")
    persona: str = Field(min_length=1, max_length=64)
    resume: ResumePoint | None = None
    accepts: list[Literal["jobs"]] = Field(default_factory=list, max_length=8,
                                           description="optional frames the client handles: jobs = `job` and `artifact` frames")


class Message(Frame):
    type: Literal["message"] = "message"
    id: str = Field(min_length=1, max_length=64, description="the client's id for this message: a resend with the same id gets no second reply")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class Interrupt(Frame):
    type: Literal["interrupt"] = "interrupt"
    turn: int = Field(ge=1, description="the turn being interrupted")
    heard: str = Field(default="", max_length=MAX_TEXT_CHARS, description="the part of the reply the fan actually saw or heard")


class Ping(Frame):
    type: Literal["ping"] = "ping"
    nonce: str = Field(default="", max_length=64)


class Create(Frame):
    """Ask her for a piece outright (a UI button), without a message for her to read."""

    type: Literal["create"] = "create"
    id: str = Field(min_length=1, max_length=64, description="the client's id for this request: a resend with the same id starts no second job")
    kind: CreationKind
    brief: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="what to make, in the fan's words")


class Cancel(Frame):
    type: Literal["cancel"] = "cancel"
    job: str = Field(min_length=1, max_length=64, description="the id from a `job` frame")


ClientFrame = Annotated[Hello | Message | Interrupt | Ping | Create | Cancel, Field(discriminator="type")]


# ---- server -> client -------------------------------------------------------------------

class Usage(Frame):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


class Ready(Frame):
    type: Literal["ready"] = "ready"
    seq: int
    protocol: int = PROTOCOL_VERSION
    session: str
    fan: str
    persona: str
    greeting: str = ""
    resumed: bool = False
    capabilities: list[str] = Field(default_factory=lambda: list(CAPABILITIES))


class Delta(Frame):
    type: Literal["delta"] = "delta"
    seq: int
    turn: int
    text: str


class End(Frame):
    type: Literal["end"] = "end"
    seq: int
    turn: int
    message_id: str
    text: str = Field(description="the whole reply as committed to memory")
    usage: Usage
    interrupted: bool = False
    repeated: bool = Field(default=False, description="a resent message id: this is the reply committed before, not a new one")


ErrorCode = Literal[
    "bad_frame", "too_large", "unauthorized", "forbidden", "rate_limited", "busy", "not_found", "cut_off", "unavailable", "internal", "quota",
]


class Error(Frame):
    type: Literal["error"] = "error"
    seq: int
    code: ErrorCode
    message: str
    turn: int | None = None


class Pong(Frame):
    type: Literal["pong"] = "pong"
    seq: int
    nonce: str = ""


class Job(Frame):
    """A creative job of the fan's, each time it changes: queued (with its place), running (with
    progress), then done (an `artifact` frame follows), failed or cancelled."""

    type: Literal["job"] = "job"
    seq: int
    job: str
    kind: CreationKind
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    position: int | None = Field(default=None, description="place in the queue while queued (1: next)")
    step: str = ""
    error: str = ""
    request: str | None = Field(default=None, description="the `create` id or message id that asked for it")


class ArtifactFile(Frame):
    name: str
    media_type: str
    size: int
    role: str
    url: str = Field(description="signed for this fan and file, it expires (see `expires`); a public piece's is plain and does not")


class Artifact(Frame):
    """What she made, with her short description of it from its real spec or plan: for this fan,
    or (`public`) a piece of her portfolio that every fan may see."""

    type: Literal["artifact"] = "artifact"
    seq: int
    artifact: str
    job: str | None = None
    kind: Literal["look", "print", "song", "collection"] = Field(description="a collection comes only from her portfolio")
    public: bool = Field(default=False, description="a piece of her published portfolio, not one made for this fan")
    title: str
    description: str
    summary: dict = Field(description="the facts of the spec or plan: colours, silhouette, fabric; key, tempo, instruments")
    files: list[ArtifactFile]
    preview: str | None = Field(default=None, description="url of a preview image")
    expires: int | None = Field(description="when the urls stop working (unix seconds), ask again to get fresh ones; null for a public piece")


ServerFrame = Annotated[Ready | Delta | End | Error | Pong | Job | Artifact, Field(discriminator="type")]

CLIENT_FRAMES: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
SERVER_FRAMES: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


class ProtocolError(ValueError):
    """A frame the protocol does not allow; ``code`` is the error code sent back."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def parse_client_frame(raw: str | bytes) -> Hello | Message | Interrupt | Ping | Create | Cancel:
    """One client frame, or a ProtocolError whose message names what was wrong."""
    if isinstance(raw, bytes):
        raise ProtocolError("bad_frame", "binary frames are not part of the protocol: send JSON text frames")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("bad_frame", "a frame must be one JSON object") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_frame", f"a frame must be a JSON object, not {type(data).__name__}")
    try:
        return CLIENT_FRAMES.validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        raise ProtocolError("bad_frame", f"{where}: {first['msg']}") from None


def json_schema(direction: Literal["client", "server"]) -> dict:
    """The JSON Schema of one direction's frames (docs/protocol-<direction>.schema.json)."""
    adapter = CLIENT_FRAMES if direction == "client" else SERVER_FRAMES
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Atelier fan chat protocol v{PROTOCOL_VERSION}: {direction} frames",
        **adapter.json_schema(),
    }
