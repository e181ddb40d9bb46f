"""The persona's long-term memory: per-fan memories and canon, in SQLite or PostgreSQL.

    store = open_store(config, persona_id)      # SQLiteStore or PostgresStore
    memory = PersonaMemory(store, Embedder(), persona)   # recall, commit turns, learn fan facts
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from persona.memory.records import Author, Memory, MemoryStoreError, MemoryKind, MemoryPermissionError, NewMemory
from persona.memory.store import MemoryStore, ScoredMemory


class MemoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "postgres"] = "sqlite"
    data_dir: Path = Field(default=Path("~/.local/share/atelier"), description="sqlite: memory-<persona>.db lives here; postgres without a DSN: the embedded server's postgres/ folder")
    dsn: str | None = Field(default=None, description="postgres: a connection URI, one database per persona; unset: Atelier starts its own embedded server")
    recent_turns: int = Field(default=6, ge=0, le=100, description="turns reloaded into the prompt when a fan comes back")


def open_store(config: MemoryConfig, persona_id: str) -> MemoryStore:
    if config.backend == "postgres":
        from persona.memory.postgres_store import PostgresStore

        if config.dsn:
            return PostgresStore(config.dsn)
        from persona.memory.local_postgres import local_postgres_dsn

        return PostgresStore(local_postgres_dsn(config.data_dir.expanduser(), persona_id))
    from persona.memory.sqlite_store import SQLiteStore

    data_dir = config.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(data_dir / f"memory-{persona_id}.db")


__all__ = [
    "Author",
    "Memory",
    "MemoryConfig",
    "MemoryStoreError",
    "MemoryKind",
    "MemoryPermissionError",
    "MemoryStore",
    "NewMemory",
    "ScoredMemory",
    "open_store",
]
