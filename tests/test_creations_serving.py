"""Pieces made for fans, end to end: a real `atelier serve`, real `websockets` clients and the
`openai` SDK. A fan asks in plain words, gets `job` frames and an `artifact` whose signed URLs
download files that third-party readers accept; nobody else can open them; a reconnect mid-job
still delivers the piece once; she remembers it in a later session; `memory forget` deletes it."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import mido
import pytest
import soundfile
from PIL import Image

from conftest import atelier
from persona.creations import untrue_facts
from persona.engine.artifacts import ArtifactStore
from serving_server import AtelierServer, Client, token

JOBS = {"accepts": ["jobs"]}


@pytest.fixture(scope="module")
def server(cache_dir, model_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("creations")
    with AtelierServer(cache_dir, data_dir, creations__song_seconds="8", creations__fan_daily_quota="4", serving__message_burst="8") as running:
        yield running


def store_of(server: AtelierServer) -> ArtifactStore:
    return ArtifactStore(Path(server.env["ATELIER_MEMORY__DATA_DIR"]) / "artifacts", max_bytes_per_fan=2**30)


async def receive_piece(client: Client, job_id: str | None = None) -> tuple[list[dict], dict]:
    """The `job` frames of one job up to its end, and the `artifact` that follows."""
    jobs = []
    while True:
        frame = await client.until("job", "artifact", "error")
        assert frame["type"] != "error", frame
        if frame["type"] == "artifact" and (job_id is None or frame["job"] == job_id):
            return jobs, frame
        if frame["type"] == "job" and (job_id is None or frame["job"] == job_id):
            jobs.append(frame)
            assert frame["status"] not in ("failed", "cancelled"), frame


def download(server: AtelierServer, url: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}{url}", headers=headers, timeout=60)


def file_url(artifact: dict, name: str) -> str:
    return next(file["url"] for file in artifact["files"] if file["name"] == name)


async def test_a_fan_asks_for_a_song_in_plain_words_and_gets_files_only_they_can_open(server):
    fan = await Client.connect(server, "rain-fan", hello=JOBS)
    ready = await fan.until("ready")
    assert ready["capabilities"] == ["jobs"]
    await fan.send(type="message", id="m1", text="Could you write me a song for my rainy commute?")
    end = await fan.until("end")
    assert "piano" in end["text"] and end["usage"]["completion_tokens"] == 0  # she took it on; the model was not asked
    jobs, artifact = await receive_piece(fan)
    assert jobs[0]["request"] == "m1" and jobs[0]["kind"] == "song" and jobs[-1]["status"] == "done"
    assert [job["progress"] for job in jobs] == sorted(job["progress"] for job in jobs)
    assert artifact["kind"] == "song" and artifact["job"] == jobs[0]["job"]
    await fan.close()

    preview = download(server, file_url(artifact, "preview.ogg"))
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/ogg"
    audio, rate = soundfile.read(io.BytesIO(preview.content))
    assert rate == 48_000 and len(audio) / rate > 6 and abs(audio).max() > 0.01
    assert soundfile.info(io.BytesIO(preview.content)).subtype == "OPUS"
    midi_name = next(file["name"] for file in artifact["files"] if file["name"].endswith(".mid"))
    midi = mido.MidiFile(file=io.BytesIO(download(server, file_url(artifact, midi_name)).content))
    assert midi.type == 1 and sum(message.type == "note_on" for track in midi.tracks for message in track) > 10
    ranged = download(server, file_url(artifact, "preview.ogg"), Range="bytes=0-99")
    assert ranged.status_code == 206 and len(ranged.content) == 100 and ranged.content == preview.content[:100]
    assert Image.open(io.BytesIO(download(server, artifact["preview"]).content)).size[0] > 100  # the piano roll

    assert untrue_facts(artifact["description"], artifact["summary"]) == []  # what she says about it is what it is

    url = file_url(artifact, "preview.ogg")
    tampered = url.replace("sig=", "sig=0") if "sig=0" not in url else url.replace("sig=0", "sig=1")
    assert download(server, tampered).status_code == 404
    unsigned = urlsplit(url).path
    assert download(server, unsigned).status_code == 404
    assert download(server, unsigned, Authorization=f"Bearer {token('someone-else')}").status_code == 404
    assert download(server, unsigned, Authorization=f"Bearer {token('rain-fan')}").status_code == 200
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert expires > time.time()


async def test_a_look_and_a_print_from_create_frames(server):
    fan = await Client.connect(server, "button-fan", hello=JOBS)
    await fan.until("ready")
    await fan.send(type="create", id="c1", kind="look", brief="a linen look for my sister's garden wedding")
    _, look = await receive_piece(fan)
    await fan.send(type="create", id="c1", kind="look", brief="a resend")  # the same id: no second job
    resent = await fan.until("job")
    assert resent["job"] == look["job"] and resent["status"] == "done"
    await fan.send(type="create", id="c2", kind="print", brief="magnolias at dusk")
    _, printed = await receive_piece(fan)
    await fan.close()

    assert look["kind"] == "look" and printed["kind"] == "print"
    image = Image.open(io.BytesIO(download(server, look["preview"]).content))
    assert image.format == "PNG" and min(image.size) > 100
    tile = Image.open(io.BytesIO(download(server, printed["preview"]).content))
    assert tile.format == "PNG"
    for name in (file["name"] for file in look["files"] if file["name"].endswith(".json")):
        json.loads(download(server, file_url(look, name)).content)  # the spec is JSON
    listed = [artifact.kind for artifact in store_of(server).list("button-fan")]
    assert sorted(listed) == ["look", "print"]


async def test_a_reconnect_mid_job_still_delivers_the_piece_once(server):
    fan = await Client.connect(server, "away-fan", hello=JOBS)
    ready = await fan.until("ready")
    await fan.send(type="create", id="c1", kind="song", brief="a lullaby for my cat Mochi")
    queued = await fan.until("job")
    await fan.close()  # gone while the song is made

    back = await Client.connect(server, "away-fan", resume={"session": ready["session"], "last_seq": fan.last_seq}, hello=JOBS)
    back.last_seq = fan.last_seq
    _, artifact = await receive_piece(back, queued["job"])
    assert artifact["kind"] == "song"
    await back.send(type="ping", nonce="after")
    rest = []
    while (frame := await back.receive())["type"] != "pong":
        rest.append(frame)
    assert not [frame for frame in rest if frame["type"] == "artifact"]  # once
    await back.close()


async def test_a_piece_finished_while_the_fan_was_away_comes_at_their_next_hello(server):
    fan = await Client.connect(server, "later-fan", hello=JOBS)
    await fan.until("ready")
    await fan.send(type="create", id="c1", kind="print", brief="rain on a window")
    await fan.until("job")
    await fan.close()
    store = store_of(server)
    deadline = time.monotonic() + 300
    while not store.list("later-fan"):
        assert time.monotonic() < deadline, "the print was never made"
        await asyncio.sleep(0.2)

    again = await Client.connect(server, "later-fan", hello=JOBS)  # a new session, no resume
    await again.until("ready")
    artifact = await again.until("artifact")
    assert artifact["kind"] == "print" and artifact["artifact"] == store.list("later-fan")[0].id
    await again.close()
    third = await Client.connect(server, "later-fan", hello=JOBS)
    await third.until("ready")
    await third.send(type="ping", nonce="x")
    assert (await third.until("pong", "artifact"))["type"] == "pong"  # delivered once
    await third.close()


async def test_she_remembers_the_song_and_forget_deletes_the_files(server):
    fan = await Client.connect(server, "memory-fan", hello=JOBS)
    await fan.until("ready")
    await fan.send(type="message", id="m1", text="Please write me a song about the sea in Busan")
    await fan.until("end")
    _, artifact = await receive_piece(fan)
    await fan.close()

    later = await Client.connect(server, "memory-fan", hello=JOBS)  # the next session
    await later.until("ready")
    await later.send(type="message", id="m2", text="Could you send me the song again?")
    end = await later.until("end")
    again = await later.until("artifact")
    assert artifact["title"] in end["text"] and again["artifact"] == artifact["artifact"]
    assert download(server, file_url(again, "preview.ogg")).status_code == 200
    await later.close()

    exported = json.loads(atelier("memory", "export", "--fan", "memory-fan", env=server.env).stdout)
    remembered = [m for m in exported["memories"] if m["kind"] == "artifact"]
    assert len(remembered) == 1 and remembered[0]["key"] == artifact["artifact"] and artifact["title"] in remembered[0]["text"]
    assert [a["id"] for a in exported["artifacts"]] == [artifact["artifact"]]

    folder = store_of(server).file_path("memory-fan", artifact["artifact"], "preview.ogg")
    assert folder is not None and folder.is_file()
    result = atelier("memory", "forget", "--fan", "memory-fan", env=server.env)
    assert "1 piece" in result.stdout
    assert not folder.exists() and download(server, file_url(artifact, "preview.ogg")).status_code == 404


def test_the_openai_sdk_fan_gets_the_piece_as_markdown_on_the_next_reply(server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key=token("sdk-creator"), max_retries=0, timeout=120)
    first = client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": "Can you make me a print with lemons on it?"}])
    assert "colours" in first.choices[0].message.content
    store = store_of(server)
    deadline = time.monotonic() + 300
    while not store.list("sdk-creator"):
        assert time.monotonic() < deadline, "the print was never made"
        time.sleep(0.2)
    second = client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": "Thank you!"}], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in second if chunk.choices)
    links = [part.split(")")[0] for part in text.split("](")[1:]]
    assert links and all(link.startswith("/artifacts/") for link in links)
    assert download(server, links[0]).status_code == 200
    third = client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": "Bye!"}])
    assert "/artifacts/" not in third.choices[0].message.content  # delivered once


async def test_a_fan_cancels_a_piece_and_cannot_cancel_anyone_elses(server):
    fan = await Client.connect(server, "cancel-fan", hello=JOBS)
    await fan.until("ready")
    await fan.send(type="create", id="c1", kind="song", brief="a slow waltz for a rainy Sunday")
    first = await fan.until("job")
    await fan.send(type="create", id="c2", kind="song", brief="a second waltz")  # behind the first on the one runner
    second = first
    while second["job"] == first["job"]:
        second = await fan.until("job")
    await fan.send(type="cancel", job=second["job"])
    while not (second["status"] in ("done", "failed", "cancelled") and second["job"] != first["job"]):
        second = await fan.until("job")
    assert second["status"] == "cancelled" and second["request"] == "c2"

    other = await Client.connect(server, "someone-else", hello=JOBS)
    await other.until("ready")
    await other.send(type="cancel", job=first["job"])
    refused = await other.until("error")
    assert refused["code"] == "not_found"
    await other.close()
    await receive_piece(fan, first["job"])  # the first one still arrives
    await fan.close()
    assert len(store_of(server).list("cancel-fan")) == 1  # the cancelled one left nothing behind


async def test_her_portfolio_published_beside_the_running_server_is_shown_to_every_fan(server, tmp_path):
    from persona.engine.library import Library
    from portfolio_helpers import studio_work

    with Library(Path(server.env["ATELIER_MEMORY__DATA_DIR"]) / "studio") as library:
        made = studio_work(library, tmp_path / "made")
    published = atelier("portfolio", "publish", made["look"].id, env=server.env)
    assert published.returncode == 0 and "fans may ask to see it now" in published.stdout, published.stderr
    embargoed = atelier("portfolio", "publish", made["collection"].id, "--release", "2099-03-01", env=server.env)
    assert "under embargo until 2099-03-01" in embargoed.stdout, embargoed.stderr
    refused = atelier("portfolio", "publish", made["chat"].id, env=server.env)
    assert refused.returncode == 1 and "'chat' cannot be published" in refused.stderr
    listed = {row["kind"]: row for row in json.loads(atelier("portfolio", "list", "--json", env=server.env).stdout)}
    assert listed["look"]["status"] == "released" and listed["collection"]["status"] == "embargoed"

    fan = await Client.connect(server, "any-fan", hello=JOBS)  # a fan who never asked her for anything
    await fan.until("ready")
    await fan.send(type="message", id="w1", text="show me what you're working on")
    end = await fan.until("end")
    shown = await fan.until("artifact")
    await fan.close()
    assert "Moon Tide" in end["text"] and "2099" not in end["text"] and "Tidal" not in end["text"]
    assert shown["public"] is True and shown["expires"] is None and shown["kind"] == "look" and shown["artifact"] == listed["look"]["id"]
    image = download(server, shown["preview"])  # no token, no signature: it is public
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).format == "PNG"
    assert image.headers["cache-control"].startswith("public")
    secret = f"/portfolio/{listed['collection']['id']}/board.png"
    assert download(server, secret).status_code == 404
    assert download(server, secret, Authorization=f"Bearer {token('any-fan')}").status_code == 404  # not before its day, for anyone

    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key=token("sdk-viewer"), max_retries=0, timeout=120)
    reply = client.chat.completions.create(model="haeun", messages=[{"role": "user", "content": "can I see your latest work?"}])
    assert f"/portfolio/{shown['artifact']}/" in reply.choices[0].message.content

    assert atelier("portfolio", "unpublish", shown["artifact"], env=server.env).returncode == 0
    assert download(server, shown["preview"]).status_code == 404
