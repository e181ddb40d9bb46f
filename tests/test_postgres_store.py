"""What only the PostgreSQL store has: its schema and migrations, exact search within a
fan's partition, concurrent opening and connection errors. The behaviour both stores share
is tested by the shared memory-store suite."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from psycopg.conninfo import make_conninfo

from persona.memory.postgres_store import CANON, NEAREST_SQL, PostgresStore
from persona.memory.records import Author, MemoryStoreError, MemoryKind, MemoryPermissionError, NewMemory
from persona.memory.store import SCHEMA_VERSION

DIMENSION = 384
FANS = [f"fan-{i:02d}" for i in range(50)]


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def create_database(server_dsn: str) -> str:
    """A new empty database on the test server; returns its DSN."""
    name = f"atelier_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return make_conninfo(server_dsn, dbname=name)


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def dsn(postgres_dsn) -> str:  # noqa: F811
    return create_database(postgres_dsn)


@pytest.fixture(scope="module")
def crowded(postgres_dsn) -> Iterator[tuple[str, dict[int, tuple[str, np.ndarray]]]]:  # noqa: F811
    """2,000 memories spread over 50 fans, one fan with 1,000 memories and 20 canon entries,
    5 of them under embargo. Returns the DSN and, per memory id, its partition (canon under
    embargo as "embargoed") and vector."""
    dsn = create_database(postgres_dsn)
    vectors = unit_vectors(3020, seed=1)
    fan_memories = [NewMemory(kind=MemoryKind.EPISODIC, fan_id=FANS[i % 50], text=f"turn {i}") for i in range(2000)]
    big_fan = [NewMemory(kind=MemoryKind.FAN_FACT, fan_id="big-fan", text=f"fact {i}") for i in range(1000)]
    canon = [
        NewMemory(kind=MemoryKind.CANON, text=f"lore {i}", embargo_until=dt.date(2099, 1, 1) if i < 5 else None) for i in range(20)
    ]
    with PostgresStore(dsn) as store:
        stored = store.add(fan_memories, vectors[:2000], Author.FAN)
        stored += store.add(big_fan, vectors[2000:3000], Author.SYSTEM)
        stored += store.add(canon, vectors[3000:], Author.OPERATOR)
    query(dsn, "ANALYZE atelier_memories")  # fresh statistics, as autovacuum would give
    today = dt.date.today()
    yield dsn, {m.id: (m.fan_id or (CANON if m.is_visible(today) else "embargoed"), v) for m, v in zip(stored, vectors)}


def exact_nearest(rows: dict[int, tuple[str, np.ndarray]], partitions: set[str], vector: np.ndarray, k: int) -> set[int]:
    """The true k nearest memories of some partitions, by brute force."""
    candidates = [i for i, (partition, _) in rows.items() if partition in partitions]
    return set(sorted(candidates, key=lambda i: -float(rows[i][1] @ vector))[:k])


def literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(str, vector.tolist())) + "]"


def test_schema_is_created_with_its_version(dsn):
    PostgresStore(dsn).close()

    assert query(dsn, "SELECT key, value FROM atelier_meta") == [("schema_version", str(SCHEMA_VERSION))]
    assert query(dsn, "SELECT extversion >= '0.8' FROM pg_extension WHERE extname = 'vector'") == [(True,)]
    columns = dict(query(dsn, "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'atelier_memories'"))
    assert columns["embedding"] == "vector" and columns["fan_id"] == "text" and columns["embargo_until"] == "date"


def test_reopening_is_idempotent(dsn):
    with PostgresStore(dsn) as store:
        store.add([NewMemory(kind=MemoryKind.CANON, text="She was born in Seoul.")], unit_vectors(1), Author.OPERATOR)
    for _ in range(2):
        with PostgresStore(dsn) as store:
            assert [m.text for m in store.canon()] == ["She was born in Seoul."]

    assert query(dsn, "SELECT key, value FROM atelier_meta") == [("schema_version", str(SCHEMA_VERSION))]
    assert query(dsn, "SELECT count(*) FROM atelier_memories") == [(1,)]


def test_newer_schema_version_is_refused(dsn):
    PostgresStore(dsn).close()
    query(dsn, "UPDATE atelier_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))

    expected = f"schema version {SCHEMA_VERSION + 1} is newer than this Atelier supports \\({SCHEMA_VERSION}\\); upgrade Atelier"
    with pytest.raises(MemoryStoreError, match=expected):
        PostgresStore(dsn)


def test_other_dimension_is_refused(dsn):
    PostgresStore(dsn).close()

    with pytest.raises(MemoryStoreError, match="stores 384-dimensional vectors but the store was opened with dimension=8"):
        PostgresStore(dsn, dimension=8)


def test_two_stores_open_an_empty_database_at_once(postgres_dsn):  # noqa: F811
    for _ in range(3):  # the race is short: try a few fresh databases
        dsn = create_database(postgres_dsn)
        start, errors, stores = threading.Barrier(4), [], []

        def open_store() -> None:
            start.wait()
            try:
                stores.append(PostgresStore(dsn))
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in stores:
            store.close()

        assert errors == []
        assert query(dsn, "SELECT value FROM atelier_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_search_is_exact_within_a_fan_and_uses_the_fan_index(crowded):
    dsn, rows = crowded
    indexes = dict(query(dsn, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'atelier_memories'"))
    assert "(fan_id, id) INCLUDE (kind, embargo_until, embedding)" in indexes["atelier_memories_fan"] and "atelier_memories_embedding" not in indexes

    vector = unit_vectors(1, seed=2)[0]
    query(dsn, "VACUUM atelier_memories")  # as autovacuum does after inserts: index-only scans need it
    explain = "EXPLAIN " + NEAREST_SQL.format(where="fan_id = %s")
    plan = "\n".join(row[0] for row in query(dsn, explain, (literal(vector), FANS[0], 10)))
    assert "Index Only Scan using atelier_memories_fan" in plan
    with PostgresStore(dsn) as store:
        assert {r.memory.id for r in store.search("big-fan", vector, k=10, kinds={MemoryKind.FAN_FACT})} == exact_nearest(rows, {"big-fan"}, vector, 10)
        for fan_id in FANS[:10]:
            results = store.search(fan_id, vector, k=10)
            assert {r.memory.id for r in results} == exact_nearest(rows, {fan_id}, vector, 10)
            assert [r.similarity for r in results] == sorted((r.similarity for r in results), reverse=True)
            assert results[0].similarity == pytest.approx(float(rows[results[0].memory.id][1] @ vector), abs=1e-5)
        memories, vectors = store.canon_index()  # canon is never searched: recall reads it whole
        assert [m.text for m in memories] == [f"lore {i}" for i in range(20)]
        np.testing.assert_allclose(vectors, np.stack([rows[m.id][1] for m in memories]), atol=1e-6)


def test_a_version_2_database_loses_its_hnsw_index_and_keeps_its_rows(dsn):
    with PostgresStore(dsn) as store:
        store.add([NewMemory(kind=MemoryKind.EPISODIC, fan_id="mina", text="hi")], unit_vectors(1), Author.FAN)
    query(dsn, "CREATE INDEX atelier_memories_embedding ON atelier_memories USING hnsw (embedding vector_cosine_ops)")
    query(dsn, "UPDATE atelier_meta SET value = '2' WHERE key = 'schema_version'")
    with PostgresStore(dsn) as store:
        assert [m.text for m in store.export_fan("mina")] == ["hi"]
    assert query(dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'atelier_memories_embedding'") == [(0,)]
    assert query(dsn, "SELECT value FROM atelier_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_rows_are_partitioned_and_vectors_normalised(dsn):
    with PostgresStore(dsn) as store:
        store.add([NewMemory(kind=MemoryKind.CANON, text="lore")], 3 * unit_vectors(1), Author.OPERATOR)
        store.add([NewMemory(kind=MemoryKind.EPISODIC, fan_id="mina", text="hi")], unit_vectors(1, seed=5), Author.FAN)

    rows = query(dsn, "SELECT fan_id, round(vector_norm(embedding)::numeric, 5) FROM atelier_memories ORDER BY id")
    assert rows == [(CANON, 1), ("mina", 1)]


def test_a_bad_batch_writes_nothing(dsn):
    with PostgresStore(dsn) as store:
        fine = NewMemory(kind=MemoryKind.EPISODIC, fan_id="mina", text="hi")
        canon = NewMemory(kind=MemoryKind.CANON, text="I am the real designer now.")
        with pytest.raises(MemoryPermissionError):
            store.add([fine, canon], unit_vectors(2), Author.FAN)
        with pytest.raises(MemoryStoreError, match=r"expected 2 vectors of dimension 384"):
            store.add([fine, fine], unit_vectors(1), Author.FAN)
        with pytest.raises(MemoryStoreError, match="not all zero"):
            store.add([fine, fine], np.vstack([unit_vectors(1), np.zeros((1, DIMENSION))]), Author.FAN)

    assert query(dsn, "SELECT count(*) FROM atelier_memories") == [(0,)]


@pytest.mark.parametrize(
    "bad_dsn, named",
    [
        ("postgresql://atelier:s3cret@/atelier?host=/no/such/dir", "/no/such/dir"),
        ("host=/no/such/dir user=atelier password=s3cret", "/no/such/dir"),
        ("not a dsn", "not a dsn"),
    ],
)
def test_bad_dsn_is_a_clear_error(bad_dsn, named):
    with pytest.raises(MemoryStoreError, match="cannot connect to PostgreSQL") as caught:
        PostgresStore(bad_dsn)

    assert named in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_missing_database_is_a_clear_error(postgres_dsn):  # noqa: F811
    with pytest.raises(MemoryStoreError, match='database "no_such_db" does not exist'):
        PostgresStore(make_conninfo(postgres_dsn, dbname="no_such_db"))


def test_a_schema_that_cannot_be_created_is_a_clear_error(dsn):
    with pytest.raises(MemoryStoreError, match="cannot set up the memory schema at .*read-only transaction"):
        PostgresStore(make_conninfo(dsn, options="-c default_transaction_read_only=on"))
