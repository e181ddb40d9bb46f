"""Writes a bundle's files once each: into the folder and the zip in the same pass, hashed on the way.

Stems are large (50 MB a 3-minute stem); reading them back to zip and hash them would cost
as much as writing them. A single background thread does the writing, in order, so that
encoding one stem overlaps with rendering and mastering on the other core:

    with BundleWriter(folder, zip_path) as writer:
        writer.add("piece.mid", midi)
        writer.add_wav("stems/01-piano.wav", audio, loops)
        hashes = writer.written()  # waits; {path: (sha256, bytes)}
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from pipelines.music.wav import wav_size, write_wav

ZIP64_FROM = 2**31 - 1  # entries this large need zip64 fields, which old unzippers lack
STORED_SUFFIXES = (".wav", ".png")  # audio and images do not deflate


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


class Tee:
    """A write-only stream copying every write to several streams and a hash."""

    def __init__(self, *streams: BinaryIO, digest: Digest):
        self.streams = streams
        self.digest = digest

    def write(self, data: bytes) -> int:
        for stream in self.streams:
            stream.write(data)
        self.digest.update(data)
        return len(data)


class BundleWriter:
    def __init__(self, folder: Path, zip_path: Path, sample_rate: int = 48_000, bits: int = 24):
        self.folder = folder
        self.sample_rate = sample_rate
        self.bits = bits
        self.archive = zipfile.ZipFile(zip_path, "w")
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-writer")
        self.pending: list[Future] = []
        self.hashes: dict[str, tuple[str, int]] = {}

    def add(self, path: str, data: bytes) -> None:
        self.submit(path, len(data), lambda stream: stream.write(data))

    def add_wav(self, path: str, audio: np.ndarray, loops: Sequence[tuple[int, int]]) -> None:
        size = wav_size(audio.shape[0], audio.shape[1], self.bits, len(loops))
        self.submit(path, size, lambda stream: write_wav(stream, audio, self.sample_rate, self.bits, loops))

    def written(self) -> dict[str, tuple[str, int]]:
        """Wait for every file so far; {path in the bundle: (sha256, bytes)}."""
        for future in self.pending:
            future.result()  # raises the writer's error here, in the caller's thread
        self.pending.clear()
        return dict(self.hashes)

    def submit(self, path: str, size: int, produce: Callable[[BinaryIO], object]) -> None:
        self.pending.append(self.pool.submit(self.write, path, size, produce))

    def write(self, path: str, size: int, produce: Callable[[BinaryIO], object]) -> None:
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        entry = zipfile.ZipInfo(f"{self.folder.name}/{path}", date_time=time.localtime()[:6])
        entry.compress_type = zipfile.ZIP_STORED if target.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
        digest = hashlib.sha256()
        with target.open("wb") as file, self.archive.open(entry, "w", force_zip64=size > ZIP64_FROM) as zipped:
            produce(Tee(file, zipped, digest=digest))
        self.hashes[path] = (digest.hexdigest(), target.stat().st_size)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        """On success wait for every file; on failure drop what has not started."""
        try:
            if error_type is None:
                self.written()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=error_type is not None)
            self.archive.close()
