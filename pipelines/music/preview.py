"""Audio previews: what a phone plays, made from a song's mastered WAV.

A fan listens on a phone, often on mobile data: the 24-bit WAV of a bundle is far too large
for that. A preview is Ogg/Opus at 48 kHz (Opus's own rate) and about 48 kbit/s a channel,
which is transparent enough for a listen at a tenth of the bytes; MP3 is there for players
that lack Opus:

    preview = write_audio_preview(Path("bundle/master.wav"), Path("previews"))
    mp3 = write_audio_preview(Path("bundle/master.wav"), Path("previews"), format="mp3")
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

PREVIEW_RATE = 48_000  # Opus runs at 48 kHz inside whatever it is given


@dataclass(frozen=True)
class PreviewFormat:
    suffix: str
    container: str
    subtype: str
    # libsndfile's 0 (best) .. 1 (smallest). For Opus it sets the bitrate, about
    # 6 + 250 * (1 - level) kbit/s a channel: 0.832 gives ~48 kbit/s a channel.
    # For MP3 it picks LAME's VBR quality: 0.3 lands near V3 (~110-130 kbit/s on music).
    compression_level: float


FORMATS = {
    "ogg": PreviewFormat(".ogg", "OGG", "OPUS", 0.832),
    "mp3": PreviewFormat(".mp3", "MP3", "MPEG_LAYER_III", 0.3),
}


def write_audio_preview(wav: Path, out_dir: Path, name: str = "preview", format: Literal["ogg", "mp3"] = "ogg") -> Path:
    """Encode `wav` as `out_dir/<name>.ogg` (Opus) or `.mp3`, at 48 kHz, with its channels.

    Any rate the input has is resampled to 48 kHz first. The file appears whole or not at all.
    Raises ValueError for a missing or unreadable input, or an unknown format.
    """
    if format not in FORMATS:
        raise ValueError(f"preview format must be one of {sorted(FORMATS)}, got {format!r}")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"preview name must be a plain file name without a suffix, got {name!r}")
    chosen = FORMATS[format]
    audio = read_audio_at_preview_rate(Path(wav))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}{chosen.suffix}"
    staging = out_dir / f".{name}.{secrets.token_hex(4)}{chosen.suffix}"
    try:
        with sf.SoundFile(staging, "w", PREVIEW_RATE, audio.shape[1], format=chosen.container,
                          subtype=chosen.subtype, compression_level=chosen.compression_level) as encoded:
            encoded.write(audio)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def read_audio_at_preview_rate(wav: Path) -> np.ndarray:
    """(frames, channels) float32 at 48 kHz, mono or stereo."""
    if not wav.is_file():
        raise ValueError(f"cannot make a preview of {wav}: no such file")
    try:
        audio, sample_rate = sf.read(wav, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"cannot make a preview of {wav}: not a readable audio file ({error})") from None
    if audio.shape[0] == 0:
        raise ValueError(f"cannot make a preview of {wav}: it holds no audio")
    if audio.shape[1] not in (1, 2):
        raise ValueError(f"cannot make a preview of {wav}: a preview is mono or stereo, the file has {audio.shape[1]} channels")
    if sample_rate != PREVIEW_RATE:
        # The same polyphase resampler the bundle uses for generated stems.
        common = gcd(PREVIEW_RATE, sample_rate)
        audio = resample_poly(audio, PREVIEW_RATE // common, sample_rate // common, axis=0).astype(np.float32)
    return audio
