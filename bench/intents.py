"""Intent benchmark: prints one JSON object.

- per split of tests/data/intents.jsonl (tuning, held_out): precision and recall with the
  requests (look, print, song, show_work) as positives (a request read as another kind is a
  false positive of that kind and a miss of its own), the confusion (expected -> read ->
  count), what decided (explicit rule, no request cue, embedding) and the mistakes;
- the reader's time per message, p50/p99 over every message of the set, with the message's
  vector given (what a chat turn pays: it has embedded the message for recall already) and
  without it (the reader embeds when its rules leave the message open; the embedder's cache
  is off so that every embedding is paid).

With --backend vllm the tool-call reader asks the server for every message its rules leave
open (--rules-off: for every message), and the time per message is that of one pass.

Run: .venv/bin/python bench/intents.py [--rounds 5]
     .venv/bin/python bench/intents.py --backend vllm --base-url http://127.0.0.1:8000/v1 --model NAME [--rules-off]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.cpu import describe_cpu  # noqa: E402

from persona.intents import IntentReader, load_labelled, score  # noqa: E402
from persona.memory.embeddings import Embedder  # noqa: E402

DATASET = REPO / "tests" / "data" / "intents.jsonl"


def percentiles_ms(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50_ms": round(1000 * times[len(times) // 2], 3), "p99_ms": round(1000 * times[max(int(len(times) * 0.99) - 1, 0)], 3)}


def accuracy(reader, messages, vectors, splits=("tuning", "held_out"), times: list[float] | None = None) -> dict:
    """`times`, when given, collects each read's time (the vector given)."""
    result = {}
    for split in splits:
        chosen = [(m, v) for m, v in zip(messages, vectors) if m.split == split]
        intents = []
        for message, vector in chosen:
            started = time.perf_counter()
            intents.append(reader.read(message.text, vector))
            if times is not None:
                times.append(time.perf_counter() - started)
        figures = score([m.kind for m, _ in chosen], [i.kind for i in intents], [m.text for m, _ in chosen])
        decided_by = Counter("no request cue" if i.source == "rule" and i.kind == "none" and m.text.strip() else i.source for (m, _), i in zip(chosen, intents))
        result[split] = {
            "messages": figures.messages,
            "requests": sum(m.kind != "none" for m, _ in chosen),
            "precision": round(figures.precision, 4),
            "recall": round(figures.recall, 4),
            "decided_by": dict(decided_by),
            "confusion": {kind: row for kind, row in figures.confusion.items()},
            "mistakes": figures.mistakes,
        }
    return result


def timing(reader, messages, vectors, rounds: int) -> dict:
    """Each way timed in its own passes, so one does not evict the other's caches."""
    with_vector, without_vector = [], []
    for _ in range(rounds):
        for message, vector in zip(messages, vectors):
            started = time.perf_counter()
            reader.read(message.text, vector)
            with_vector.append(time.perf_counter() - started)
    for _ in range(rounds):
        for message in messages:
            started = time.perf_counter()
            reader.read(message.text)
            without_vector.append(time.perf_counter() - started)
    return {"messages_timed": len(with_vector), "vector_given": percentiles_ms(with_vector), "no_vector": percentiles_ms(without_vector),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the set for the timings")
    parser.add_argument("--backend", choices=["embedded", "vllm"], default="embedded")
    parser.add_argument("--base-url", help="vllm: the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="vllm: the served model name")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--rules-off", action="store_true", help="vllm: every message goes to the server (the tool call alone)")
    parser.add_argument("--splits", nargs="+", choices=["tuning", "held_out"], default=["tuning", "held_out"])
    args = parser.parse_args()
    if args.backend == "vllm" and not (args.base_url and args.model):
        parser.error("--backend vllm needs --base-url and --model")
    messages = load_labelled(DATASET)
    embedder = Embedder(cache_size=0)  # no cache: a timing without a vector pays for its embedding
    vectors = list(embedder.embed([m.text.strip() for m in messages]))
    embedded = IntentReader(embedder)
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu(), "dataset": str(DATASET.relative_to(REPO)), "backend": args.backend}
    if args.backend == "embedded":
        result["accuracy"] = accuracy(embedded, messages, vectors, args.splits)
        result["time_per_message"] = timing(embedded, messages, vectors, args.rounds)
    else:
        from persona.intents import ToolCallIntentReader

        with ToolCallIntentReader(embedded, base_url=args.base_url, model=args.model, api_key=args.api_key, timeout_s=300, rules_first=not args.rules_off) as reader:
            times: list[float] = []
            result["server"] = {"base_url": args.base_url, "model": args.model, "rules_first": reader.rules_first}
            result["accuracy"] = accuracy(reader, messages, vectors, args.splits, times)
            result["server"]["tool_calls_read_from_content"] = reader.calls_in_content  # the server has no --tool-call-parser
            result["time_per_message"] = {"messages_timed": len(times), "vector_given": percentiles_ms(times), "load_average_1min": round(os.getloadavg()[0], 2)}
            result["outcomes"] = dict(reader.outcomes)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
