"""Reply-quality benchmark: prints one JSON object.

Her replies to the fan messages in bench/replies.yaml (canon questions with known answers,
greetings, her work, the fan's own life, requests, off-topic, hostile), made as the chat makes
them (her prompt, the configured generation settings, a fixed seed per message), and judged by
`persona/reply_quality.py`. By default each reply goes through the persona Director, as in
the chat (the sentence gate drops sentences that break her canon or take the fan's facts, ends
loops and bounds the length); `--raw` streams the backend's reply as it comes (the figures
before the gate existed):

- canon accuracy: a question with a known answer is answered when the reply says it;
- contradictions: her claims about herself that her identity or canon refutes;
- degeneration: a sentence or a 4-word run said twice, or a reply cut by the token limit
  mid-sentence;
- confusion: the fan's stated name, pets or people spoken of as hers;
- length in sentences and words, and relevance (MiniLM cosine of reply and message).

30% of the messages (positions 2, 5 and 8 of every ten) are a held-out split that no tuning
may look at; both splits are reported. `--show N` adds N replies of each kind to read.
Also reported: her voice fingerprint beside her example dialogue's (persona/voice_fingerprint.py),
the gate's CPU time per sentence, and the time to first token it adds (the sentence held back).

Run: .venv/bin/python bench/replies.py [--backend local|vllm|both] [--split tuning|held_out|all] [--adapter auto|none|DIR] [--raw]
                                      [--limit N] [--show 2] [--save rows.jsonl]
Tuning looks at `--split tuning` only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
from collections import Counter
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from persona.adapter import find_adapter  # noqa: E402
from persona.card import load_persona  # noqa: E402
from persona.director import ChatSession, Director  # noqa: E402
from persona.memory.embeddings import Embedder  # noqa: E402
from persona.prompt import FanProfile, PromptBuilder  # noqa: E402
from persona.reply_quality import FanFacts, judge_reply  # noqa: E402
from persona.sentence_gate import SentenceGate, fan_facts  # noqa: E402
from persona.voice_fingerprint import voice_section  # noqa: E402
from pipelines.cpu import describe_cpu, native_bf16  # noqa: E402
from pipelines.dialogue import TextDelta, prepare_embedded_model  # noqa: E402
from pipelines.dialogue.local import LocalBackend  # noqa: E402
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402

MESSAGES = REPO / "bench" / "replies.yaml"
HELD_OUT = {2, 5, 8}  # positions in every ten


def load_items() -> list[dict]:
    items = []
    for kind, entries in yaml.safe_load(MESSAGES.read_text()).items():
        for entry in entries:
            items.append({"kind": kind, **entry})
    for position, item in enumerate(items):
        item["split"] = "held_out" if position % 10 in HELD_OUT else "tuning"
    return items


class FirstTokenClock:
    """The backend, with the time its first text of each reply arrived: the gate's hold-back is
    the time from there to the first sentence the fan receives."""

    def __init__(self, backend):
        self.backend, self.first_text_at = backend, None

    def __getattr__(self, name):
        return getattr(self.backend, name)

    async def stream(self, messages, params):
        self.first_text_at = None
        async for event in self.backend.stream(messages, params):
            if isinstance(event, TextDelta) and event.text and self.first_text_at is None:
                self.first_text_at = time.perf_counter()
            yield event


async def reply_raw(backend, builder: PromptBuilder, item: dict, params) -> tuple[str, str, float, dict]:
    fan = FanFacts(**item.get("fan", {}))
    prompt = builder.build([], item["message"], FanProfile(name=fan.name))
    parts, finish_reason = [], "stop"
    started = time.perf_counter()
    async for event in backend.stream(prompt.messages, params):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            finish_reason = event.finish_reason
    return "".join(parts), finish_reason, time.perf_counter() - started, {}


async def reply_directed(director: Director, item: dict, params) -> tuple[str, str, float, dict]:
    """As the chat replies (a new fan each time, nothing remembered): the reply the fan receives,
    and "length" when anything but the model ended it (the judge then checks it ends cleanly)."""
    session = ChatSession(fan=FanProfile(name=item.get("fan", {}).get("name", "")))
    clock: FirstTokenClock = director.backend
    started, first_sent = time.perf_counter(), None
    async for _ in director.reply(session, item["message"], params):
        first_sent = first_sent or time.perf_counter()
    seconds = time.perf_counter() - started
    held_back = first_sent - clock.first_text_at if first_sent and clock.first_text_at else None
    turn = session.last_turn
    gate = {"ended_by": turn.finish_reason, "dropped": len(turn.dropped), "dropped_sentences": [f"{d.sentence} [{d.why}]" for d in turn.dropped],
            "held_back_s": held_back, "gate_ms_per_sentence": gate_ms_per_sentence(director, item, turn.text)}
    return turn.text, "stop" if turn.finish_reason == "stop" else "length", seconds, gate


def gate_ms_per_sentence(director: Director, item: dict, reply: str) -> float | None:
    """The gate's CPU time on this reply, per sentence: the reply fed again in small pieces, as it streams."""
    started = time.process_time()
    gate = SentenceGate(director.checker, director.prompts.today(), fan_facts(item.get("fan", {}).get("name", ""), item["message"]))
    for start in range(0, len(reply), 4):
        gate.feed(reply[start:start + 4])
    gate.finish("stop")
    checked = len(gate.released) + len(gate.dropped)
    return (time.process_time() - started) * 1000 / checked if checked else None


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else 0.0


