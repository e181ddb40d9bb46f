"""Pieces made for fans: prints one JSON object.

- from the fan's message to the finished artifact, through the director as the chat runs it
  (intent, her answer, the job on the shared runner, the piece kept under the fan and
  remembered): a song of --song-seconds (default 60), one look, one print; and the time to her
  answer ("give me a few minutes ...");
- the persona layer's p50 (policy, recall, prompt: before the model is asked) with requests
  read (intents on) and without, interleaved turn by turn over the same ordinary messages, in
  one process with SQLite memory: the cost reading every message adds to a turn.

The model is asked for one token per ordinary turn: the persona layer is what is measured.

Run: .venv/bin/python bench/creations.py [--song-seconds 60] [--turns 48]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from persona.engine.runtime import start_runtime  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402
from pipelines.cpu import describe_cpu  # noqa: E402

REQUESTS = {
    "song": "Could you write me a song for my rainy commute?",
    "look": "Would you design me a look for my sister's garden wedding?",
    "print": "Please make me a print with magnolias at dusk.",
}
ORDINARY = [
    "Hi! How was your day?", "What are you working on this week?", "I love your last song so much.",
    "My sister designs dresses too.", "Do you ever get tired of sewing?", "What's your favourite fabric?",
    "I saw the Han river at night yesterday.", "Do you like rainy days?", "What music do you listen to while you work?",
    "My cat Bori knocked over my coffee.", "Which colour do you wear most?", "Thanks for chatting with me!",
]


async def time_to_artifact(runtime, fan: str) -> dict:
    director, jobs = runtime.director, runtime.jobs
    session = await director.start_session(fan, "Minji", recent_turns=0)
    figures = {}
    for kind, message in REQUESTS.items():
        started = time.perf_counter()
        answer = "".join([piece async for piece in director.reply(session, message)])
        answered = time.perf_counter() - started
        order = session.last_turn.order
        if order is None or order.job is None:
            figures[kind] = {"error": f"not read as a request: {answer!r}"}
            continue
        job = await asyncio.to_thread(jobs.wait, order.job.id)
        figures[kind] = {"answer_s": round(answered, 3), "artifact_s": round(time.perf_counter() - started, 2), "status": job.status,
                         "title": job.result.title if job.status == "done" else job.error,
                         "bytes": sum(file.size for file in job.result.files) if job.status == "done" else 0}
    return figures


async def persona_layer(runtime, turns: int) -> dict:
    director = runtime.director
    commissions = director.commissions
    params = director.params.model_copy(update={"max_tokens": 1})
    session = await director.start_session("layer-fan", "Minji", recent_turns=0)
    layer = {"on": [], "off": []}
    for turn in range(turns):
        which = "on" if turn % 2 == 0 else "off"
        director.commissions = commissions if which == "on" else None
        async for _ in director.reply(session, ORDINARY[turn % len(ORDINARY)], params):
            pass
        if turn >= 2:  # the first turns warm caches
            layer[which].append(session.last_persona_s * 1000)
    director.commissions = commissions
    return {f"persona_layer_p50_ms_intents_{which}": round(statistics.median(times), 2) for which, times in layer.items()} | {
        "turns_each": len(layer["on"])}


async def main(args: argparse.Namespace) -> dict:
    data_dir = tempfile.mkdtemp(prefix="atelier-bench-creations-")
    settings = load_settings(environ={**os.environ, "ATELIER_MEMORY__DATA_DIR": data_dir, "ATELIER_DIALOGUE__ADAPTER": "none",
                                      "ATELIER_CREATIONS__SONG_SECONDS": str(args.song_seconds), "ATELIER_CREATIONS__FAN_DAILY_QUOTA": "100"})
    runtime = await start_runtime(settings, log=lambda line: print(line, file=sys.stderr))
    try:
        if runtime.director.commissions is None:
            raise SystemExit("creations are off in these settings (creations.enabled)")
        layer = await persona_layer(runtime, args.turns)
        pieces = await time_to_artifact(runtime, "bench-fan")
    finally:
        await runtime.aclose()
    return {"cpu": describe_cpu(), "date": time.strftime("%Y-%m-%d"), "song_seconds": args.song_seconds, "time_to_artifact": pieces, **layer}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--song-seconds", type=float, default=60)
    parser.add_argument("--turns", type=int, default=48)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
