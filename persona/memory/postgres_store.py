"""The cluster memory store: PostgreSQL + pgvector.

One table holds every memory; the fan id is the partition key of every query, bound as a
parameter, and canon lives under its own partition value that no fan id can take (recall
reads it whole and ranks it in memory). Search is exact within a fan's partition: the fan
index (fan_id, id) carries each row's kind, embargo and vector, so one index-only range scan
ranks all of a fan's memories; recall is 1.0 and latency grows with one fan's memories, not
with the total. An HNSW index (schema versions 1-2) was
dropped: with 10k memories for one fan among 120k, its filtered iterative scan found 84% of
the true top 10 at about the same p50, and keeping it up to date made writes five times
slower (bench/memory.py).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from persona.memory.records import Author, Memory, MemoryStoreError, MemoryKind, NewMemory, check_fan_id
from persona.memory.store import SCHEMA_VERSION, Job, MemoryStore, ScoredMemory, authors_for

CANON = "*canon"  # the canon partition: '*' cannot start a fan id, so no fan can reach it
MIGRATION_LOCK = 0x41_74_65_6C  # "Atel": serialises schema changes between processes

# Version -> statements that bring the schema from the previous version to this one.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE atelier_memories (
            id bigserial PRIMARY KEY,
            fan_id text NOT NULL,  -- '*canon' for canon
            kind text NOT NULL,
            author text NOT NULL,
            text text NOT NULL,
            importance double precision NOT NULL,  -- not real: a float4 would not round-trip 0.3
            key text NOT NULL DEFAULT '',
            embargo_until date,
            created_at timestamptz NOT NULL DEFAULT now(),
            embedding vector({dimension}) NOT NULL
        )""",
        "CREATE INDEX atelier_memories_fan ON atelier_memories (fan_id, id)",
        "CREATE INDEX atelier_memories_embedding ON atelier_memories USING hnsw (embedding vector_cosine_ops)",
    ],
    2: [
        "CREATE TABLE atelier_fan_state (fan_id text PRIMARY KEY, state jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
        """CREATE TABLE atelier_jobs (
            id bigserial PRIMARY KEY, fan_id text NOT NULL, kind text NOT NULL, payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX atelier_jobs_fan ON atelier_jobs (fan_id, id)",
    ],
    3: [  # exact search within a fan's partition, read from the fan index alone
        "DROP INDEX IF EXISTS atelier_memories_embedding",
        "DROP INDEX atelier_memories_fan",
        "CREATE INDEX atelier_memories_fan ON atelier_memories (fan_id, id) INCLUDE (kind, embargo_until, embedding)",
        # Index-only scans need the visibility map; vacuum after 2% new rows, not pgvector's 20%.
        "ALTER TABLE atelier_memories SET (autovacuum_vacuum_insert_scale_factor = 0.02)",
    ],
}

COLUMNS = "id, fan_id, kind, author, text, importance, key, embargo_until, created_at"
# The nearest ids come from an index-only scan of the fan index (it holds the vectors); only
# the k winners are read from the table.
NEAREST_SQL = (
    "SELECT {columns}, nearest.distance FROM ("
    "SELECT id, embedding <=> %s::vector AS distance FROM atelier_memories WHERE {{where}} ORDER BY distance LIMIT %s"
    ") nearest JOIN atelier_memories USING (id) ORDER BY nearest.distance"
).format(columns=COLUMNS)


class PostgresStore(MemoryStore):
    """Memories in PostgreSQL with pgvector. One connection, explicit transactions; methods
    may be called from several threads (they take turns)."""

    failures = (psycopg.Error,)

    def __init__(self, dsn: str, dimension: int = 384) -> None:
        self.dimension = dimension
        self._lock = threading.Lock()
        try:
            self._conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as error:
            raise MemoryStoreError(f"cannot connect to PostgreSQL at {redact(dsn)!r}: {error}".strip()) from None
        try:
            self._migrate()
        except psycopg.Error as error:  # most often: pgvector is not installed on the server
            self._conn.close()
            raise MemoryStoreError(f"cannot set up the memory schema at {redact(dsn)!r}: {error}".strip()) from error
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        with self._transaction() as cur:
            # A transaction-level lock: two processes opening an empty database take turns,
            # and the lock goes away with the transaction even if we crash mid-migration.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("SET TIME ZONE 'UTC'")  # session-wide: created_at comes back in UTC
            cur.execute("CREATE TABLE IF NOT EXISTS atelier_meta (key text PRIMARY KEY, value text NOT NULL)")
            row = cur.execute("SELECT value FROM atelier_meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise MemoryStoreError(f"the database's memory schema version {version} is newer than this Atelier supports ({SCHEMA_VERSION}); upgrade Atelier")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    cur.execute(statement.format(dimension=self.dimension))
            if version < SCHEMA_VERSION:
                cur.execute(
                    "INSERT INTO atelier_meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
            stored = cur.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'atelier_memories'::regclass AND attname = 'embedding'"
            ).fetchone()[0]
            if stored != self.dimension:
                raise MemoryStoreError(f"the database stores {stored}-dimensional vectors but the store was opened with dimension={self.dimension}")

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    def add(self, memories: list[NewMemory], vectors: np.ndarray, author: Author | list[Author]) -> list[Memory]:
        return self._write(memories, vectors, author, replace_canon=False)

    def replace_canon(self, memories: list[NewMemory], vectors: np.ndarray, author: Author = Author.OPERATOR) -> list[Memory]:
        return self._write(memories, vectors, Author(author), replace_canon=True)

    def canon_version(self) -> tuple[int, int]:
        with self._transaction() as cur:
            count, newest = cur.execute("SELECT count(*), coalesce(max(id), 0) FROM atelier_memories WHERE fan_id = %s", (CANON,)).fetchone()
        return int(count), int(newest)

    def canon_index(self) -> tuple[list[Memory], np.ndarray]:
        with self._transaction() as cur:
            rows = cur.execute(f"SELECT {COLUMNS}, embedding::text FROM atelier_memories WHERE fan_id = %s ORDER BY id", (CANON,)).fetchall()
        vectors = np.array([json.loads(row[-1]) for row in rows], dtype=np.float32)  # '[0.1,...]' is a JSON array
        return [_memory(row) for row in rows], vectors.reshape(len(rows), self.dimension)

    def _write(self, memories: list[NewMemory], vectors: np.ndarray, author: Author | list[Author], replace_canon: bool) -> list[Memory]:
        authors = authors_for(memories, author)  # every check first: one bad memory and nothing is written
        for memory in memories:
            if replace_canon and memory.kind is not MemoryKind.CANON:
                raise MemoryStoreError(f"replace_canon takes canon memories only, got a {memory.kind.value} memory")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(memories), self.dimension):
            raise MemoryStoreError(f"expected {len(memories)} vectors of dimension {self.dimension}, got an array of shape {vectors.shape}")
        rows = [
            (m.fan_id or CANON, m.kind.value, a.value, m.text, m.importance, m.key, m.embargo_until, self._literal(v))
            for m, v, a in zip(memories, vectors, authors)
        ]
        with self._transaction() as cur:
            if replace_canon:
                cur.execute("DELETE FROM atelier_memories WHERE fan_id = %s AND author = %s", (CANON, author.value))
            if not rows:
                return []
            cur.executemany(
                "INSERT INTO atelier_memories (fan_id, kind, author, text, importance, key, embargo_until, embedding)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s::vector) RETURNING {COLUMNS}",
                rows,
                returning=True,
            )
            stored = []
            while True:
                stored.append(_memory(cur.fetchone()))
                if not cur.nextset():
                    return stored

    def search(self, fan_id: str, vector: np.ndarray, k: int, kinds: set[MemoryKind] | None = None) -> list[ScoredMemory]:
        check_fan_id(fan_id)
        if k < 1:
            raise MemoryStoreError(f"k must be at least 1, got {k}")
        query = self._literal(np.asarray(vector, dtype=np.float32).reshape(-1))
        with self._transaction() as cur:
            if kinds is None:
                rows = cur.execute(NEAREST_SQL.format(where="fan_id = %s"), (query, fan_id, k)).fetchall()
            else:
                values = [kind.value for kind in kinds]
                rows = cur.execute(NEAREST_SQL.format(where="fan_id = %s AND kind = ANY(%s)"), (query, fan_id, values, k)).fetchall()
        return [ScoredMemory(_memory(row), 1.0 - float(row[-1])) for row in rows]

    def recent(self, fan_id: str, limit: int, kinds: set[MemoryKind] | None = None) -> list[Memory]:
        check_fan_id(fan_id)
        if limit < 1:
            raise MemoryStoreError(f"limit must be at least 1, got {limit}")
        with self._transaction() as cur:
            if kinds is None:
                cur.execute(f"SELECT {COLUMNS} FROM atelier_memories WHERE fan_id = %s ORDER BY id DESC LIMIT %s", (fan_id, limit))
            else:
                values = [kind.value for kind in kinds]
                cur.execute(
                    f"SELECT {COLUMNS} FROM atelier_memories WHERE fan_id = %s AND kind = ANY(%s) ORDER BY id DESC LIMIT %s",
                    (fan_id, values, limit),
                )
            return [_memory(row) for row in reversed(cur.fetchall())]

    def delete(self, fan_id: str, memory_ids: list[int]) -> int:
        check_fan_id(fan_id)
        if not memory_ids:
            return 0
        with self._transaction() as cur:
            cur.execute("DELETE FROM atelier_memories WHERE fan_id = %s AND id = ANY(%s::bigint[])", (fan_id, [int(i) for i in memory_ids]))
            return cur.rowcount

    def persona_replies(self, limit: int, fan_id: str | None = None) -> list[str]:
        if limit < 1:
            raise MemoryStoreError(f"limit must be at least 1, got {limit}")
        where, parameters = ("fan_id = %s AND ", (check_fan_id(fan_id),)) if fan_id is not None else ("", ())
        with self._transaction() as cur:
            cur.execute(
                f"SELECT text FROM atelier_memories WHERE {where}kind = %s AND author = %s ORDER BY id DESC LIMIT %s",
                (*parameters, MemoryKind.EPISODIC.value, Author.PERSONA.value, limit),
            )
            return [text for (text,) in reversed(cur.fetchall())]

    def export_fan(self, fan_id: str) -> list[Memory]:
        check_fan_id(fan_id)
        with self._transaction() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM atelier_memories WHERE fan_id = %s ORDER BY id", (fan_id,))
            return [_memory(row) for row in cur.fetchall()]

    def forget_fan(self, fan_id: str) -> int:
        check_fan_id(fan_id)
        with self._transaction() as cur:
            cur.execute("DELETE FROM atelier_memories WHERE fan_id = %s", (fan_id,))
            forgotten = cur.rowcount
            cur.execute("DELETE FROM atelier_fan_state WHERE fan_id = %s", (fan_id,))
            cur.execute("DELETE FROM atelier_jobs WHERE fan_id = %s", (fan_id,))
            return forgotten

    def get_state(self, fan_id: str) -> dict[str, Any]:
        check_fan_id(fan_id)
        with self._transaction() as cur:
            row = cur.execute("SELECT state FROM atelier_fan_state WHERE fan_id = %s", (fan_id,)).fetchone()
            return row[0] if row else {}

    def put_state(self, fan_id: str, state: dict[str, Any]) -> None:
        check_fan_id(fan_id)
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO atelier_fan_state (fan_id, state) VALUES (%s, %s) "
                "ON CONFLICT (fan_id) DO UPDATE SET state = excluded.state, updated_at = now()",
                (fan_id, Jsonb(state)),
            )

    def enqueue(self, fan_id: str, kind: str, payload: dict[str, Any]) -> int:
        check_fan_id(fan_id)
        with self._transaction() as cur:
            return cur.execute("INSERT INTO atelier_jobs (fan_id, kind, payload) VALUES (%s, %s, %s) RETURNING id", (fan_id, kind, Jsonb(payload))).fetchone()[0]

    def pending_jobs(self, limit: int = 100) -> list[Job]:
        with self._transaction() as cur:
            rows = cur.execute("SELECT id, fan_id, kind, payload FROM atelier_jobs ORDER BY id LIMIT %s", (limit,)).fetchall()
            return [Job(*row) for row in rows]

    def finish_job(self, job_id: int) -> None:
        with self._transaction() as cur:
            cur.execute("DELETE FROM atelier_jobs WHERE id = %s", (job_id,))

    def close(self) -> None:
        self._conn.close()

    def _literal(self, vector: np.ndarray) -> str:
        """A pgvector text literal of one L2-normalised float32 vector."""
        if vector.shape != (self.dimension,):
            raise MemoryStoreError(f"expected 1 vector of dimension {self.dimension}, got an array of shape {vector.shape}")
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:  # a zero vector has no direction: its cosine distance is NaN
            raise MemoryStoreError("vectors must be finite numbers and not all zero")
        return "[" + ",".join(format(x, ".9g") for x in (vector / norm).tolist()) + "]"


def _memory(row: tuple) -> Memory:
    id_, fan_id, kind, author, text, importance, key, embargo_until, created_at = row[:9]
    return Memory(
        id=id_, fan_id=None if fan_id == CANON else fan_id, kind=MemoryKind(kind), author=Author(author), text=text,
        importance=importance, key=key, embargo_until=embargo_until, created_at=created_at,
    )


def redact(dsn: str) -> str:
    """The DSN with any password replaced by '***', for error messages and logs."""
    dsn = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", r"\1***", dsn)
