"""The embedded memory store: one SQLite file in WAL mode, vectors in a sqlite-vec ``vec0``
table whose partition key is the fan id.

Python's own ``sqlite3`` here cannot load extensions, so the store uses ``apsw``.
Writes take the write lock up front (``BEGIN IMMEDIATE``) and wait up to the busy
timeout, so two processes writing the same file queue instead of failing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from persona.memory.records import Author, Memory, MemoryStoreError, MemoryKind, NewMemory, check_fan_id
from persona.memory.store import SCHEMA_VERSION, Job, MemoryStore, ScoredMemory, authors_for

CANON_PARTITION = "*canon"  # no fan id can start with '*'
BUSY_TIMEOUT_MS = 10_000
NO_EMBARGO = 0  # embargo days are date ordinals; 0 means none

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """create table memories (
            id integer primary key,
            fan_id text not null,
            kind text not null,
            author text not null,
            text text not null,
            importance real not null,
            key text not null default '',
            embargo_day integer not null default 0,
            created_at text not null
        )""",
        "create index memories_by_fan on memories(fan_id, id)",
        """create virtual table memory_vectors using vec0(
            memory_id integer primary key,
            fan_id text partition key,
            kind text,
            embargo_day integer,
            embedding float[{dimension}] distance_metric=cosine
        )""",
    ],
    2: [
        "create table fan_state (fan_id text primary key, state text not null, updated_at text not null)",
        "create table jobs (id integer primary key, fan_id text not null, kind text not null, payload text not null, created_at text not null)",
        "create index jobs_by_fan on jobs(fan_id, id)",
    ],
    3: [],  # a PostgreSQL-only change; the version numbers of both stores stay the same
}


class SQLiteStore(MemoryStore):
    failures = (apsw.Error,)

    def __init__(self, path: str | Path, dimension: int = 384):
        self.path = str(path)
        self.dimension = dimension
        try:
            self.db = apsw.Connection(self.path)
            self.db.set_busy_timeout(BUSY_TIMEOUT_MS)
            self.db.enable_load_extension(True)
            self.db.load_extension(sqlite_vec.loadable_path())
            self.db.enable_load_extension(False)
            self.db.execute("pragma journal_mode = wal")
            self.db.execute("pragma synchronous = normal")
            self._migrate()
        except apsw.NotADBError:
            raise MemoryStoreError(f"{self.path} is not a SQLite database (corrupted or another file); move it aside to start a new memory store") from None
        except apsw.CorruptError as error:
            raise MemoryStoreError(f"{self.path} is corrupted ({error}); restore it from a backup or move it aside") from None

    # --- schema ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        self.db.execute("begin immediate")
        try:
            version = self.db.execute("pragma user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise MemoryStoreError(f"{self.path} has schema version {version}, newer than this Atelier supports ({SCHEMA_VERSION}); upgrade Atelier")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    self.db.execute(statement.format(dimension=self.dimension))
                self.db.execute(f"pragma user_version = {target}")
            self.db.execute("commit")
        except BaseException:
            self.db.execute("rollback")
            raise

    # --- writes ----------------------------------------------------------------------------

    def add(self, memories: list[NewMemory], vectors: np.ndarray, author: Author | list[Author]) -> list[Memory]:
        return self._write(memories, vectors, author, replace_canon=False)

    def replace_canon(self, memories: list[NewMemory], vectors: np.ndarray, author: Author = Author.OPERATOR) -> list[Memory]:
        return self._write(memories, vectors, Author(author), replace_canon=True)

    def canon_version(self) -> tuple[int, int]:
        count, newest = self.db.execute("select count(*), coalesce(max(id), 0) from memories where fan_id = ?", (CANON_PARTITION,)).fetchone()
        return count, newest

    def canon_index(self) -> tuple[list[Memory], np.ndarray]:
        with self.db:  # one snapshot: a canon replaced in between by another process cannot mix in
            memories = [_memory(row) for row in self.db.execute(f"select {_COLUMNS} from memories where fan_id = ? order by id", (CANON_PARTITION,))]
            stored = dict(self.db.execute("select memory_id, embedding from memory_vectors where fan_id = ?", (CANON_PARTITION,)))
        vectors = np.frombuffer(b"".join(stored[memory.id] for memory in memories), dtype=np.float32)
        return memories, vectors.reshape(len(memories), self.dimension)

    def _write(self, memories: list[NewMemory], vectors: np.ndarray, author: Author | list[Author], replace_canon: bool) -> list[Memory]:
        authors = authors_for(memories, author)
        for memory in memories:
            if replace_canon and memory.kind is not MemoryKind.CANON:
                raise MemoryStoreError(f"replace_canon takes canon memories only, got a {memory.kind.value} memory")
        vectors = self._check_vectors(vectors, len(memories))
        now = dt.datetime.now(dt.timezone.utc)
        stored = []
        self.db.execute("begin immediate")
        try:
            if replace_canon:
                old = [row[0] for row in self.db.execute("select id from memories where fan_id = ? and author = ?", (CANON_PARTITION, author.value))]
                self.db.execute("delete from memories where fan_id = ? and author = ?", (CANON_PARTITION, author.value))
                self.db.execute("delete from memory_vectors where memory_id in (select value from json_each(?))", (_json_ids(old),))
            for memory, vector, author in zip(memories, vectors, authors):
                partition = memory.fan_id or CANON_PARTITION
                embargo = memory.embargo_until.toordinal() if memory.embargo_until else NO_EMBARGO
                self.db.execute(
                    "insert into memories (fan_id, kind, author, text, importance, key, embargo_day, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    (partition, memory.kind.value, author.value, memory.text, memory.importance, memory.key, embargo, now.isoformat()),
                )
                memory_id = self.db.last_insert_rowid()
                self.db.execute(
                    "insert into memory_vectors (memory_id, fan_id, kind, embargo_day, embedding) values (?, ?, ?, ?, ?)",
                    (memory_id, partition, memory.kind.value, embargo, vector.tobytes()),
                )
                stored.append(Memory(**memory.model_dump(), id=memory_id, author=author, created_at=now))
            self.db.execute("commit")
        except BaseException:
            self.db.execute("rollback")
            raise
        return stored

    def delete(self, fan_id: str, memory_ids: list[int]) -> int:
        check_fan_id(fan_id)
        return self._delete_where("fan_id = ? and id in (select value from json_each(?))", (fan_id, _json_ids(memory_ids)))

    def forget_fan(self, fan_id: str) -> int:
        check_fan_id(fan_id)
        return self._delete_where("fan_id = ?", (fan_id,), everything=True)

    def _delete_where(self, condition: str, parameters: tuple, everything: bool = False) -> int:
        self.db.execute("begin immediate")
        try:
            ids = [row[0] for row in self.db.execute(f"select id from memories where {condition}", parameters)]
            self.db.execute(f"delete from memories where {condition}", parameters)
            self.db.execute("delete from memory_vectors where memory_id in (select value from json_each(?))", (_json_ids(ids),))
            if everything:
                self.db.execute(f"delete from fan_state where {condition}", parameters)
                self.db.execute(f"delete from jobs where {condition}", parameters)
            self.db.execute("commit")
        except BaseException:
            self.db.execute("rollback")
            raise
        return len(ids)

    # --- reads -----------------------------------------------------------------------------

    def search(self, fan_id: str, vector: np.ndarray, k: int, kinds: set[MemoryKind] | None = None) -> list[ScoredMemory]:
        check_fan_id(fan_id)
        query = self._check_vectors(vector.reshape(1, -1), 1)[0].tobytes()
        kinds = set(MemoryKind) if kinds is None else kinds
        nearest = self.db.execute(
            "select memory_id, distance from memory_vectors where embedding match ? and k = ? and fan_id = ? "
            "and kind in (select value from json_each(?)) order by distance",
            (query, k, fan_id, _json_list(sorted(kind.value for kind in kinds))),
        ).fetchall()
        memories = {memory.id: memory for memory in self._load([memory_id for memory_id, _ in nearest])}
        return [ScoredMemory(memories[memory_id], 1.0 - distance) for memory_id, distance in nearest]

    def recent(self, fan_id: str, limit: int, kinds: set[MemoryKind] | None = None) -> list[Memory]:
        check_fan_id(fan_id)
        kinds = set(MemoryKind) - {MemoryKind.CANON} if kinds is None else kinds
        rows = self.db.execute(
            f"select {_COLUMNS} from memories where fan_id = ? and kind in (select value from json_each(?)) order by id desc limit ?",
            (fan_id, _json_list(sorted(kind.value for kind in kinds)), limit),
        ).fetchall()
        return [_memory(row) for row in reversed(rows)]

    def persona_replies(self, limit: int, fan_id: str | None = None) -> list[str]:
        if limit < 1:
            raise MemoryStoreError(f"limit must be at least 1, got {limit}")
        where, parameters = ("fan_id = ? and ", (check_fan_id(fan_id),)) if fan_id is not None else ("", ())
        rows = self.db.execute(
            f"select text from memories where {where}kind = ? and author = ? order by id desc limit ?",
            (*parameters, MemoryKind.EPISODIC.value, Author.PERSONA.value, limit),
        ).fetchall()
        return [text for (text,) in reversed(rows)]

    def export_fan(self, fan_id: str) -> list[Memory]:
        check_fan_id(fan_id)
        return [_memory(row) for row in self.db.execute(f"select {_COLUMNS} from memories where fan_id = ? order by id", (fan_id,))]

    def _load(self, memory_ids: list[int]) -> list[Memory]:
        rows = self.db.execute(f"select {_COLUMNS} from memories where id in (select value from json_each(?))", (_json_ids(memory_ids),))
        return [_memory(row) for row in rows]

    def _check_vectors(self, vectors: np.ndarray, count: int) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (count, self.dimension):
            raise MemoryStoreError(f"expected {count} vectors of dimension {self.dimension}, got an array of shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise MemoryStoreError("vectors must be finite numbers")
        return vectors

    # --- fan state and jobs ---------------------------------------------------------------

    def get_state(self, fan_id: str) -> dict[str, Any]:
        check_fan_id(fan_id)
        row = self.db.execute("select state from fan_state where fan_id = ?", (fan_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def put_state(self, fan_id: str, state: dict[str, Any]) -> None:
        check_fan_id(fan_id)
        self.db.execute(
            "insert into fan_state (fan_id, state, updated_at) values (?, ?, ?) "
            "on conflict (fan_id) do update set state = excluded.state, updated_at = excluded.updated_at",
            (fan_id, json.dumps(state), dt.datetime.now(dt.timezone.utc).isoformat()),
        )

    def enqueue(self, fan_id: str, kind: str, payload: dict[str, Any]) -> int:
        check_fan_id(fan_id)
        self.db.execute(
            "insert into jobs (fan_id, kind, payload, created_at) values (?, ?, ?, ?)",
            (fan_id, kind, json.dumps(payload), dt.datetime.now(dt.timezone.utc).isoformat()),
        )
        return self.db.last_insert_rowid()

    def pending_jobs(self, limit: int = 100) -> list[Job]:
        rows = self.db.execute("select id, fan_id, kind, payload from jobs order by id limit ?", (limit,))
        return [Job(job_id, fan_id, kind, json.loads(payload)) for job_id, fan_id, kind, payload in rows]

    def finish_job(self, job_id: int) -> None:
        self.db.execute("delete from jobs where id = ?", (job_id,))

    def close(self) -> None:
        self.db.close()


_COLUMNS = "id, fan_id, kind, author, text, importance, key, embargo_day, created_at"


def _memory(row: tuple) -> Memory:
    memory_id, fan_id, kind, author, text, importance, key, embargo_day, created_at = row
    return Memory(
        id=memory_id,
        fan_id=None if fan_id == CANON_PARTITION else fan_id,
        kind=MemoryKind(kind),
        author=Author(author),
        text=text,
        importance=importance,
        key=key,
        embargo_until=dt.date.fromordinal(embargo_day) if embargo_day != NO_EMBARGO else None,
        created_at=dt.datetime.fromisoformat(created_at),
    )


def _json_ids(ids: list[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def _json_list(values: list[str]) -> str:
    return json.dumps(values)
