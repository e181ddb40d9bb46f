"""Who makes a fan's piece once the job runner starts its job: this process (LocalMaker, the
default) or a creative-worker deployment on Ray Serve (RayMaker, `creations.workers: ray`).

    maker = LocalMaker(card, song_seconds=60, soundfont=None)
    creation = maker("song", "a song for the rain", facts, out_dir, progress)

Both give the Creation of persona/creations.py with the files a fan gets (preview, master, MIDI,
images; never the producers' stems zip) inside `out_dir`, and both call `progress(step,
fraction)` as the work goes, so cancelling a job stops it between steps wherever it runs.

On Ray the job runner still admits the job (quota, queue bound, progress events to the fan);
only the making moves: the job's thread sends the order to the Fashion or Music deployment
(their replicas own the CPUs or GPUs), hears its progress as a stream and receives the files.
The worker (CreativeWorker, wrapped as a deployment by serving/cluster.py) builds its maker
from its own settings, so a replica needs the persona cards and the music soundfont it names,
not the gateway's disk.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from persona.card import PersonaCard
from persona.creations import Creation, FanFacts, make_look, make_print, make_song
from persona.engine.jobs import JobCancelled, Progress

# The Serve application and deployment that make each kind (serving/cluster.py deploys them).
WORKER_FOR = {"look": ("fashion", "Fashion"), "print": ("fashion", "Fashion"), "song": ("music", "Music")}


class PieceMaker(Protocol):
    def __call__(self, kind: str, brief: str, facts: FanFacts, out_dir: Path, progress: Progress) -> Creation: ...


@dataclass(frozen=True)
class LocalMaker:
    """Makes pieces in this process, on the job runner's thread."""

    card: PersonaCard
    song_seconds: float = 60
    soundfont: Path | None = None

    def __call__(self, kind: str, brief: str, facts: FanFacts, out_dir: Path, progress: Progress) -> Creation:
        if kind == "song":
            creation = make_song(self.card, brief, facts, out_dir, seconds=self.song_seconds, soundfont=self.soundfont, progress=progress)
        elif kind == "look":
            creation = make_look(self.card, brief, facts, out_dir, progress=progress)
        elif kind == "print":
            creation = make_print(self.card, brief, facts, out_dir, progress=progress)
        else:
            raise ValueError(f"kind {kind!r} is not a piece she makes (look, print or song)")
        # A fan gets what a phone plays and a DAW opens (preview, master, MIDI); the bundle of 24-bit
        # stems (some 170 MB a minute) is the studio's, for producers.
        return replace(creation, files=[path for path in creation.files if path.suffix != ".zip"])


class CreativeWorker:
    """One replica of a creative-worker deployment: makes the pieces it is sent, one at a time,
    streaming {"step", "fraction"} events and then {"creation": its fields but the files, "files":
    {name: bytes}}."""

    def __init__(self, maker: PieceMaker | None = None) -> None:
        if maker is None:
            from persona.card import load_persona
            from persona.engine.settings import load_settings

            settings = load_settings(os.environ.get("ATELIER_CONFIG"))
            card = load_persona(settings.persona, settings.personas_dir)
            maker = LocalMaker(card, settings.creations.song_seconds, settings.music.soundfont)
        self.maker = maker
        self.where = replica_name()

    async def make(self, kind: str, brief: str, facts: FanFacts) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()  # set when the caller goes away: the maker stops at its next step

        def progress(step: str, fraction: float) -> None:
            if cancelled.is_set():
                raise JobCancelled("the gateway cancelled this piece")
            loop.call_soon_threadsafe(events.put_nowait, {"step": step, "fraction": fraction})

        with tempfile.TemporaryDirectory(prefix=f"atelier-worker-{kind}-") as scratch:
            making = asyncio.ensure_future(asyncio.to_thread(self.maker, kind, brief, facts, Path(scratch), progress))
            try:
                while not making.done():
                    waiting = asyncio.ensure_future(events.get())
                    await asyncio.wait({waiting, making}, return_when=asyncio.FIRST_COMPLETED)
                    if waiting.done():
                        yield waiting.result()
                    else:
                        waiting.cancel()
                while not events.empty():
                    yield events.get_nowait()
                creation = making.result()
            except BaseException:
                cancelled.set()
                await asyncio.shield(asyncio.wait({making}))  # the scratch folder goes only once the maker has stopped
                raise
            provenance = {**creation.provenance, "made_on": self.where}  # which replica made it, for whoever traces a piece
            fields = {name: value for name, value in asdict(creation).items() if name != "files"}
            yield {"creation": {**fields, "provenance": provenance}, "files": {path.name: path.read_bytes() for path in creation.files}}


def replica_name() -> str:
    """"Fashion replica 3kq9x1ab (pid 4242)" in a Serve replica; "pid 4242" elsewhere."""
    serve = sys.modules.get("ray.serve")  # loaded in every replica; not worth loading elsewhere
    try:
        context = serve.get_replica_context()  # type: ignore[union-attr]
        return f"{context.deployment} replica {context.replica_id.unique_id} (pid {os.getpid()})"
    except Exception:  # not in a replica
        return f"pid {os.getpid()}"


@dataclass(frozen=True)
class RayMaker:
    """Sends each piece to the creative-worker deployment that makes its kind (WORKER_FOR). Call
    it from a plain thread (the job runner's), not an event loop."""

    def __call__(self, kind: str, brief: str, facts: FanFacts, out_dir: Path, progress: Progress) -> Creation:
        if kind not in WORKER_FOR:
            raise ValueError(f"kind {kind!r} is not a piece she makes (look, print or song)")
        from ray import serve

        app_name, deployment = WORKER_FOR[kind]
        handle = serve.get_deployment_handle(deployment, app_name=app_name)
        stream = handle.options(stream=True).make.remote(kind, brief, facts)
        try:
            for event in stream:
                if "creation" in event:
                    return self._unpack(event, out_dir)
                progress(event["step"], event["fraction"])
        except BaseException:
            stream.cancel()  # the worker's maker stops at its next step
            raise
        raise RuntimeError(f"the {deployment} worker ended without sending the {kind}")

    def _unpack(self, event: dict[str, Any], out_dir: Path) -> Creation:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for name, content in event["files"].items():
            if Path(name).name != name or name in ("", ".", ".."):
                raise RuntimeError(f"a worker sent a file name that is not a plain name: {name!r}")
            (out_dir / name).write_bytes(content)
            files.append(out_dir / name)
        return Creation(**event["creation"], files=files)
