"""Chat endpoint benchmark: prints one JSON object. Loopback only, bounded in time.

1. Load: --fans concurrent fans (default 2,000) connect, then all send one message at once
   and receive a reply streamed by a constant-rate token source (a load instrument, not a
   model); once every reply is streaming, frames are counted for --seconds.
   The same clients run against the Atelier app (uvicorn, the real protocol, director and
   output guard and sentence gate) and against a bare `websockets` server that streams the same
   frames: her replies reach fans a sentence at a time, so a frame is a sentence of
   --sentence-tokens tokens, and its last token carries the time it was produced, so a client
   measures frame latency directly.
   Reported per server: frames/s, p50/p99 frame latency, server memory per connection, and
   ours / bare.
2. End to end with the embedded model (a real `atelier serve`) at 1, 4 and 16 concurrent
   fans: time to first token p50/p99 and the time the persona layer takes before the model
   is asked (policy, recall, prompt; from the server's histogram, read before and after
   each phase). Each fan holds one conversation: the fans' first messages go at the same
   instant (the burst); then the fans talk (the conversation), starting 0.2 s apart, each
   sending more messages (48 turns a level, three a fan at least), each as soon as its
   reply has ended. The two phases are reported apart.

Run: .venv/bin/python bench/ws_load.py [--fans 2000] [--seconds 10] [--rate 10] [--no-e2e] [--no-load]
Each server runs in its own process; clients run in another.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.cpu import describe_cpu  # noqa: E402
sys.path.insert(0, str(REPO / "tests"))

SECRET = "bench-secret-0123456789abcdef0123456789"
SENTENCE_END = "~ "  # ends the instrument's sentences: her reply reaches fans a checked sentence at a time
E2E_TURNS = 48  # conversation turns measured a level, shared among its fans (three each at least): enough for a steady median
E2E_SPAWN_S = 0.2  # after the burst, fans start talking this far apart (a load tester's spawn rate)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---- the servers (run in a child process) -------------------------------------------------

async def ticks(rate: float, count: int) -> AsyncIterator[float]:
    """`count` times, one every 1/rate s, each the time it fires. A late tick moves the
    schedule back rather than bursting to catch up, so an overloaded server sees the same
    steady rate and not a backlog."""
    due = time.time()
    for _ in range(count):
        due = max(due + 1 / rate, time.time())
        await asyncio.sleep(due - time.time())
        yield time.time()


def instrument_tokens(rate: float, count: int, sentence_tokens: int, filler: str = "") -> AsyncIterator[tuple[str, bool]]:
    """(token, ends a sentence) at `rate` a second: words, and every `sentence_tokens`-th token the
    time it was produced, ending the sentence, so each frame says when its last token was made."""

    async def tokens() -> AsyncIterator[tuple[str, bool]]:
        index = 0
        async for now in ticks(rate, count):
            index += 1
            if index % sentence_tokens:
                yield f"w{index} ", False  # words that never repeat: the gate would end a reply that loops
            else:
                yield f"{now:.6f}{filler}{SENTENCE_END}", True

    return tokens()


def instrument_app(rate: float, tokens: int, sentence_tokens: int, pad: int = 0, data_dir: str | None = None):
    """The Atelier app (create_app: the real protocol, director, output guard and sentence gate)
    with a constant-rate token source as its dialogue backend; its data in a fresh folder (under
    `data_dir` if given). bench/cluster.py runs the same app as each gateway replica."""
    from transformers import AutoTokenizer

    from persona.card import load_persona
    from persona.director import Director
    from persona.engine.runtime import Runtime
    from persona.engine.settings import load_settings
    from persona.prompt import PromptBuilder
    from pipelines.dialogue import DialogueBackend, Finished, GenerationParams, TextDelta, Usage, prepare_embedded_model
    from serving.app import create_app

    filler = "~" * pad

    class ConstantRateSource(DialogueBackend):
        """A load instrument: `tokens` tokens at `rate` a second, in sentences of `sentence_tokens`
        (instrument_tokens). The sentence gate releases each sentence as a frame, checked against
        her canon as every sentence of hers is."""

        name = "constant-rate"

        async def stream(self, messages, params) -> AsyncIterator:
            async for token, _ in instrument_tokens(rate, tokens, sentence_tokens, filler):
                yield TextDelta(token)
            yield Finished(Usage(0, tokens), "length")

    settings = load_settings(environ={**os.environ, "ATELIER_SERVING__TOKEN_SECRET": SECRET, "ATELIER_MEMORY__DATA_DIR": tempfile.mkdtemp(dir=data_dir),
                                      "ATELIER_SERVING__CONNECTIONS_PER_ADDRESS": "100000", "ATELIER_SERVING__MESSAGES_PER_MINUTE": "1000"})
    card = load_persona(settings.persona, settings.personas_dir)
    tokenizer = AutoTokenizer.from_pretrained(prepare_embedded_model(settings.cache_path))
    backend = ConstantRateSource()
    director = Director(card, backend, PromptBuilder(card, tokenizer, 4096), GenerationParams(max_tokens=min(tokens, 32768)))  # the source ignores it
    return create_app(settings, Runtime(card, backend, director, None))


def serve_ours(port: int, rate: float, tokens: int, sentence_tokens: int, pad: int = 0) -> None:
    import uvicorn

    uvicorn.run(instrument_app(rate, tokens, sentence_tokens, pad), host="127.0.0.1", port=port, ws="websockets-sansio", ws_per_message_deflate=False,
                log_level="warning", backlog=4096, timeout_graceful_shutdown=2)


def serve_bare(port: int, rate: float, tokens: int, sentence_tokens: int) -> None:
    import websockets

    async def handler(ws) -> None:
        seq = 0

        async def send(frame: dict) -> None:
            nonlocal seq
            seq += 1
            await ws.send(json.dumps({**frame, "seq": seq}, separators=(",", ":")))

        try:
            json.loads(await ws.recv())  # hello
            await send({"type": "ready", "session": "bare", "fan": "bare", "persona": "bare", "greeting": "", "resumed": False, "protocol": 1})
            async for raw in ws:
                message = json.loads(raw)
                sentence = ""
                async for token, ends in instrument_tokens(rate, tokens, sentence_tokens):
                    sentence += token
                    if ends:  # the same frames as ours: a sentence at a time
                        await send({"type": "delta", "turn": 1, "text": sentence.rstrip()})
                        sentence = ""
                await send({"type": "end", "turn": 1, "message_id": message["id"], "text": "", "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "cached_tokens": 0}})
        except websockets.ConnectionClosed:
            pass  # the client hung up at the end of the run

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", port, compression=None, max_size=16384, backlog=4096):
            await asyncio.Future()

    asyncio.run(main())


def start_server(kind: str, rate: float, tokens: int, sentence_tokens: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port), "--rate", str(rate), "--tokens", str(tokens),
                                "--sentence-tokens", str(sentence_tokens)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.2)
    raise TimeoutError(f"the {kind} server did not start")


# ---- the clients ------------------------------------------------------------------------------

class Tally:
    """What every fan's client adds to: frames and latencies inside the measuring window."""

    def __init__(self, fans: int):
        self.fans = fans
        self.ready = 0
        self.streaming = 0
        self.all_ready = asyncio.Event()
        self.all_streaming = asyncio.Event()
        self.go = asyncio.Event()
        self.window = (float("inf"), float("inf"))
        self.frames = 0
        self.latencies: list[float] = []


