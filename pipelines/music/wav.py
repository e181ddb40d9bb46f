"""WAV writer: integer PCM, with loop points a sampler or DAW picks up.

A RIFF/WAVE file of a 'fmt ' chunk (PCM), a 'data' chunk and, when there are loops, a
'smpl' chunk listing them (forward loops, the sampler-chunk layout every sampler reads).
Samples are rounded, not dithered, and clipped to full scale:

    write_wav(Path("stem.wav"), audio, 48_000, bits=24, loops=[(96_000, 288_000)])
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

PCM = 1  # format tag; fine for mono and stereo at any bit depth
SUPPORTED_BITS = (16, 24)
FORWARD_LOOP = 0
MIDDLE_C = 60  # the smpl chunk's unity note: these are not pitched samples
WRITE_FRAMES = 1 << 14  # convert in cache-sized pieces: flat memory, and faster
MAX_DATA_BYTES = 2**32 - 1 - 1024  # RIFF sizes are 32-bit


def write_wav(
    target: Path | BinaryIO, samples: np.ndarray, sample_rate: int = 48_000, bits: int = 24, loops: Sequence[tuple[int, int]] = (),
) -> None:
    """Write float samples shaped (frames, channels) in -1..1 as PCM, to a path or a binary stream.

    `loops` are (first frame, end frame) pairs, end exclusive like a Python slice. Everything
    is checked before the first byte is written.
    """
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] < 1:
        raise ValueError(f"expected samples shaped (frames, channels), got shape {samples.shape}")
    header, trailer = wav_framing(samples.shape[0], samples.shape[1], sample_rate, bits, loops)
    if isinstance(target, (str, Path)):
        with Path(target).open("wb") as stream:
            write_frames(stream, header, samples, bits, trailer)
    else:
        write_frames(target, header, samples, bits, trailer)


def write_frames(stream: BinaryIO, header: bytes, samples: np.ndarray, bits: int, trailer: bytes) -> None:
    stream.write(header)
    for start in range(0, samples.shape[0], WRITE_FRAMES):
        stream.write(pcm_bytes(samples[start : start + WRITE_FRAMES], bits))
    stream.write(trailer)


def wav_framing(frames: int, channels: int, sample_rate: int, bits: int, loops: Sequence[tuple[int, int]]) -> tuple[bytes, bytes]:
    """(what goes before the sample data, what goes after it): RIFF header, 'fmt ', 'data' header; pad and 'smpl'."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
    frame_bytes = channels * bits // 8
    data_bytes = frames * frame_bytes
    if data_bytes > MAX_DATA_BYTES:
        raise ValueError(f"{data_bytes} bytes of audio do not fit a WAV file (4 GiB at most)")
    fmt = struct.pack("<HHIIHH", PCM, channels, sample_rate, sample_rate * frame_bytes, frame_bytes, bits)
    trailer = b"\0" * (data_bytes % 2) + sampler_chunk(loops, frames, sample_rate)  # chunks start on even offsets
    riff_size = 4 + (8 + len(fmt)) + (8 + data_bytes) + len(trailer)
    header = b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    return header + b"data" + struct.pack("<I", data_bytes), trailer


def wav_size(frames: int, channels: int, bits: int, loops: int) -> int:
    """The bytes write_wav will write."""
    data_bytes = frames * channels * bits // 8
    return 44 + data_bytes + data_bytes % 2 + (8 + 36 + 24 * loops if loops else 0)


def pcm_bytes(samples: np.ndarray, bits: int) -> bytes:
    """Interleaved little-endian integers: rounded to the nearest step, clipped to full scale."""
    full_scale = 2 ** (bits - 1)
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * np.float32(full_scale))
    integers = np.clip(scaled, -full_scale, full_scale - 1).astype("<i4")
    if bits == 16:
        return integers.astype("<i2").tobytes()
    # 24-bit: the low three bytes of each little-endian 32-bit integer.
    return integers.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()


def sampler_chunk(loops: Sequence[tuple[int, int]], frames: int, sample_rate: int) -> bytes:
    """The 'smpl' chunk for forward loops, or nothing when there are none."""
    if not loops:
        return b""
    records = b""
    for cue, (start, end) in enumerate(loops):
        if not 0 <= start < end <= frames:
            raise ValueError(f"loop {cue} ({start}, {end}) is not within the {frames} frames of the file")
        # The chunk's end is the last frame played, hence end - 1; play count 0 loops forever.
        records += struct.pack("<IIIIII", cue, FORWARD_LOOP, start, end - 1, 0, 0)
    sample_period_ns = round(1e9 / sample_rate)
    header = struct.pack("<IIIIIIIII", 0, 0, sample_period_ns, MIDDLE_C, 0, 0, 0, len(loops), 0)
    body = header + records
    return b"smpl" + struct.pack("<I", len(body)) + body
