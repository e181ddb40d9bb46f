"""Chat sessions that outlive a connection: numbered frames, resume and idempotent messages.

A session belongs to one fan. Every frame sent in it gets the next ``seq`` and goes into a
ring in memory (for the resume window). What answers a turn (``end``, or an ``error`` of the
turn) also goes into a small SQLite log before it is sent, with the message id it answers,
and so does the start of each turn, so a reconnecting client gets what it missed even after
a server restart:

- same process: every missed frame, deltas included, from the ring;
- after a restart: the committed replies (``end``, with the whole text) from the log, and a
  ``cut_off`` error when a turn had started and never ended; sending that message again
  with the same id gets a fresh reply.
Pongs and errors about bad frames are not logged: nothing a client sends costs a disk write
unless it starts a turn.
A message id that already has an ``end`` gets that reply again (``repeated``), not a new one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from persona.director import ChatSession
from serving import protocol

SCHEMA_VERSION = 3  # the log only bridges a restart: an older one is dropped, not migrated
SCHEMA = """
drop table if exists sessions; drop table if exists frames; drop table if exists replies; drop table if exists held;
create table sessions (id text primary key, fan_id text not null, last_seq integer not null, started integer not null,
                       answered integer not null, touched real not null);
create table frames (session text not null, seq integer not null, frame text not null, at real not null, primary key (session, seq));
create table replies (fan_id text not null, message_id text not null, session text not null, seq integer not null, primary key (fan_id, message_id));
create table held (fan_id text not null, artifact_id text not null, job text, at real not null, primary key (fan_id, artifact_id));
"""
DURABLE_FRAMES = ("end", "error")  # an error is logged only when it ends a turn


class FrameLog:
    """The durable part: committed replies and errors, per session, for the resume window."""

    def __init__(self, path: Path, window_s: float):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.window_s = window_s
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("pragma journal_mode = wal")
        self.db.execute("pragma synchronous = normal")  # survives a killed process; a write costs no fsync on the event loop
        self.db.execute("pragma busy_timeout = 5000")
        if self.db.execute("pragma user_version").fetchone()[0] != SCHEMA_VERSION:
            self.db.executescript(f"begin immediate; {SCHEMA} pragma user_version = {SCHEMA_VERSION}; commit;")
        self.prune()

    def prune(self, now: float | None = None) -> None:
        cutoff = (now or time.time()) - self.window_s
        with self._lock:
            self.db.execute("begin immediate")
            self.db.execute("delete from frames where at < ?", (cutoff,))
            self.db.execute("delete from replies where session in (select id from sessions where touched < ?)", (cutoff,))
            self.db.execute("delete from sessions where touched < ?", (cutoff,))
            self.db.execute("commit")

    def start_turn(self, session: str, fan_id: str, turn: int, seq: int) -> None:
        with self._lock:
            self.db.execute(
                "insert into sessions values (?, ?, ?, ?, 0, ?) on conflict(id) do update set started = excluded.started, touched = excluded.touched",
                (session, fan_id, seq, turn, time.time()),
            )

    def record(self, session: str, fan_id: str, seq: int, turn: int, frame: str, message_id: str | None) -> None:
        """A frame that answers `turn` (and, for a reply, the message id it answers)."""
        now = time.time()
        with self._lock:
            self.db.execute("begin immediate")
            self.db.execute(
                "insert into sessions values (?, ?, ?, ?, ?, ?) on conflict(id) do update set last_seq = excluded.last_seq,"
                " answered = max(answered, excluded.answered), touched = excluded.touched",
                (session, fan_id, seq, turn, turn, now),
            )
            self.db.execute("insert into frames values (?, ?, ?, ?)", (session, seq, frame, now))
            if message_id is not None:
                self.db.execute("insert or replace into replies values (?, ?, ?, ?)", (fan_id, message_id, session, seq))
            self.db.execute("commit")

    def session(self, session: str) -> tuple[str, int, int, int] | None:
        """(fan id, last logged seq, turns started, turns answered) of a session still in the window."""
        with self._lock:
            return self.db.execute("select fan_id, last_seq, started, answered from sessions where id = ?", (session,)).fetchone()

    def frames_after(self, session: str, seq: int) -> list[str]:
        with self._lock:
            return [row[0] for row in self.db.execute("select frame from frames where session = ? and seq > ? order by seq", (session, seq))]

    def reply_to(self, fan_id: str, message_id: str) -> str | None:
        """The `end` frame that answered this fan's message id, if it is still in the window."""
        with self._lock:
            row = self.db.execute(
                "select f.frame from replies r join frames f on f.session = r.session and f.seq = r.seq where r.fan_id = ? and r.message_id = ?",
                (fan_id, message_id),
            ).fetchone()
        return row[0] if row else None

    def hold(self, fan_id: str, artifact_id: str, job: str | None) -> None:
        """A piece finished while its fan had no connection: it goes out at their next hello."""
        with self._lock:
            self.db.execute("insert or replace into held values (?, ?, ?, ?)", (fan_id, artifact_id, job, time.time()))

    def held(self, fan_id: str) -> list[tuple[str, str | None]]:
        """(artifact id, job id) of the fan's pieces waiting to be delivered, oldest first."""
        with self._lock:
            return list(self.db.execute("select artifact_id, job from held where fan_id = ? order by at", (fan_id,)))

    def delivered(self, fan_id: str, artifact_ids: list[str]) -> None:
        with self._lock:
            self.db.executemany("delete from held where fan_id = ? and artifact_id = ?", [(fan_id, artifact_id) for artifact_id in artifact_ids])

    def stream(self, session: str, seq: int, frame: str) -> None:
        """Every frame that does not answer a turn: this log keeps only what does (the ring keeps
        the rest); the Redis log (serving/redis_sessions.py) streams them all."""

    def close(self) -> None:
        self.db.close()


