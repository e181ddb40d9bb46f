"""Per-token cost of a streamed reply's path through the persona layer: prints one JSON object.

Drives the real output guard and sentence gate the way the Director does for each text delta
(``guard.feed`` then ``gate.feed`` on what the guard let through, then the final flush), on her
real system prompt and guard rules, with three kinds of token:

- ``instrument``: the load instrument's tokens from bench/ws_load.py ("w1 ", "w2 ", ..., and
  every 12th the time it was made, "1765432100.123456~ "), a reply of --tokens tokens;
- ``english``: a reply in her voice (REPLY below: her card's example dialogue is in her system
  prompt, and quoting it back would stop the reply), cut into deltas as the embedded backend
  cuts them (the embedded model's tokenizer, decoded token by token); without the prepared
  model, 4-character pieces;
- ``japanese``: a reply with no spaces between words, two characters a delta (a word the guard
  sees unfinished for a long time).

Each case runs with no fan (as the load instrument) and with a remembered fan (the guard also
watches other fans' private names). Reported: microseconds per token, best of --repeat replies
(the machine is shared; the best run is the one least disturbed), and the CPU.

Run: .venv/bin/python bench/gateway_path.py [--tokens 600] [--repeat 30] [--profile instrument|english|japanese[+fan]]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import pstats
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from persona.card import load_persona  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402
from persona.memory.consistency import CanonChecker  # noqa: E402
from persona.prompt import FanProfile, PromptBuilder  # noqa: E402
from persona.safety import FanContext, GuardRules, OutputGuard, PrivateTerms  # noqa: E402
from persona.sentence_gate import SentenceGate, fan_facts  # noqa: E402
from pipelines.cpu import describe_cpu  # noqa: E402

TODAY = dt.date(2026, 11, 21)
USER_TEXT = "Hi! My name is Minji and my dog is called Bori. What are you making today?"
SENTENCE_TOKENS = 12  # as bench/ws_load.py's default
REPLY = (
    "Oh, hello! It's pouring on the skylight, so Bobbin has claimed the warm end of the cutting table. "
    "I've been draping a linen coat all morning, and the collar still won't sit the way I want. "
    "Jiwoo thinks I should give up and cut it on the bias, which is annoying because she's probably right. "
    "For your dress, I'd go with a washed linen in oatmeal, something that softens the more you wear it. "
    "A square neckline, wide straps, and pockets deep enough for a phone and a spool of thread. "
    "오늘은 동대문에서 모시 원단을 보고 왔어! The light through it was ridiculous. "
    "If you want a print on it, try a small persimmon motif in rust on the hem only, like it's been dipped. "
    "What's the occasion, though? A wedding wants a different fabric than a long walk by the river~ "
    "Tell me about the colours you already wear a lot, and I'll sketch you three options tonight."
)
JAPANESE = ("今日は東大門で麻の生地を見てきたよ。光がとてもきれいで、少し多めに買ってしまった。いつものことだけどね。"
            "ボビンはまた裁断台の上で寝ていて、型紙の上から動いてくれない。ジウは襟の形が曲がっていると言うけど、"
            "たぶん彼女が正しい。あなたのワンピースには、洗いざらしのリネンがいいと思う。色はオートミールか、"
            "少し青みのある白。裾だけに小さな柿の模様を入れてもかわいいかも。今夜、三つくらい描いてみるね。")


def instrument_deltas(count: int) -> list[str]:
    """bench/ws_load.py's tokens, with a fixed clock."""
    return [f"w{i} " if i % SENTENCE_TOKENS else f"{1765432100 + i / 10:.6f}~ " for i in range(1, count + 1)]


def english_deltas(tokenizer, text: str = REPLY) -> list[str]:
    """`text` in the deltas the embedded backend would stream it in."""
    if tokenizer is None:
        return [text[i:i + 4] for i in range(0, len(text), 4)]
    ids = tokenizer.encode(text, add_special_tokens=False)
    deltas, emitted = [], 0
    for end in range(1, len(ids) + 1):  # as pipelines/dialogue/local.py decodes: the whole so far, less what went out
        decoded = tokenizer.decode(ids[:end], skip_special_tokens=True)
        if decoded.endswith("\ufffd"):
            continue
        deltas.append(decoded[emitted:])
        emitted = len(decoded)
    return deltas


def load_tokenizer(settings):
    from transformers import AutoTokenizer

    from pipelines.dialogue.embedded import embedded_model_dir, is_prepared

    folder = embedded_model_dir(settings.cache_path)
    return AutoTokenizer.from_pretrained(folder) if is_prepared(folder) else None


def private_terms() -> PrivateTerms:
    """Other fans' names, as a busy process has learnt them."""
    terms = PrivateTerms(["Haeun", "Bobbin", "Jiwoo", "Seongsu"])
    for fan in range(200):
        terms.learn(f"fan-{fan}", [("pet:dog", f"The fan has a dog named Mochi{fan}."), ("sibling:sister", f"The fan's sister is Yuna{fan}.")])
    return terms


def drive(rules: GuardRules, checker: CanonChecker, deltas: list[str], fan: FanContext | None) -> str:
    """One reply's stream, as Director.reply feeds it."""
    guard = OutputGuard(rules, fan)
    gate = SentenceGate(checker, TODAY, partial(fan_facts, "Minji", USER_TEXT, []), None)
    sent = []
    for delta in deltas:
        if (safe := guard.feed(delta)) and (released := gate.feed(safe)):
            sent.append(released)
        if guard.tripped or gate.ended:
            break
    sent.append(gate.feed(guard.feed("", final=True)) + gate.finish("stop"))
    return "".join(sent)


def best_us_per_token(run, tokens: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return round(best / tokens * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=600, help="instrument tokens a reply (600: a minute at ws_load's 10 tokens/s)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--profile", choices=[f"{case}{fan}" for case in ("instrument", "english", "japanese") for fan in ("", "+fan")], help="print a cProfile of that case instead")
    args = parser.parse_args()

    settings = load_settings()
    card = load_persona(settings.persona, settings.personas_dir)
    tokenizer = load_tokenizer(settings)
    if tokenizer is None:
        print("the embedded model is not prepared: English deltas are 4-character pieces", file=sys.stderr)
        system_prompt = card.identity.biography
    else:
        system_prompt = PromptBuilder(card, tokenizer, 4096).build([], USER_TEXT, FanProfile(name="Minji")).messages[0].content
    rules = GuardRules.build(card, system_prompt, TODAY)
    checker = CanonChecker(card)
    fan = FanContext("fan-me", private_terms(), system_prompt + "\n" + USER_TEXT)
    cases = {"instrument": instrument_deltas(args.tokens), "english": english_deltas(tokenizer),
             "japanese": [JAPANESE[i:i + 2] for i in range(0, len(JAPANESE), 2)]}

    if args.profile:
        name, with_fan = args.profile.removesuffix("+fan"), args.profile.endswith("+fan")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.repeat):
            drive(rules, checker, cases[name], fan if with_fan else None)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    result: dict = {"cpu": describe_cpu(), "repeat": args.repeat, "english_from": "tokenizer" if tokenizer else "4-char pieces"}
    for name, deltas in cases.items():
        reply = drive(rules, checker, deltas, None)
        assert reply.strip(), f"{name}: nothing reached the fan"
        result[name] = {
            "tokens": len(deltas),
            "chars_released": len(reply),
            "us_per_token": best_us_per_token(lambda d=deltas: drive(rules, checker, d, None), len(deltas), args.repeat),
            "us_per_token_with_fan": best_us_per_token(lambda d=deltas: drive(rules, checker, d, fan), len(deltas), args.repeat),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
