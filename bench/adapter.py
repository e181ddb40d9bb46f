"""Her persona adapter at serving time: merged into the weights at load, or kept as a LoRA beside them.

Prints one JSON object: for the base model alone, the adapter merged (what
`LocalBackend.from_pretrained(adapter_dir=...)` does) and the adapter unmerged (peft's LoRA
layers left in place, two extra small matmuls in every adapted projection), the load time, the
time to first token of her real prompt and the decode speed, side by side, with the ratios. The
variants are loaded together and take turns, one reply each per round, so a machine busy with
other work slows all three alike. The first reply of each reads her whole prompt; later ones
reuse its prefix from the backend's cache.

Run: .venv/bin/python bench/adapter.py [--adapter auto|DIR] [--dtype auto|float32|bfloat16] [--tokens 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from persona.adapter import find_adapter  # noqa: E402
from persona.card import load_persona  # noqa: E402
from persona.prompt import FanProfile, PromptBuilder  # noqa: E402
from pipelines.cpu import describe_cpu, resolve_dtype  # noqa: E402
from pipelines.dialogue import GenerationParams, TextDelta, prepare_embedded_model  # noqa: E402
from pipelines.dialogue.local import LocalBackend  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402

MESSAGES = ["What's new in the studio this week?", "Tell me about your favourite fabric.", "Do you listen to music while you sew?"]


def load_unmerged(model_dir: Path, dtype: torch.dtype, adapter_dir: Path) -> LocalBackend:
    """The LoRA layers stay beside the weights (peft's PeftModel, not merged)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model = PeftModel.from_pretrained(base, adapter_dir)
    # The model with peft's layers in it, called as the backend calls any transformers model.
    return LocalBackend(model.get_base_model(), tokenizer)


async def timed_reply(backend: LocalBackend, messages, tokens: int) -> tuple[float, float, int]:
    """(seconds to the first token, decode tokens a second after it, tokens generated)."""
    params = GenerationParams(max_tokens=tokens, temperature=0.0)
    started = time.perf_counter()
    first = None
    completion = 0
    async for event in backend.stream(messages, params):
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter() - started
        elif not isinstance(event, TextDelta):
            completion = event.usage.completion_tokens
    total = time.perf_counter() - started
    first = first if first is not None else total
    return first, (completion - 1) / (total - first) if completion > 1 and total > first else 0.0, completion


async def measure(loaders: dict, builder_for, tokens: int, runs: int) -> dict:
    """Load each variant (timed), then take turns: one reply of each per round, so a busy machine
    slows all of them alike."""
    backends, figures = {}, {}
    for name, load in loaders.items():
        started = time.perf_counter()
        backends[name] = load()
        figures[name] = {"load_s": round(time.perf_counter() - started, 2), "first_token_s_each": [], "tokens_per_s_each": [], "tokens_each": []}
    builder = builder_for(next(iter(backends.values())).tokenizer)
    for run in range(runs):
        prompt = builder.build([], MESSAGES[run % len(MESSAGES)], FanProfile())
        for name, backend in backends.items():
            first, speed, count = await timed_reply(backend, prompt.messages, tokens)
            figures[name]["first_token_s_each"].append(round(first, 2))
            figures[name]["tokens_per_s_each"].append(round(speed, 1))
            figures[name]["tokens_each"].append(count)
            print(f"{name} run {run + 1}/{runs}: first token {first:.2f} s, {speed:.1f} tokens/s ({count} tokens)", file=sys.stderr, flush=True)
    for name, backend in backends.items():
        figures[name]["decode_tokens_per_s"] = round(statistics.median(figures[name]["tokens_per_s_each"]), 1)
        await backend.aclose()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="auto", help="her adapter: auto (hers, when fresh) or a folder (default: auto)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--tokens", type=int, default=64, help="tokens to generate a reply (default: 64)")
    parser.add_argument("--runs", type=int, default=3, help="replies per variant; the first reads her whole prompt, later ones reuse its prefix")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)

    settings = load_settings()
    persona = load_persona(settings.persona, settings.personas_dir)
    adapter = Path(args.adapter) if args.adapter != "auto" else find_adapter(persona, settings.cache_path, settings.personas_dir).path
    if adapter is None:
        sys.exit(f"error: no fresh adapter for {persona.id}: run `atelier persona tune {persona.id}` or give --adapter DIR")
    model_dir = prepare_embedded_model(settings.cache_path)
    dtype = resolve_dtype(args.dtype)
    torch.set_num_threads(torch.get_num_threads())

    def builder_for(tokenizer):
        return PromptBuilder(persona, tokenizer, settings.dialogue.context_tokens)

    result = {"date": dt.date.today().isoformat(), "machine": describe_cpu(), "dtype": str(dtype).removeprefix("torch."),
              "adapter": str(adapter), "threads": torch.get_num_threads(), "tokens": args.tokens}
    result.update(await measure({
        "base": lambda: LocalBackend.from_pretrained(model_dir, dtype),
        "merged": lambda: LocalBackend.from_pretrained(model_dir, dtype, adapter_dir=adapter),
        "unmerged": lambda: load_unmerged(model_dir, dtype, adapter),
    }, builder_for, args.tokens, args.runs))
    merged, unmerged = result["merged"], result["unmerged"]
    result["unmerged_over_merged"] = {
        "load_s": round(unmerged["load_s"] / merged["load_s"], 2),
        "decode_tokens_per_s": round(unmerged["decode_tokens_per_s"] / merged["decode_tokens_per_s"], 2) if merged["decode_tokens_per_s"] else None,
        "first_token_s_later_runs": round(statistics.median(unmerged["first_token_s_each"][1:] or unmerged["first_token_s_each"])
                                          / statistics.median(merged["first_token_s_each"][1:] or merged["first_token_s_each"]), 2),
    }
    result["faster_decode"] = "merged" if merged["decode_tokens_per_s"] >= unmerged["decode_tokens_per_s"] else "unmerged"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
