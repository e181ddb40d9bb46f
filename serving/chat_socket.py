"""/ws/chat: one fan's connection, from `hello` to close.

The connection reads frames and starts turns; a sender task writes frames from a bounded
queue, so a fan who stops reading fills only their own queue and is disconnected, while
everyone else keeps streaming. Close codes: 1008 for a bad token or a forbidden persona,
1009 for a frame over the size limit (the server closes those itself), 1013 when the
server is full or a client falls too far behind, 1000 on idle timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from persona.engine.limits import ConnectionCaps
from persona.engine.service import ChatService, TurnRefused
from persona.intents import Intent
from serving import protocol
from serving.job_frames import JobFeed, artifact_frame, job_frame
from serving.sessions import Session, SessionHub

log = logging.getLogger(__name__)

# Which gateway holds a connection (host and process), in the WebSocket handshake's response:
# behind a proxy with many replicas, operators (and the tests) can tell which one a fan is on.
GATEWAY_ID = f"{socket.gethostname()}:{os.getpid()}".encode()
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
REFUSED_PIECES: dict[str, protocol.ErrorCode] = {"queue_full": "busy", "quota": "quota", "closed": "unavailable"}  # the job runner's refusals


class Outbox:
    """Frames waiting for one fan's connection: bounded, with one sender taking them.
    (asyncio.Queue does the same with more bookkeeping, and this runs for every token.)"""

    def __init__(self, limit: int):
        self.limit = limit
        self.frames: deque[str] = deque()
        self._waiter: asyncio.Future | None = None

    def put(self, text: str) -> bool:
        """False when `limit` frames are already waiting."""
        if len(self.frames) >= self.limit:
            return False
        self.frames.append(text)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return True

    async def take_all(self) -> list[str]:
        while not self.frames:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        taken = list(self.frames)
        self.frames.clear()
        return taken


class ChatConnection:
    def __init__(self, websocket: WebSocket, service: ChatService, hub: SessionHub, caps: ConnectionCaps, feed: JobFeed):
        self.ws = websocket
        self.service = service  # the engine's: settings, runtime, the turn routine, metrics
        self.hub = hub
        self.caps = caps
        self.feed = feed
        self.settings = service.settings.serving
        self.outbox = Outbox(self.settings.send_queue_frames)
        self.session: Session | None = None
        self.stalled = False

    # ---- sending ---------------------------------------------------------------------------

    def _enqueue(self, text: str) -> None:
        if self.stalled:
            return
        if not self.outbox.put(text):  # a fan who stopped reading: let go of them, not of everyone
            self.stalled = True
            self.service.metrics.slow_clients.inc()
            asyncio.get_running_loop().create_task(self._close(TRY_AGAIN_LATER, "client too slow"))

    async def _sender(self) -> None:
        while True:
            frames = await self.outbox.take_all()
            for text in frames:
                await self.ws.send_text(text)
            self.service.metrics.frames_sent.inc(len(frames))

    async def _close(self, code: int, reason: str) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await self.ws.close(code, reason)
            except (RuntimeError, WebSocketDisconnect, OSError):
                pass

    async def _refuse(self, code: protocol.ErrorCode, message: str, close_code: int) -> None:
        """An error frame (seq 0: before a session exists), then the close."""
        await self.ws.send_text(protocol.Error(seq=0, code=code, message=message).model_dump_json())
        await self._close(close_code, code)

    # ---- the connection --------------------------------------------------------------------

    async def run(self) -> None:
        address = self.ws.client.host if self.ws.client else "unknown"
        await self.ws.accept(headers=[(b"x-atelier-gateway", GATEWAY_ID)])
        if not self.caps.acquire(address):
            await self._refuse("busy", f"too many connections from {address}; close one and retry", TRY_AGAIN_LATER)
            return
        sender = None
        try:
            if not await self._hello():
                return
            sender = asyncio.create_task(self._sender())
            await self._serve()
        except WebSocketDisconnect:
            pass
        finally:
            self.caps.release(address)
            if self.session is not None and self.session.listener == self._enqueue:
                self.session.listener = None
                self.session.detached_at = time.monotonic()
            if sender is not None:  # frames still queued are in the session's ring, for a resume
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    async def _hello(self) -> bool:
        """Read and check `hello`, then attach to a session; False when refused (and closed)."""
        try:
            raw = await asyncio.wait_for(self._receive(), self.settings.hello_timeout_s)
            frame = protocol.parse_client_frame(raw)
        except TimeoutError:
            await self._refuse("bad_frame", f"no hello within {self.settings.hello_timeout_s:g} s", POLICY_VIOLATION)
            return False
        except protocol.ProtocolError as error:
            await self._refuse(error.code, str(error), POLICY_VIOLATION)
            return False
        if not isinstance(frame, protocol.Hello):
            await self._refuse("bad_frame", f"the first frame must be hello, not {frame.type}", POLICY_VIOLATION)
            return False
        if frame.protocol != protocol.PROTOCOL_VERSION:
            await self._refuse("bad_frame", f"this server speaks protocol {protocol.PROTOCOL_VERSION}, not {frame.protocol}", POLICY_VIOLATION)
            return False
        try:
            fan_id = self.service.authenticate(frame.token)
        except TurnRefused as refused:
            await self._refuse(refused.code, str(refused), POLICY_VIOLATION)
            return False
        persona = self.service.runtime.persona
        if frame.persona != persona.id:
            await self._refuse("not_found", f"this server hosts persona {persona.id!r}, not {frame.persona!r}", POLICY_VIOLATION)
            return False
        try:
            await self._attach(fan_id, frame.resume, "jobs" in frame.accepts)
        except TurnRefused as refused:  # her memory of the fan cannot be read
            await self._refuse(refused.code, str(refused), TRY_AGAIN_LATER)
            return False
        return True

    async def _attach(self, fan_id: str, resume: protocol.ResumePoint | None, accepts_jobs: bool) -> None:
        hub, director = self.hub, self.service.runtime.director
        missed: list[str] = []
        cut_off = False
        live = hub.live(resume.session) if resume is not None else None
        if live is not None and live.fan_id == fan_id:
            self.session = live
            missed = live.missed(resume.last_seq)
            if missed is None:  # the ring no longer reaches back: the durable log does
                missed = live.log.frames_after(live.id, resume.last_seq)
        else:
            chat = await self.service.open_chat(fan_id, recent_turns=self.service.settings.memory.recent_turns)
            # A session of this fan's from before a restart, else a new one (never another fan's).
            restored = hub.restore(resume.session, chat, resume.last_seq) if resume is not None and live is None else None
            if restored is not None:
                self.session, missed, cut_off = restored
            else:
                self.session = hub.create(chat)
        session = self.session
        session.accepts_jobs = accepts_jobs
        # No await from here on: the missed frames, then `ready`, then live frames, in seq order.
        for text in missed:
            self._enqueue(text)
        session.listener = self._enqueue  # an older connection to this session stops receiving
        session.emit(protocol.Ready(seq=0, session=session.id, fan=fan_id, persona=self.service.runtime.persona.id,
                                    greeting=director.greeting(), resumed=resume is not None and session.id == resume.session))
        if cut_off:
            session.emit(protocol.Error(seq=0, code="cut_off", message="the reply you were reading was cut off when its server went away; send that message again with the same id"))
        self.feed.at_hello(session, missed)

    async def _receive(self) -> str | bytes:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return message["text"] if message.get("text") is not None else message.get("bytes", b"")

    async def _serve(self) -> None:
        while not self.stalled:
            try:
                raw = await asyncio.wait_for(self._receive(), self.settings.idle_timeout_s)
            except TimeoutError:
                if self.session.turn_task is not None and not self.session.turn_task.done():
                    continue  # a fan reading a long reply is not idle
                await self._close(1000, "idle")
                return
            try:
                frame = protocol.parse_client_frame(raw)
            except protocol.ProtocolError as error:
                self.service.metrics.bad_frames.inc()
                self.session.emit(protocol.Error(seq=0, code=error.code, message=str(error)))
                continue
            if isinstance(frame, protocol.Ping):
                self.session.emit(protocol.Pong(seq=0, nonce=frame.nonce))
            elif isinstance(frame, protocol.Hello):
                self.session.emit(protocol.Error(seq=0, code="bad_frame", message="hello was already received on this connection"))
            elif isinstance(frame, protocol.Interrupt):
                self._interrupt(frame)
            elif isinstance(frame, protocol.Create):
                self._create(frame)
            elif isinstance(frame, protocol.Cancel):
                self._cancel(frame)
            else:
                self._start_turn(frame)

    def _interrupt(self, frame: protocol.Interrupt) -> None:
        session = self.session
        task = session.turn_task
        if task is None or task.done() or frame.turn != session.turns:
            session.emit(protocol.Error(seq=0, code="not_found", message=f"turn {frame.turn} is not being answered", turn=frame.turn))
            return
        self.service.runtime.director.interrupt(session.chat, frame.heard)
        task.cancel()

    def _create(self, frame: protocol.Create) -> None:
        """A piece asked for outright (a UI button): a job, with no turn for her to answer."""
        session = self.session
        commissions = self.service.runtime.director.commissions
        jobs = self.service.runtime.jobs
        asked = next((job for job in jobs.jobs(session.fan_id) if job.request == frame.id), None) if jobs is not None else None
        if asked is not None:  # a resend: where its job stands now
            session.emit(job_frame(asked))
            return
        try:
            self.service.admit(session.fan_id)
        except TurnRefused as refused:
            session.emit(protocol.Error(seq=0, code=refused.code, message=str(refused)))
            return
        if commissions is None or not session.accepts_jobs:
            why = "she makes no pieces on this server (creations.enabled is false)" if commissions is None else 'say hello with accepts: ["jobs"] to ask for pieces'
            session.emit(protocol.Error(seq=0, code="unavailable" if commissions is None else "bad_frame", message=why))
            return
        from persona.commissions import facts_of  # the pipelines load with the first piece asked for

        intent = Intent(kind=frame.kind, brief=frame.brief.strip(), confidence=1.0, source="client")
        order = commissions.order(session.fan_id, facts_of(session.chat.fan), intent, request=frame.id)
        if order.job is None:
            session.emit(protocol.Error(seq=0, code=REFUSED_PIECES[order.refused], message=order.answer))

    def _cancel(self, frame: protocol.Cancel) -> None:
        jobs = self.service.runtime.jobs
        if jobs is None or not jobs.cancel(frame.job, owner=self.session.fan_id):
            self.session.emit(protocol.Error(seq=0, code="not_found", message=f"job {frame.job} is not yours or has already ended"))

    def _start_turn(self, frame: protocol.Message) -> None:
        session = self.session
        try:
            self.service.admit(session.fan_id)
        except TurnRefused as refused:
            session.emit(protocol.Error(seq=0, code=refused.code, message=str(refused)))
            return
        if frame.id in session.running:
            return  # a resend while its reply is streaming: the reply is coming
        repeated = session.log.reply_to(session.fan_id, frame.id)
        if repeated is not None:
            end = protocol.End.model_validate_json(repeated)
            session.emit(end.model_copy(update={"repeated": True}), message_id=frame.id)
            return
        if session.turn_task is not None and not session.turn_task.done():
            session.emit(protocol.Error(seq=0, code="busy", message="she is still answering; wait for end, or interrupt"))
            return
        turn = session.start_turn(frame.id)
        session.turn_task = asyncio.get_running_loop().create_task(run_turn(self.service, session, frame, turn))


async def run_turn(service: ChatService, session: Session, frame: protocol.Message, turn: int) -> None:
    """Stream one reply as deltas; `end` goes out after the director has committed the turn."""
    reply = service.turn(session.chat, frame.text, request=frame.id)
    try:
        try:
            async for piece in reply:
                session.emit_delta(turn, piece)
        except asyncio.CancelledError:
            await reply.aclose()  # commits what the fan heard, marked as interrupted
        result = session.chat.last_turn
        usage = protocol.Usage(prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens, cached_tokens=result.usage.cached_tokens)
        session.emit(protocol.End(seq=0, turn=turn, message_id=frame.id, text=result.text, usage=usage, interrupted=result.interrupted), message_id=frame.id)
        if result.sent is not None and session.accepts_jobs:  # "send me the song again", or one of her portfolio
            session.emit(artifact_frame(service, result.sent))
    except TurnRefused as refused:
        session.emit(protocol.Error(seq=0, code=refused.code, message=str(refused), turn=turn))
    finally:
        session.running.discard(frame.id)
