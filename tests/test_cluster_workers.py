"""A creative worker's side of making a fan's piece (persona/engine/workers.py), without Ray: the
stream a worker replica sends back (progress, then the piece with its files' bytes), a caller
that goes away stopping the maker at its next step, and the gateway's side rebuilding the piece
from what it was sent. The same worker on a real Ray is in tests/test_cluster.py."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from persona.creations import FanFacts
from persona.engine.jobs import JobCancelled
from persona.engine.workers import CreativeWorker, LocalMaker, RayMaker


async def test_a_worker_streams_progress_then_the_piece_with_its_files(haeun, tmp_path):
    worker = CreativeWorker(LocalMaker(haeun))
    events = [event async for event in worker.make("print", "a print with lemons on it", FanFacts(name="Minji", notes=[]))]
    progress, made = events[:-1], events[-1]
    assert progress and all(set(event) == {"step", "fraction"} for event in progress)
    assert [event["fraction"] for event in progress] == sorted(event["fraction"] for event in progress)
    assert made["creation"]["kind"] == "print" and made["creation"]["provenance"]["made_on"].startswith("pid ")
    assert made["creation"]["preview"] in made["files"] and all(made["files"].values())

    creation = RayMaker()._unpack(made, tmp_path / "piece")  # what the gateway rebuilds
    assert creation.files == [tmp_path / "piece" / name for name in made["files"]]
    assert [path.read_bytes() for path in creation.files] == list(made["files"].values())
    assert Image.open(creation.preview_path).size[0] >= 256
    assert creation.title == made["creation"]["title"] and creation.description == made["creation"]["description"]


async def test_a_song_from_a_worker_leaves_the_producers_stems_behind(haeun):
    worker = CreativeWorker(LocalMaker(haeun, song_seconds=8))
    made = [event async for event in worker.make("song", "a short song for the rain", FanFacts())][-1]
    assert "master.wav" in made["files"] and not any(name.endswith(".zip") for name in made["files"])


async def test_a_caller_that_goes_away_stops_the_maker_at_its_next_step():
    steps, stopped = [], threading.Event()

    def slow_maker(kind, brief, facts, out_dir, progress):
        try:
            for step in range(100):
                progress(f"step {step}", step / 100)
                steps.append(step)
                stopped.wait(0.05)
        except JobCancelled:
            stopped.set()
            raise
        raise AssertionError("the maker was never stopped")

    stream = CreativeWorker(slow_maker).make("look", "a coat", FanFacts())
    assert (await anext(stream))["step"] == "step 0"
    await stream.aclose()  # what Serve does when the gateway cancels the request; it returns once the maker has stopped
    assert stopped.is_set() and len(steps) < 100


def test_a_worker_may_only_send_plain_file_names(tmp_path):
    made = {"creation": {}, "files": {"../escape.png": b"x"}}
    with pytest.raises(RuntimeError, match="not a plain name"):
        RayMaker()._unpack(made, tmp_path)
    assert not (tmp_path.parent / "escape.png").exists()


def test_an_unknown_kind_is_refused_by_name(haeun, tmp_path):
    with pytest.raises(ValueError, match="'poem' is not a piece she makes"):
        LocalMaker(haeun)("poem", "a poem", FanFacts(), tmp_path, lambda *_: None)
    with pytest.raises(ValueError, match="'poem' is not a piece she makes"):
        RayMaker()("poem", "a poem", FanFacts(), tmp_path, lambda *_: None)


@pytest.mark.parametrize(("arguments", "says"), [
    (["--fashion", "1"], "give --fashion and --music together"),
    (["--replicas", "0"], "give 1 to 64 replicas, got 0"),
    (["--dialogue", "two"], "'two' is not a whole number of replicas"),
    (["--music", "-1", "--fashion", "1"], "give 0 to 64 replicas, got -1"),
])
def test_cluster_run_names_what_is_wrong_before_starting_anything(arguments, says, tmp_path):
    from conftest import atelier

    env = {"ATELIER_CACHE_DIR": str(tmp_path), "ATELIER_SESSIONS__BACKEND": "redis"}
    result = atelier("cluster", "run", *arguments, env=env)
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "models").exists()
