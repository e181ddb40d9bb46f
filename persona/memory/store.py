"""The one interface both memory stores implement (SQLite + sqlite-vec, PostgreSQL + pgvector).

Fan isolation is structural: every method that touches fan data takes the fan id and
passes it to the database as the partition key or index condition. Nothing is read for
all fans and filtered afterwards. Canon lives in its own partition and is readable by all.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from persona.memory.records import Author, Memory, MemoryStoreError, MemoryKind, NewMemory, check_permission

SCHEMA_VERSION = 3  # 1: memories and vectors; 2: fan state and the job queue; 3: PostgreSQL drops its HNSW index


@dataclass(frozen=True)
class ScoredMemory:
    memory: Memory
    similarity: float  # cosine similarity, 1.0 is identical


@dataclass(frozen=True)
class Job:
    """Work queued after a turn (fact extraction) that must survive a restart."""

    id: int
    fan_id: str
    kind: str
    payload: dict[str, Any]


def authors_for(memories: list[NewMemory], author: Author | list[Author]) -> list[Author]:
    authors = [Author(author)] * len(memories) if isinstance(author, (Author, str)) else [Author(a) for a in author]
    if len(authors) != len(memories):
        raise MemoryStoreError(f"expected one author per memory ({len(memories)}), got {len(authors)}")
    for memory, writer in zip(memories, authors):  # every check before anything is written
        check_permission(memory, writer)
    return authors


class MemoryStore(abc.ABC):
    """Vectors are float32, L2-normalised, of the store's dimension."""

    dimension: int
    failures: tuple[type[Exception], ...] = ()  # the database driver's errors: the store is unreachable or broken

    @abc.abstractmethod
    def add(self, memories: list[NewMemory], vectors: np.ndarray, author: Author | list[Author]) -> list[Memory]:
        """Store memories and their vectors in one transaction: all of them or none.
        ``author`` is one author for all, or one per memory (a turn: the fan's line and hers)."""

    @abc.abstractmethod
    def replace_canon(self, memories: list[NewMemory], vectors: np.ndarray, author: Author = Author.OPERATOR) -> list[Memory]:
        """The canon `author` wrote becomes exactly these memories, in one transaction; canon of
        other authors stays (her card's lore and the studio's portfolio are kept apart)."""

    @abc.abstractmethod
    def canon_version(self) -> tuple[int, int]:
        """Changes whenever canon does (how many rows, the newest id): a process that keeps canon
        in memory reads it again when another process has replaced some."""

    @abc.abstractmethod
    def canon_index(self) -> tuple[list[Memory], np.ndarray]:
        """Every canon memory, embargoed ones too, oldest first, with its vector (one row each).
        Recall keeps them in memory, a few dozen vectors, and leaves out embargoed ones by the day."""

    def canon(self) -> list[Memory]:
        """Every canon memory, embargoed ones too, oldest first."""
        return self.canon_index()[0]

    @abc.abstractmethod
    def search(self, fan_id: str, vector: np.ndarray, k: int, kinds: set[MemoryKind] | None = None) -> list[ScoredMemory]:
        """The k nearest of this fan's memories (of these kinds), nearest first. Never canon:
        that is in canon_index()."""

    @abc.abstractmethod
    def recent(self, fan_id: str, limit: int, kinds: set[MemoryKind] | None = None) -> list[Memory]:
        """This fan's newest memories, oldest first."""

    @abc.abstractmethod
    def persona_replies(self, limit: int, fan_id: str | None = None) -> list[str]:
        """Her newest replies in conversations (episodic lines she wrote), oldest first: one fan's,
        or, with no fan, every fan's for the operator's voice report (`atelier persona report`).
        Her words only, never the fans' lines or ids, and never shown to a fan."""

    @abc.abstractmethod
    def delete(self, fan_id: str, memory_ids: list[int]) -> int:
        """Delete some of this fan's memories; ids of other fans are not touched."""

    @abc.abstractmethod
    def export_fan(self, fan_id: str) -> list[Memory]:
        """Everything stored about one fan."""

    @abc.abstractmethod
    def forget_fan(self, fan_id: str) -> int:
        """Delete every row about one fan (memories, vectors, state, queued jobs); returns
        how many memories went."""

    @abc.abstractmethod
    def get_state(self, fan_id: str) -> dict[str, Any]:
        """The fan's slow-changing state (relationship), {} for a new fan."""

    @abc.abstractmethod
    def put_state(self, fan_id: str, state: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def enqueue(self, fan_id: str, kind: str, payload: dict[str, Any]) -> int:
        """Queue a job; it stays until finish_job, so a crash only delays it."""

    @abc.abstractmethod
    def pending_jobs(self, limit: int = 100) -> list[Job]:
        """The oldest unfinished jobs of every fan (the worker's view, never shown to a fan)."""

    @abc.abstractmethod
    def finish_job(self, job_id: int) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