def summarise(rows: list[dict]) -> dict:
    canon = [row for row in rows if row["canon_hit"] is not None]
    with_fan_facts = [row for row in rows if row["kind"] == "fan_life"]
    share = lambda count, total: round(count / total, 3) if total else None  # noqa: E731
    words = [row["words"] for row in rows]
    sentences = [row["sentences"] for row in rows]
    relevance = [row["relevance"] for row in rows]
    return {
        "replies": len(rows),
        "canon_accuracy": share(sum(row["canon_hit"] for row in canon), len(canon)),
        "canon_questions": len(canon),
        "contradiction_rate": share(sum(bool(row["contradictions"]) for row in rows), len(rows)),
        "degenerate_rate": share(sum(row["degenerate"] for row in rows), len(rows)),
        "repeated_sentence_rate": share(sum(row["repeated_sentence"] for row in rows), len(rows)),
        "repeated_4_word_run_rate": share(sum(bool(row["repeated_run"]) for row in rows), len(rows)),
        "cut_mid_sentence_rate": share(sum(row["cut_mid_sentence"] for row in rows), len(rows)),
        "confusion_rate": share(sum(bool(row["confused"]) for row in rows), len(rows)),
        "confusion_rate_fan_life": share(sum(bool(row["confused"]) for row in with_fan_facts), len(with_fan_facts)),
        "words_p50_p90_max": [percentile(words, 0.5), percentile(words, 0.9), max(words, default=0)],
        "sentences_p50_p90_max": [percentile(sentences, 0.5), percentile(sentences, 0.9), max(sentences, default=0)],
        "relevance_mean_p10": [round(statistics.mean(relevance), 3) if relevance else None, round(percentile(relevance, 0.1), 3)],
        "seconds_per_reply_p50": round(percentile([row["seconds"] for row in rows], 0.5), 2),
        **_gate_figures(rows),
    }


def _gate_figures(rows: list[dict]) -> dict:
    gate_ms = [row["gate_ms_per_sentence"] for row in rows if row.get("gate_ms_per_sentence") is not None]
    held_back = [row["held_back_s"] * 1000 for row in rows if row.get("held_back_s") is not None]
    if not gate_ms:
        return {}
    return {"gate_cpu_ms_per_sentence_p50_p95_max": [round(percentile(gate_ms, 0.5), 3), round(percentile(gate_ms, 0.95), 3), round(max(gate_ms), 3)],
            "gate_added_ttft_ms_p50_p90": [round(percentile(held_back, 0.5), 1), round(percentile(held_back, 0.9), 1)],
            "sentences_dropped": sum(row["dropped"] for row in rows),
            "ended_by": dict(sorted(Counter(row["ended_by"] for row in rows).items()))}