async def one_fan(url: str, fan: str, tally: Tally) -> None:
    import websockets

    from persona.engine.auth import issue_token

    async with websockets.connect(url, compression=None, open_timeout=120, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "hello", "token": issue_token(SECRET.encode(), fan, 3600), "persona": "haeun"}))
        json.loads(await ws.recv())
        tally.ready += 1
        if tally.ready == tally.fans:
            tally.all_ready.set()
        await tally.go.wait()
        await ws.send(json.dumps({"type": "message", "id": "1", "text": "Tell me about your studio."}))
        streaming = False
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "delta":
                now = time.time()
                if not streaming:
                    streaming = True
                    tally.streaming += 1
                    if tally.streaming == tally.fans:
                        tally.all_streaming.set()
                if tally.window[0] <= now <= tally.window[1]:
                    tally.frames += 1
                    tally.latencies.append(now - float(frame["text"].split()[-1].rstrip(SENTENCE_END)))
            elif frame["type"] in ("end", "error"):
                return


async def load(url: str, fans: int, seconds: float, server_pid: int, moment: Callable[[str], None] = lambda name: None) -> dict:
    """Every fan connects, then all send at once; once every reply streams, frames are
    counted for `seconds`. `moment(name)` is told "before" (the first connect), "connected",
    "window_start" and "window_end", for a caller that reads more processes than the server."""
    tally = Tally(fans)
    moment("before")
    rss_before = rss_kib(server_pid)
    tasks = []
    for i in range(fans):
        tasks.append(asyncio.create_task(one_fan(url, f"fan{i}", tally)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # thousands of connects in one tick overflow the accept backlog
    await asyncio.wait_for(tally.all_ready.wait(), 300)
    moment("connected")
    rss_connected = rss_kib(server_pid)
    sent = time.time()
    tally.go.set()
    await asyncio.wait_for(tally.all_streaming.wait(), 600)
    all_streaming_s = time.time() - sent
    start = time.time() + 1.0
    tally.window = (start, start + seconds)
    await asyncio.sleep(1.0)
    moment("window_start")
    await asyncio.sleep(seconds)
    moment("window_end")
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(tally.latencies)
    return {
        "every_reply_streaming_after_s": round(all_streaming_s, 2),
        "frames_per_s": round(tally.frames / seconds),
        "frames_counted": tally.frames,
        "latency_p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "latency_p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
        "memory_per_connection_kib": round((rss_connected - rss_before) / fans, 1),
    }


def load_side_by_side(fans: int, seconds: float, rate: float, sentence_tokens: int) -> dict:
    tokens = int(rate * 3600)  # replies outlast the measurement; the clients hang up
    result: dict = {"fans": fans, "tokens_per_s_per_fan": rate, "tokens_per_frame": sentence_tokens, "measured_s": seconds}
    for kind in ("bare", "ours"):
        process, port = start_server(kind, rate, tokens, sentence_tokens)
        try:
            result[kind] = asyncio.run(load(f"ws://127.0.0.1:{port}/ws/chat", fans, seconds, process.pid))
        finally:
            process.kill()
            process.wait(timeout=30)
    result["ours_over_bare"] = {"throughput": round(result["ours"]["frames_per_s"] / result["bare"]["frames_per_s"], 3),
                                "p99": round(result["ours"]["latency_p99_ms"] / result["bare"]["latency_p99_ms"], 2)}
    return result


# ---- end to end with the embedded model -------------------------------------------------------

async def e2e_level(url: str, metrics_url: str, fans: int, level: str) -> dict:
    """`fans` fans connect and hold one conversation each. Their first messages go at the same
    instant (the burst: fans wait for each other's recall). Then they talk: each starts
    E2E_SPAWN_S after the one before and sends its next message as soon as its reply has
    ended. Every message is new, so none is answered from the embedding cache."""
    import httpx
    import websockets

    from persona.engine.auth import issue_token

    async def turn(ws, fan: int, number: int) -> tuple[float, float]:
        """(time to first token, time to the end of the reply)"""
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "id": str(number), "text": f"Hi Haeun! I'm fan {fan} of {level}, message {number}. What are you sewing today?"}))
        first = None
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "delta" and first is None:
                first = time.perf_counter() - sent
            if frame["type"] in ("end", "error"):
                return (first if first is not None else float("nan")), time.perf_counter() - sent

    async def converse(ws, fan: int) -> list[tuple[float, float]]:
        await asyncio.sleep(fan * E2E_SPAWN_S)
        return [await turn(ws, fan, number) for number in range(1, max(3, E2E_TURNS // fans) + 1)]

    async def persona_layer() -> tuple:
        async with httpx.AsyncClient() as client:
            return read_histogram((await client.get(metrics_url)).text, "atelier_persona_layer_seconds")

    sockets = []
    try:
        for fan in range(fans):
            sockets.append(ws := await websockets.connect(url))
            await ws.send(json.dumps({"type": "hello", "token": issue_token(SECRET.encode(), f"e2e-{level}-{fan}", 3600), "persona": "haeun"}))
            await ws.recv()
        before = await persona_layer()
        burst = await asyncio.gather(*(turn(ws, fan, 0) for fan, ws in enumerate(sockets)))
        between = await persona_layer()
        conversation = [timing for timings in await asyncio.gather(*(converse(ws, fan) for fan, ws in enumerate(sockets))) for timing in timings]
        after = await persona_layer()
    finally:
        for ws in sockets:
            await ws.close()
    return {"burst": phase_figures(burst, before, between), "conversation": phase_figures(conversation, between, after)}


def phase_figures(timings: list[tuple[float, float]], before: tuple, after: tuple) -> dict:
    ttfts = sorted(first for first, _ in timings)
    replies = sorted(whole for _, whole in timings)
    mean, p50 = histogram_between(before, after)
    return {
        "turns": len(ttfts),
        "ttft_p50_s": round(ttfts[len(ttfts) // 2], 3),
        "ttft_p99_s": round(ttfts[min(int(len(ttfts) * 0.99), len(ttfts) - 1)], 3),
        "reply_p50_s": round(replies[len(replies) // 2], 3),
        "persona_layer_mean_ms": round(1000 * mean, 2),
        "persona_layer_p50_ms": round(1000 * p50, 2),
    }


def read_histogram(metrics_text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """(cumulative buckets as (upper bound, count), sum, count) of one Prometheus histogram."""
    buckets, total, count = [], 0.0, 0.0
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.split()[-1])))
        elif line.startswith(f"{name}_sum"):
            total = float(line.split()[-1])
        elif line.startswith(f"{name}_count"):
            count = float(line.split()[-1])
    return buckets, total, count


def histogram_between(before: tuple, after: tuple) -> tuple[float, float]:
    """Mean and p50 of the observations made between two reads of a histogram; the p50 is
    interpolated inside its bucket, as Prometheus' histogram_quantile does."""
    (buckets_before, sum_before, count_before), (buckets_after, sum_after, count_after) = before, after
    count = count_after - count_before
    if not count:
        return float("nan"), float("nan")
    lower, seen_below = 0.0, 0.0
    for (le, seen_after), (_, seen_before) in zip(buckets_after, buckets_before):
        seen = seen_after - seen_before
        if seen >= count / 2:
            if le == float("inf"):
                return (sum_after - sum_before) / count, lower
            return (sum_after - sum_before) / count, lower + (le - lower) * (count / 2 - seen_below) / max(seen - seen_below, 1e-9)
        lower, seen_below = le, seen
    return (sum_after - sum_before) / count, float("nan")


def end_to_end(levels: list[int]) -> dict:
    from serving_server import AtelierServer

    from persona.engine.settings import load_settings

    settings = load_settings()
    with tempfile.TemporaryDirectory() as data_dir:
        server = AtelierServer(settings.cache_path, Path(data_dir), dialogue__generation__max_tokens="16",
                               serving__connections_per_address="1000", serving__messages_per_minute="1000")
        server.env["ATELIER_SERVING__TOKEN_SECRET"] = SECRET
        with server:
            metrics = f"{server.url}/metrics"
            asyncio.run(e2e_level(server.ws_url, metrics, 1, "warm-up"))  # first prompts: caches warm
            return {f"{fans}_fans": asyncio.run(e2e_level(server.ws_url, metrics, fans, f"level-{fans}")) for fans in levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fans", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to count frames once every reply streams")
    parser.add_argument("--rate", type=float, default=10.0, help="tokens a second per fan")
    parser.add_argument("--sentence-tokens", type=int, default=12, help="tokens a sentence, so a frame (her replies reach fans a sentence at a time; 1: a frame a token)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the embedded-model part")
    parser.add_argument("--no-load", action="store_true", help="skip the load part")
    parser.add_argument("--serve", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pad", type=int, default=0, help=argparse.SUPPRESS)  # bytes added to each token (tests fill buffers fast)
    args = parser.parse_args()
    if args.serve:
        if args.serve == "ours":
            serve_ours(args.port, args.rate, args.tokens, args.sentence_tokens, args.pad)
        else:
            serve_bare(args.port, args.rate, args.tokens, args.sentence_tokens)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.fans + 1024)), hard))
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu()}
    if not args.no_load:
        result["load"] = load_side_by_side(args.fans, args.seconds, args.rate, args.sentence_tokens)
    if not args.no_e2e:
        result["end_to_end"] = end_to_end([1, 4, 16])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
