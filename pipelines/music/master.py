"""Mastering: the mix brought to a streaming loudness with its true peak under a ceiling.

Loudness is integrated loudness per ITU-R BS.1770-4 (pyloudnorm). True peak is measured on
a 4x oversampled signal, as BS.1770 asks, because a DAC's reconstruction overshoots the
sample values. A gain sets the loudness; where that pushes the true peak over the ceiling,
a look-ahead limiter turns the peaks down smoothly; the loudness it costs is made up and
the two are measured again until both hold:

    result = master(mix, 48_000)        # -14 LUFS, true peak <= -1 dBTP
    result.audio, result.lufs, result.true_peak_dbtp, result.gain_db
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

LOUDNESS_TOLERANCE_LU = 0.5  # what a result must meet
LOUDNESS_AIM_LU = 0.1  # what further passes try for, while they can
LIMITER_WINDOW_S = 0.01  # gain changes ramp over 2 x 10 ms: fast enough for drums, no audible pumping
LIMITER_MARGIN_DB = 0.3  # aim under the ceiling: a moving gain can overshoot between samples
MAX_PASSES = 8
CHUNK_FRAMES = 1 << 14  # oversample in pieces: flat memory, and only the limited pieces again
CHUNK_OVERLAP = 64  # input frames either side, longer than the resampling filter reaches


class MasterError(ValueError):
    """The mix cannot be mastered (silent, too short, or the targets cannot both be met)."""


@dataclass
class MasterResult:
    audio: np.ndarray  # (frames, channels) float32, the mastered mix
    input_lufs: float  # of the mix as it came in
    lufs: float  # integrated loudness of `audio`
    true_peak_dbtp: float  # of `audio`
    gain_db: float  # static gain applied before limiting
    limiter_reduction_db: float  # the most the limiter turned the signal down (0 = untouched)
    passes: int
    target_lufs: float
    ceiling_dbtp: float


def master(mix: np.ndarray, sample_rate: int, target_lufs: float = -14.0, ceiling_dbtp: float = -1.0) -> MasterResult:
    """Bring `mix` to `target_lufs` (within 0.5 LU) with its true peak at most `ceiling_dbtp`."""
    audio = as_frames(mix)
    input_lufs = integrated_loudness(audio, sample_rate)
    gain_db = target_lufs - input_lufs
    # Gain is linear, so the mix is oversampled once and its envelope scaled with the gain.
    envelope = true_peak_envelope(audio, sample_rate)
    margin_db = LIMITER_MARGIN_DB
    acceptable: MasterResult | None = None
    for passes in range(1, MAX_PASSES + 1):
        gain = db_to_gain(gain_db)
        limiter = limiter_gain(envelope * np.float32(gain), sample_rate, ceiling_dbtp - margin_db)
        out = audio * (limiter * np.float32(gain))[:, None]
        lufs = integrated_loudness(out, sample_rate)
        peak = peak_dbtp(limited_envelope(out, envelope * np.float32(gain), limiter, sample_rate))
        if abs(lufs - target_lufs) <= LOUDNESS_TOLERANCE_LU and peak <= ceiling_dbtp:
            reduction_db = max(0.0, float(-20 * np.log10(limiter.min())))  # 0, not -0, when untouched
            acceptable = MasterResult(out, input_lufs, lufs, peak, gain_db, reduction_db, passes, target_lufs, ceiling_dbtp)
            if abs(lufs - target_lufs) <= LOUDNESS_AIM_LU:
                break
        if peak > ceiling_dbtp:
            margin_db += peak - ceiling_dbtp + 0.1
        gain_db += target_lufs - lufs  # make up what the limiter took
    if acceptable is None:
        raise MasterError(
            f"could not reach {target_lufs} LUFS with true peak <= {ceiling_dbtp} dBTP in {MAX_PASSES} passes "
            f"(last: {lufs:.2f} LUFS, {peak:.2f} dBTP); the mix is too dynamic for this target"
        )
    return acceptable


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness in LUFS; a clear error for silence or a too-short signal."""
    audio = as_frames(audio)
    if audio.shape[0] < 0.4 * sample_rate:
        raise MasterError(f"{audio.shape[0] / sample_rate:.2f} s of audio is too short to measure loudness (at least 0.4 s)")
    # float32 measures within 1e-6 LU of float64 and twice as fast (the filters' state in
    # float64 sinks into slow denormal numbers on quiet tails).
    loudness = pyloudnorm.Meter(sample_rate).integrated_loudness(audio)
    if not np.isfinite(loudness) or loudness < -70:
        raise MasterError("the mix is silent (below -70 LUFS): there is nothing to master")
    return float(loudness)


