"""Fans' artifacts: the store (atomic adds, a per-fan bound that drops the oldest first, forget,
isolation between fans, bad names) and the files served over a real uvicorn server to their
fan only, by signed URL or by the fan's own token; every refusal a plain 404."""

from __future__ import annotations

import datetime as dt
import http.client
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from persona.engine.artifacts import ArtifactStore, FanArtifact, UrlSigner, owner_key
from persona.engine.auth import issue_token
from serving.artifact_files import routes

URL_SECRET = b"artifact-url-secret-0123456789abcdef"
TOKEN_SECRET = b"fan-token-secret-0123456789abcdef0123"


def make_file(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(bytes((seed + index * 7) % 251 for index in range(size)))
    return path


def song_files(folder: Path, sizes: tuple[int, int, int] = (300, 40, 60)) -> list[Path]:
    names = ("master.wav", "song.mid", "preview.ogg")
    return [make_file(folder, name, size, seed) for seed, (name, size) in enumerate(zip(names, sizes, strict=True), start=1)]


def listed_ids(store: ArtifactStore, owner: str) -> list[str]:
    return [artifact.id for artifact in store.list(owner)]


def leftovers(store: ArtifactStore) -> list[Path]:
    return [*store.staging.iterdir(), *store.trash.iterdir()]


# --- the store -------------------------------------------------------------------------------


def test_add_copies_the_files_in_with_their_types_and_metadata(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    files = song_files(tmp_path / "job")

    song = store.add(
        "fan-a", "song", "Violet Hour", files, brief="a slow song about rain", description="Rain on a window, in A minor.",
        summary={"key": "A minor", "bpm": 72}, provenance={"model": "symbolic composer"}, fingerprint={"contour": [1, 2]},
    )

    assert song.owner == "fan-a" and song.kind == "song" and song.title == "Violet Hour"
    assert song.created.tzinfo is not None and song.created.utcoffset() == dt.timedelta(0)
    assert [(f.name, f.media_type, f.size, f.role) for f in song.files] == [
        ("master.wav", "audio/wav", 300, "audio"),
        ("song.mid", "audio/midi", 40, "midi"),
        ("preview.ogg", "audio/ogg", 60, "audio_preview"),
    ]
    assert store.get("fan-a", song.id) == song
    assert store.list("fan-a") == [song]
    assert store.usage("fan-a") == 400
    for source in files:
        stored = store.file_path("fan-a", song.id, source.name)
        assert stored.read_bytes() == source.read_bytes() and stored != source
        assert stored.parent.parent == store.root / owner_key("fan-a")
    assert leftovers(store) == []

    reopened = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)  # it is all on disk
    assert reopened.list("fan-a") == [song]


def test_media_types_roles_and_preview_image(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    names = ["look.png", "tile.webp", "flat-front.svg", "lookbook.pdf", "bundle.zip", "manifest.json", "take.mp3", "take.opus"]
    files = [make_file(tmp_path / "job", name, 10) for name in names]

    look = store.add("fan-a", "look", "Venus Garden", files, brief="flowers", preview="look.png", roles={"tile.webp": "print_tile"})

    assert {f.name: (f.media_type, f.role) for f in look.files} == {
        "look.png": ("image/png", "image"), "tile.webp": ("image/webp", "print_tile"), "flat-front.svg": ("image/svg+xml", "image"),
        "lookbook.pdf": ("application/pdf", "document"), "bundle.zip": ("application/zip", "bundle"),
        "manifest.json": ("application/json", "manifest"),
        "take.mp3": ("audio/mpeg", "audio_preview"), "take.opus": ("audio/ogg", "audio_preview"),
    }
    assert look.preview == "look.png"


def test_list_is_newest_first(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    added = [store.add("fan-a", "print", f"Print {n}", [make_file(tmp_path / f"job{n}", "tile.png", 10)], brief="") for n in range(4)]

    assert listed_ids(store, "fan-a") == [artifact.id for artifact in reversed(added)]
    assert [artifact.created for artifact in store.list("fan-a")] == sorted((a.created for a in added), reverse=True)


def test_over_the_bound_the_oldest_go_first_never_the_new_one(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=1_000)
    first, second, third = (store.add("fan-a", "song", f"Song {n}", song_files(tmp_path / f"job{n}"), brief="") for n in range(3))
    assert store.usage("fan-a") == 1_200 - 400  # 3 x 400 bytes: the first went when the third came

    assert listed_ids(store, "fan-a") == [third.id, second.id]
    assert store.get("fan-a", first.id) is None
    assert not (store.root / owner_key("fan-a") / first.id).exists()  # its files left the disk

    big = store.add("fan-a", "look", "Big Look", [make_file(tmp_path / "big", "look.png", 950)], brief="")  # needs both gone
    assert listed_ids(store, "fan-a") == [big.id] and store.usage("fan-a") == 950
    assert sorted(path.name for path in (store.root / owner_key("fan-a")).iterdir()) == [big.id]
    assert leftovers(store) == []


def test_an_artifact_bigger_than_the_bound_is_refused_and_nothing_is_kept_or_evicted(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=1_000)
    kept = store.add("fan-a", "song", "Kept", song_files(tmp_path / "job"), brief="")

    with pytest.raises(ValueError, match=r"'Too Big' is 1,001 bytes, more than a fan may keep \(1,000 bytes\); nothing was kept"):
        store.add("fan-a", "look", "Too Big", [make_file(tmp_path / "big", "look.png", 1_001)], brief="")

    assert listed_ids(store, "fan-a") == [kept.id] and store.usage("fan-a") == 400
    assert leftovers(store) == []


def test_bad_files_get_a_clear_error_naming_them_and_nothing_is_kept(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    good = make_file(tmp_path / "job", "look.png", 10)
    other = make_file(tmp_path / "other", "look.png", 10)
    cases = {
        "my look.png": r"file name 'my look.png' .* is not a plain safe name",
        ".hidden.png": r"file name '.hidden.png' .* is not a plain safe name",
        "look.exe": r"file 'look.exe' has a suffix a fan cannot receive",
        "missing.png": r"file 'missing.png' does not exist",
    }
    for name, message in cases.items():
        path = tmp_path / "job" / name
        if name != "missing.png":
            path.write_bytes(b"x")
        with pytest.raises(ValueError, match=message):
            store.add("fan-a", "look", "Look", [good, path], brief="")
    with pytest.raises(ValueError, match=r"file name 'look.png' appears twice"):
        store.add("fan-a", "look", "Look", [good, other], brief="")
    with pytest.raises(ValueError, match=r"preview 'song.mid' must name one of the artifact's image files"):
        store.add("fan-a", "look", "Look", [good, make_file(tmp_path / "job", "song.mid", 4)], brief="", preview="song.mid")
    with pytest.raises(ValueError, match="title"):
        store.add("fan-a", "look", "", [good], brief="")
    with pytest.raises(ValueError, match="kind"):
        store.add("fan-a", "poem", "Look", [good], brief="")
    with pytest.raises(ValueError, match="at least one file"):
        store.add("fan-a", "look", "Look", [], brief="")

    assert store.list("fan-a") == [] and store.usage("fan-a") == 0
    assert leftovers(store) == []


def test_a_copy_that_fails_halfway_leaves_nothing_listed_or_on_disk(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    files = song_files(tmp_path / "job")
    real_copy = shutil.copyfile

    def copy_then_fail(source, target):
        if Path(source).name == "preview.ogg":
            raise OSError(28, "No space left on device")
        return real_copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(ValueError, match=r"file 'preview.ogg' could not be copied in .*No space left on device"):
        store.add("fan-a", "song", "Half", files, brief="")

    assert store.list("fan-a") == []
    assert leftovers(store) == []
    assert not (store.root / owner_key("fan-a")).exists() or not any((store.root / owner_key("fan-a")).iterdir())


def test_another_fan_never_sees_an_artifact(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    song = store.add("fan-a", "song", "Mine", song_files(tmp_path / "job"), brief="")

    assert store.list("fan-b") == [] and store.usage("fan-b") == 0
    assert store.get("fan-b", song.id) is None
    assert store.file_path("fan-b", song.id, "master.wav") is None
    assert store.find_file(owner_key("fan-b"), song.id, "master.wav") is None
    assert store.forget("fan-b") == 0
    assert store.list("fan-a") == [song]


def test_file_path_never_leaves_the_owners_folder(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    song = store.add("fan-a", "song", "Mine", song_files(tmp_path / "job"), brief="")
    (store.root / "secret.wav").write_bytes(b"not yours")

    for artifact_id, name in [
        (song.id, ".artifact.json"), (song.id, ".."), (song.id, "../../secret.wav"), (song.id, "master.wav/"),
        (song.id, "master.wav\0"), (song.id, "/etc/passwd"), (song.id, ""),
        (song.id, "MASTER.WAV"), (song.id, "unknown.wav"),
        ("..", "secret.wav"), (f"{song.id}/..", "master.wav"), (song.id + "\0", "master.wav"),
        ("", "master.wav"), (".staging", "master.wav"),
    ]:
        assert store.file_path("fan-a", artifact_id, name) is None, (artifact_id, name)
    for key in ["..", "../" + owner_key("fan-a"), owner_key("fan-a").upper(), ".staging", ""]:
        assert store.find_file(key, song.id, "master.wav") is None, key
    assert store.get("fan-a", "../" + song.id) is None


def test_fan_ids_may_hold_any_characters(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    owners = ["fan-a", "팬/../../etc", "a\0b", "fan-a "]
    keys = {owner_key(owner) for owner in owners}
    assert len(keys) == len(owners) and all(len(key) == 32 and key.isalnum() for key in keys)

    for n, owner in enumerate(owners):
        store.add(owner, "print", f"Print {n}", [make_file(tmp_path / f"job{n}", "tile.png", 10 + n)], brief="")
    assert sorted(path.name for path in store.root.iterdir() if not path.name.startswith(".")) == sorted(keys)
    assert [[artifact.title for artifact in store.list(owner)] for owner in owners] == [[f"Print {n}"] for n in range(len(owners))]
    with pytest.raises(ValueError, match="non-empty fan id"):
        store.add("", "print", "Nobody's", [make_file(tmp_path / "job", "tile.png", 1)], brief="")


def test_forget_removes_every_artifact_and_file_of_that_fan_only(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=10_000)
    for n in range(3):
        store.add("fan-a", "song", f"Song {n}", song_files(tmp_path / f"a{n}"), brief="")
    theirs = store.add("fan-b", "song", "Theirs", song_files(tmp_path / "b"), brief="")

    assert store.forget("fan-a") == 3

    assert store.list("fan-a") == [] and store.usage("fan-a") == 0
    assert not (store.root / owner_key("fan-a")).exists()
    assert leftovers(store) == []
    assert store.list("fan-b") == [theirs] and store.file_path("fan-b", theirs.id, "master.wav").is_file()
    assert store.forget("fan-a") == 0


def test_adds_from_many_threads_keep_the_bound_and_lose_nothing_half_done(tmp_path):
    store = ArtifactStore(tmp_path / "store", max_bytes_per_fan=2_000)
    errors: list[BaseException] = []
    added: list[FanArtifact] = []

    def worker(n: int) -> None:
        try:
            for m in range(5):
                added.append(store.add("fan-a", "song", f"Song {n}.{m}", song_files(tmp_path / f"job{n}-{m}"), brief=""))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({artifact.id for artifact in added}) == 30
    kept = store.list("fan-a")
    assert store.usage("fan-a") == 400 * len(kept) <= 2_000 and len(kept) == 5
    assert [artifact.id for artifact in kept] == sorted((artifact.id for artifact in added), reverse=True)[:5]  # the newest five
    assert all(store.file_path("fan-a", artifact.id, "master.wav").stat().st_size == 300 for artifact in kept)
    assert leftovers(store) == []


# --- signed URLs -----------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str, str, str, str]:
    path, _, query = url.partition("?")
    _, prefix, key, artifact_id, name = path.split("/")
    params = dict(part.split("=") for part in query.split("&"))
    assert prefix == "artifacts"
    return key, artifact_id, name, params["expires"], params["sig"]


def test_a_signed_url_opens_one_file_until_it_expires():
    signer = UrlSigner(URL_SECRET)
    artifact_id = "0123456789abcdef-01234567"
    url = signer.url("fan-a", artifact_id, "preview.ogg", ttl_s=600, now=1_000_000)

    key, got_id, name, expires, sig = split_url(url)
    assert (key, got_id, name, expires) == (owner_key("fan-a"), artifact_id, "preview.ogg", "1000600")
    assert len(sig) == 64
    assert signer.check(key, artifact_id, name, expires, sig, now=1_000_599)
    assert signer.check(key, artifact_id, name, int(expires), sig, now=1_000_000)

    assert not signer.check(key, artifact_id, name, expires, sig, now=1_000_600)  # expired
    assert not signer.check(key, artifact_id, "master.wav", expires, sig, now=1_000_000)  # another file
    assert not signer.check(owner_key("fan-b"), artifact_id, name, expires, sig, now=1_000_000)  # another fan
    assert not signer.check(key, "0123456789abcdef-0123456f", name, expires, sig, now=1_000_000)  # another artifact
    assert not signer.check(key, artifact_id, name, "1000601", sig, now=1_000_000)  # a later expiry
    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert not signer.check(key, artifact_id, name, expires, tampered, now=1_000_000)
    assert not UrlSigner(b"another-secret-0123456789").check(key, artifact_id, name, expires, sig, now=1_000_000)
    malformed = [("+1000600", sig), (" 1000600", sig), ("1e9", sig), (expires, sig.upper()), (expires, "é" * 64), (expires, "")]
    for bad_expires, bad_sig in malformed:
        assert not signer.check(key, artifact_id, name, bad_expires, bad_sig, now=1_000_000)


def test_signing_refuses_what_could_not_be_a_file():
    signer = UrlSigner(URL_SECRET)
    with pytest.raises(ValueError, match="not an artifact file name"):
        signer.url("fan-a", "0123456789abcdef-01234567", "../x.wav", ttl_s=60)
    with pytest.raises(ValueError, match="not an artifact id"):
        signer.url("fan-a", "..", "x.wav", ttl_s=60)
    with pytest.raises(ValueError, match="lifetime must be positive"):
        signer.url("fan-a", "0123456789abcdef-01234567", "x.wav", ttl_s=0)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UrlSigner(b"short")


# --- over HTTP, on a real server -------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """uvicorn on 127.0.0.1 serving the artifact routes, with fan-a's song and fan-b's look."""
    folder = tmp_path_factory.mktemp("served")
    store = ArtifactStore(folder / "store", max_bytes_per_fan=10 * 2**20)
    song = store.add("fan-a", "song", "Violet Hour", song_files(folder / "song", sizes=(200_000, 500, 3_000)), brief="rain")
    look = store.add("fan-b", "look", "Venus", [make_file(folder / "look", "look.png", 5_000, 9)], brief="flowers", preview="look.png")
    app = Starlette(routes=routes)
    app.state.service = SimpleNamespace(artifacts=store, url_signer=UrlSigner(URL_SECRET), secret=TOKEN_SECRET)

    # The socket listens before uvicorn starts, so the first request simply waits to be accepted.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield SimpleNamespace(client=client, port=port, store=store, signer=app.state.service.url_signer, song=song, look=look)
    server.should_exit = True
    thread.join(timeout=30)
    listener.close()


def bearer(fan: str, secret: bytes = TOKEN_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, fan, 3600)}"}


def file_url(served, owner: str, artifact: FanArtifact, name: str) -> str:
    return f"/artifacts/{owner_key(owner)}/{artifact.id}/{name}"


def assert_plain_404(response: httpx.Response) -> None:
    assert (response.status_code, response.text) == (404, "Not Found")
    assert "content-range" not in response.headers and "etag" not in response.headers


def test_a_signed_url_downloads_the_exact_bytes_with_the_right_type(served):
    for owner, artifact, name, media_type in [
        ("fan-a", served.song, "master.wav", "audio/wav"), ("fan-a", served.song, "song.mid", "audio/midi"),
        ("fan-a", served.song, "preview.ogg", "audio/ogg"), ("fan-b", served.look, "look.png", "image/png"),
    ]:
        response = served.client.get(served.signer.url(owner, artifact.id, name, ttl_s=300))
        expected = served.store.file_path(owner, artifact.id, name).read_bytes()
        assert response.status_code == 200, name
        assert response.content == expected
        assert response.headers["content-type"] == media_type
        assert response.headers["content-length"] == str(len(expected))
        assert response.headers["cache-control"] == "private"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["accept-ranges"] == "bytes"


def test_head_answers_the_headers_only(served):
    response = served.client.head(served.signer.url("fan-a", served.song.id, "master.wav", ttl_s=300))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == "200000" and response.headers["content-type"] == "audio/wav"


def test_a_range_request_gets_206_and_exactly_that_slice(served):
    url = served.signer.url("fan-a", served.song.id, "master.wav", ttl_s=300)
    whole = served.store.file_path("fan-a", served.song.id, "master.wav").read_bytes()

    middle = served.client.get(url, headers={"Range": "bytes=1000-65999"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == "bytes 1000-65999/200000"
    assert middle.headers["content-length"] == "65000"
    assert middle.content == whole[1000:66000]

    tail = served.client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole[-100:]
    assert tail.headers["content-range"] == "bytes 199900-199999/200000"

    beyond = served.client.get(url, headers={"Range": "bytes=300000-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == "bytes */200000"


def test_the_owners_token_opens_their_files(served):
    response = served.client.get(file_url(served, "fan-a", served.song, "preview.ogg"), headers=bearer("fan-a"))
    assert response.status_code == 200
    assert response.content == served.store.file_path("fan-a", served.song.id, "preview.ogg").read_bytes()
    ranged = served.client.get(file_url(served, "fan-b", served.look, "look.png"), headers={**bearer("fan-b"), "Range": "bytes=0-9"})
    assert ranged.status_code == 206 and len(ranged.content) == 10


def test_a_tampered_expired_missing_or_misapplied_signature_is_a_plain_404(served):
    signer, song = served.signer, served.song
    url = signer.url("fan-a", song.id, "master.wav", ttl_s=300)
    path, _, query = url.partition("?")
    key, _, _, expires, sig = split_url(url)
    tampered_sig = ("0" if sig[0] != "0" else "1") + sig[1:]

    for refused in [
        f"{path}?expires={expires}&sig={tampered_sig}",  # tampered signature
        f"{path}?expires={int(expires) + 3600}&sig={sig}",  # the expiry pushed later
        signer.url("fan-a", song.id, "master.wav", ttl_s=60, now=time.time() - 7200),  # expired an hour ago
        path,  # no signature at all
        f"{path}?expires={expires}",
        f"{path}?sig={sig}",
        f"/artifacts/{key}/{song.id}/song.mid?{query}",  # the signature of another file
        f"/artifacts/{owner_key('fan-b')}/{song.id}/master.wav?{query}",  # under another fan
        UrlSigner(b"not-the-servers-secret-0123").url("fan-a", song.id, "master.wav", ttl_s=300),  # signed by someone else
        signer.url("fan-a", song.id, "missing.wav", ttl_s=300),  # a valid signature, but no such file
        signer.url("fan-a", "0123456789abcdef-01234567", "master.wav", ttl_s=300),  # no such artifact
        signer.url("fan-b", song.id, "master.wav", ttl_s=300),  # fan-b's signature for fan-a's artifact id
    ]:
        assert_plain_404(served.client.get(refused))
    assert served.client.head(path).status_code == 404


def test_another_fans_token_or_a_bad_token_is_a_plain_404(served):
    song_file = file_url(served, "fan-a", served.song, "master.wav")
    for headers in [
        bearer("fan-b"),  # another fan, validly signed
        bearer("fan-a", secret=b"someone-elses-secret-0123456789abcd"),
        {"Authorization": f"Bearer {issue_token(TOKEN_SECRET, 'fan-a', 60, now=time.time() - 7200)}"},  # expired
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic ZmFuLWE6cGFzcw=="},
        {"Authorization": "Bearer"},
    ]:
        assert_plain_404(served.client.get(song_file, headers=headers))
    # fan-a's valid token does not open fan-b's look, by either owner key in the path
    assert_plain_404(served.client.get(file_url(served, "fan-b", served.look, "look.png"), headers=bearer("fan-a")))
    assert_plain_404(served.client.get(file_url(served, "fan-a", served.look, "look.png"), headers=bearer("fan-a")))


def raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A request line exactly as written: no client normalises the path first."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_traversal_attempts_are_a_plain_404_even_with_the_owners_token(served):
    (served.store.root / "outside.wav").write_bytes(b"not a fan's")
    key, song = owner_key("fan-a"), served.song
    headers = bearer("fan-a")
    for path in [
        f"/artifacts/{key}/{song.id}/.artifact.json",  # the metadata is no file of the artifact
        f"/artifacts/{key}/{song.id}/..",
        f"/artifacts/{key}/{song.id}/%2e%2e",
        f"/artifacts/{key}/{song.id}/..%2F..%2Foutside.wav",
        f"/artifacts/{key}/{song.id}/%2e%2e%2f%2e%2e%2foutside.wav",
        f"/artifacts/{key}/{song.id}/master.wav%00",
        f"/artifacts/{key}/..%2F{owner_key('fan-b')}/look.png",
        f"/artifacts/{key}/../../outside.wav",
        f"/artifacts/..%2F/{song.id}/master.wav",
        f"/artifacts/{key}/.staging/master.wav",
        f"/artifacts/{key}/{song.id}/%E2%80%AEvaw.retsam",
    ]:
        status, body = raw_get(served.port, path, headers)
        assert (status, body) == (404, b"Not Found"), path
    assert raw_get(served.port, f"/artifacts/{key}/{song.id}/master.wav", headers)[0] == 200  # the same token, a real file