async def measure(backend, builder: PromptBuilder, items: list[dict], params, persona, embedder: Embedder, raw: bool,
                  save: Path | None = None, label: str = "") -> list[dict]:
    today = dt.date.today()
    director = Director(persona, FirstTokenClock(backend), builder, params)
    rows = []
    try:
        for index, item in enumerate(items):
            seeded = params.model_copy(update={"seed": index})
            replying = reply_raw(backend, builder, item, seeded) if raw else reply_directed(director, item, seeded)
            reply, finish_reason, seconds, gate = await replying
            quality = judge_reply(reply, director.checker, today, finish_reason, item.get("expect"), FanFacts(**item.get("fan", {})))
            vectors = embedder.embed([item["message"], reply or " "])
            rows.append({
                "kind": item["kind"], "split": item["split"], "message": item["message"], "reply": reply,
                "finish_reason": finish_reason, "seconds": seconds, "relevance": float(vectors[0] @ vectors[1]),
                "degenerate": quality.degenerate, **{key: value for key, value in vars(quality).items()},
                **gate,
            })
            print(f"[{index + 1}/{len(items)}] {item['kind']}: {seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        await director.close()
    if save:
        with save.open("a") as file:
            file.writelines(json.dumps({"backend": label, **row}, ensure_ascii=False) + "\n" for row in rows)
    return rows


def report(rows: list[dict], show: int, persona) -> dict:
    figures = {split: summarise([row for row in rows if row["split"] == split]) for split in ("tuning", "held_out")}
    figures["all"] = summarise(rows)
    voice = voice_section([row["reply"] for row in rows], persona)
    figures["voice"] = {"measured": voice["measured"], "drift": [drift["warning"] for drift in voice["drift"]]}
    if show:
        kinds = dict.fromkeys(row["kind"] for row in rows)
        figures["examples"] = {kind: [{key: row[key] for key in ("message", "reply", "canon_hit", "contradictions", "confused", "repeated_run", "dropped_sentences") if key in row}
                                      for row in rows if row["kind"] == kind][:show] for kind in kinds}
    return figures


def resolve_adapter(choice: str, persona, settings) -> Path | None:
    if choice == "none":
        return None
    if choice != "auto":
        return Path(choice)
    state = find_adapter(persona, settings.cache_path, settings.personas_dir)
    print(state.message, file=sys.stderr)
    return state.path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["local", "vllm", "both"], default="local")
    parser.add_argument("--split", choices=["tuning", "held_out", "all"], default="all", help="which messages (default: all; tune on `tuning` only)")
    parser.add_argument("--adapter", default="auto", help="persona adapter: auto (hers, when fresh), none, or a folder (default: auto)")
    parser.add_argument("--limit", type=int, help="only the first N messages (a quick look)")
    parser.add_argument("--raw", action="store_true", help="the backend's replies as they stream, without the persona layer's sentence gate")
    parser.add_argument("--show", type=int, default=0, help="replies of each kind to include, to read")
    parser.add_argument("--save", type=Path, help="write every message, reply and verdict here (JSON lines)")
    args = parser.parse_args()

    settings = load_settings()
    persona = load_persona(settings.persona, settings.personas_dir)
    items = [item for item in load_items() if args.split in ("all", item["split"])][: args.limit]
    adapter = resolve_adapter(args.adapter, persona, settings)
    params = settings.dialogue.generation
    embedder = Embedder()
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu(), "messages": len(items), "split": args.split, "sentence_gate": not args.raw,
                    "adapter": str(adapter) if adapter else None,
                    "generation": params.model_dump(exclude={"json_schema", "seed"})}
    model_dir = prepare_embedded_model(settings.cache_path)
    if args.backend in ("local", "both"):
        local = LocalBackend.from_pretrained(model_dir, adapter_dir=adapter)
        builder = PromptBuilder(persona, local.tokenizer, settings.dialogue.context_tokens)
        result["local"] = report(await measure(local, builder, items, params, persona, embedder, args.raw, args.save, "local"), args.show, persona)
        result["local"]["dtype"] = str(local.model.dtype).removeprefix("torch.")
        await local.aclose()
    if args.backend in ("vllm", "both"):
        sys.path.insert(0, str(REPO / "tests"))
        from vllm_server import VLLMServer  # the tests' harness

        from transformers import AutoTokenizer

        builder = PromptBuilder(persona, AutoTokenizer.from_pretrained(model_dir), settings.dialogue.context_tokens)
        # Her adapter as a LoRA of its own name beside the base model, as configs/gpu.yaml serves it.
        lora = {persona.id: adapter} if adapter else {}
        rank = json.loads((adapter / "adapter_config.json").read_text())["r"] if adapter else 16
        dtype = "bfloat16" if native_bf16() else "float32"
        with VLLMServer(model_dir, served_name="smollm2", dtype=dtype, max_model_len=8192, lora_modules=lora, max_lora_rank=max(8, rank)) as server:
            remote = OpenAICompatibleBackend(server.base_url, persona.id if adapter else "smollm2", timeout_s=300)
            result["vllm_cpu"] = report(await measure(remote, builder, items, params, persona, embedder, args.raw, args.save, "vllm_cpu"), args.show, persona)
            result["vllm_cpu"]["dtype"] = dtype
            await remote.aclose()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