def true_peak_dbtp(signal: np.ndarray, sample_rate: int) -> float:
    """True peak in dBTP: the highest magnitude of the signal oversampled, in any channel."""
    return peak_dbtp(true_peak_envelope(as_frames(signal), sample_rate))


def true_peak_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames,) the highest oversampled magnitude within each frame, across channels."""
    envelope = np.empty(audio.shape[0], dtype=np.float32)
    for start in range(0, audio.shape[0], CHUNK_FRAMES):
        stop = min(start + CHUNK_FRAMES, audio.shape[0])
        envelope[start:stop] = oversampled_peaks(audio, start, stop, sample_rate)
    return envelope


def oversampled_peaks(audio: np.ndarray, start: int, stop: int, sample_rate: int) -> np.ndarray:
    """The envelope of frames start..stop, oversampled with enough context either side.

    BS.1770-4 oversamples 4x at 48 kHz; from 96 kHz, 2x reaches the same bandwidth.
    """
    factor = 4 if sample_rate < 96_000 else 2
    lead, tail = min(CHUNK_OVERLAP, start), min(CHUNK_OVERLAP, audio.shape[0] - stop)
    piece = resample_poly(audio[start - lead : stop + tail], factor, 1, axis=0)
    piece = np.abs(piece[lead * factor : (lead + stop - start) * factor])
    return piece.reshape(stop - start, factor * audio.shape[1]).max(axis=1)


def limited_envelope(out: np.ndarray, scaled_envelope: np.ndarray, limiter: np.ndarray, sample_rate: int) -> np.ndarray:
    """The envelope of the limited output: oversampled again only near where the limiter acted.

    Elsewhere the output is the mix times a constant gain, whose envelope is already known.
    """
    envelope = scaled_envelope.copy()
    for start in range(0, out.shape[0], CHUNK_FRAMES):
        stop = min(start + CHUNK_FRAMES, out.shape[0])
        if limiter[max(0, start - CHUNK_OVERLAP) : stop + CHUNK_OVERLAP].min() < 1.0:
            envelope[start:stop] = oversampled_peaks(out, start, stop, sample_rate)
    return envelope


def limiter_gain(envelope: np.ndarray, sample_rate: int, threshold_dbtp: float) -> np.ndarray:
    """(frames,) gain at most 1 that keeps every true peak of the envelope under the threshold.

    The gain each frame needs is taken as the minimum over a window around it, then
    averaged over the same window: every value in that average is at most the gain the
    frame needs, so no peak gets through, and the gain ramps in and out instead of
    jumping (which would distort). Offline, the look-ahead costs no latency.
    """
    threshold = np.float32(db_to_gain(threshold_dbtp))
    if envelope.max(initial=0.0) <= threshold:
        return np.ones_like(envelope)
    needed = np.minimum(np.float32(1.0), threshold / np.maximum(envelope, np.float32(1e-12)))
    size = 2 * round(LIMITER_WINDOW_S * sample_rate) + 1
    gain = uniform_filter1d(minimum_filter1d(needed, size, mode="nearest"), size, mode="reflect")
    return np.minimum(gain, needed)  # float rounding in the average must not let a peak through


def peak_dbtp(envelope: np.ndarray) -> float:
    peak = float(envelope.max(initial=0.0))
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def as_frames(signal: np.ndarray) -> np.ndarray:
    """(frames, channels) float32; a 1-D signal is one channel."""
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim == 1:
        signal = signal[:, None]
    if signal.ndim != 2 or signal.shape[0] == 0:
        raise MasterError(f"expected audio shaped (frames, channels), got shape {signal.shape}")
    if not np.isfinite(signal).all():
        raise MasterError("the mix contains NaN or infinite samples")
    return signal


def db_to_gain(db: float) -> float:
    return 10 ** (db / 20)