@dataclass
class Session:
    id: str
    chat: ChatSession  # owns the fan id
    log: FrameLog
    ring: deque = field(default_factory=lambda: deque(maxlen=4096))  # (seq, frame text)
    next_seq: int = 1
    turns: int = 0
    running: set[str] = field(default_factory=set)  # message ids being answered now
    turn_task: asyncio.Task | None = None
    listener: Callable[[str], None] | None = None  # the attached connection's queue
    detached_at: float = 0.0
    accepts_jobs: bool = False  # the client's hello accepts `job` and `artifact` frames

    @property
    def fan_id(self) -> str:
        return self.chat.fan_id

    def start_turn(self, message_id: str) -> int:
        self.turns += 1
        self.running.add(message_id)
        self.log.start_turn(self.id, self.fan_id, self.turns, self.next_seq - 1)
        return self.turns

    def emit(self, frame: protocol.Frame, message_id: str | None = None) -> str:
        """Number the frame, keep it for resume (durably when it answers a turn), hand it to the connection."""
        data = frame.model_dump()
        data["seq"] = self.next_seq
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self.next_seq += 1
        self.ring.append((data["seq"], text))
        if data["type"] in DURABLE_FRAMES and data.get("turn") is not None:
            self.log.record(self.id, self.fan_id, data["seq"], data["turn"], text, message_id)
        else:
            self.log.stream(self.id, data["seq"], text)
        if self.listener is not None:
            self.listener(text)
        return text

    def emit_delta(self, turn: int, text: str) -> None:
        """`emit` for the frame sent most, written directly: a delta never answers a turn, and
        building and dumping a model for every sentence would be most of its cost."""
        seq = self.next_seq
        self.next_seq += 1
        frame = f'{{"type":"delta","seq":{seq},"turn":{turn},"text":{json.dumps(text, ensure_ascii=False)}}}'
        self.ring.append((seq, frame))
        self.log.stream(self.id, seq, frame)
        if self.listener is not None:
            self.listener(frame)

    def missed(self, last_seq: int) -> list[str] | None:
        """Frames after `last_seq` from the ring; None when the ring no longer reaches back."""
        if last_seq >= self.next_seq - 1:
            return []
        if not self.ring or self.ring[0][0] > last_seq + 1:
            return None
        return [text for seq, text in self.ring if seq > last_seq]


class SessionHub:
    """Live sessions by id, for the resume window after their connection goes."""

    def __init__(self, log: FrameLog):
        self.log = log
        self.sessions: dict[str, Session] = {}

    def create(self, chat: ChatSession) -> Session:
        session = Session(id=secrets.token_urlsafe(12), chat=chat, log=self.log)
        self.sessions[session.id] = session
        return session

    def of_fan(self, fan_id: str) -> list[Session]:
        return [session for session in self.sessions.values() if session.fan_id == fan_id]

    def live(self, session_id: str) -> Session | None:
        self.expire()
        return self.sessions.get(session_id)

    def restore(self, session_id: str, chat: ChatSession, last_seq: int) -> tuple[Session, list[str], bool] | None:
        """A session of `chat`'s fan from the durable log after a restart: (session, missed frames, cut off)."""
        known = self.log.session(session_id)
        if known is None or known[0] != chat.fan_id:
            return None
        _, logged_seq, started, answered = known
        session = Session(id=session_id, chat=chat, log=self.log, next_seq=max(logged_seq, last_seq) + 1, turns=started)
        self.sessions[session_id] = session
        return session, self.log.frames_after(session_id, last_seq), started > answered

    def expire(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        for session_id, session in list(self.sessions.items()):
            idle = session.listener is None and (session.turn_task is None or session.turn_task.done())
            if idle and now - session.detached_at > self.log.window_s:
                del self.sessions[session_id]
