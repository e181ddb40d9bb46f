"""Mastering: the mix brought to a streaming loudness with its true peak under a ceiling.

Loudness is integrated loudness per ITU-R BS.1770-4. True peak is measured on
a 4x oversampled signal, as BS.1770 asks, because a DAC's reconstruction overshoots the
sample values. A gain sets the loudness; where that pushes the true peak over the ceiling,
a look-ahead limiter turns the peaks down smoothly; the loudness it costs is made up and
the two are measured again until both hold:

    result = master(mix, 48_000)        # -14 LUFS, true peak <= -1 dBTP
    result.audio, result.lufs, result.true_peak_dbtp, result.gain_db
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt

LOUDNESS_TOLERANCE_LU = 0.5  # what a result must meet
LOUDNESS_AIM_LU = 0.1  # what further passes try for, while they can
LIMITER_WINDOW_S = 0.01  # gain changes ramp over 2 x 10 ms: fast enough for drums, no audible pumping
LIMITER_MARGIN_DB = 0.3  # aim under the ceiling: a moving gain can overshoot between samples
MAX_PASSES = 8
CHUNK_FRAMES = 1 << 14  # oversample in pieces: flat memory, and only the limited pieces again
CHUNK_OVERLAP = 64  # frames either side a limited chunk reaches into its neighbours' envelope
INTERPOLATION_REACH = 10  # frames the oversampling filter reaches either side
BLOCK_S, BLOCK_OVERLAP = 0.4, 0.75  # BS.1770-4 gating blocks
ABSOLUTE_GATE_LUFS, RELATIVE_GATE_LU = -70.0, 10.0
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs
LOUDNESS_PIECE_STEPS = 20  # 2 s of audio filtered at a time: stays in cache, no big temporaries


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
    """BS.1770-4 integrated loudness in LUFS; a clear error for silence or a too-short signal.

    K-weighting, mean squares over 400 ms blocks every 100 ms, an absolute gate at -70 LUFS
    and a relative one 10 LU under the gated mean. The filter runs over the audio a few
    seconds at a time (its state carried over), summing energy per 100 ms step; each block
    then adds up its four steps. The tests measure against pyloudnorm, which loops per block.
    """
    audio = as_frames(audio)
    frames, channels = audio.shape
    if frames < BLOCK_S * sample_rate:
        raise MasterError(f"{frames / sample_rate:.2f} s of audio is too short to measure loudness (at least {BLOCK_S} s)")
    if channels > len(CHANNEL_WEIGHTS):
        raise MasterError(f"loudness is defined for up to {len(CHANNEL_WEIGHTS)} channels, got {channels}")
    step = round(BLOCK_S * (1 - BLOCK_OVERLAP) * sample_rate)  # frames in 100 ms
    steps_per_block = round(1 / (1 - BLOCK_OVERLAP))
    sos = k_weighting(sample_rate)
    state = np.zeros((sos.shape[0], channels, 2))
    step_energy = np.zeros((channels, -(-frames // step)))
    piece_frames = step * LOUDNESS_PIECE_STEPS
    for start in range(0, frames, piece_frames):
        # Channels as rows: the filter and the sums run along contiguous memory.
        weighted, state = sosfilt(sos, audio[start : start + piece_frames].T, axis=-1, zi=state)
        energy = np.square(weighted)
        whole = energy.shape[1] // step
        first = start // step
        step_energy[:, first : first + whole] = energy[:, : whole * step].reshape(channels, whole, step).sum(axis=-1)
        if energy.shape[1] > whole * step:  # the last, partial step
            step_energy[:, first + whole] = energy[:, whole * step :].sum(axis=-1)
    # Blocks start every step; the last may run past the end, as in BS.1770-4's count.
    count = int(round((frames - steps_per_block * step) / step)) + 1
    running = np.zeros((channels, step_energy.shape[1] + 1))
    np.cumsum(step_energy, axis=-1, out=running[:, 1:])
    starts = np.arange(count)
    stops = np.minimum(starts + steps_per_block, step_energy.shape[1])
    mean_squares = (running[:, stops] - running[:, starts]) / (steps_per_block * step)
    weights = np.asarray(CHANNEL_WEIGHTS[:channels])[:, None]
    block_power = (weights * mean_squares).sum(axis=0)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(block_power)
    gated = block_lufs >= ABSOLUTE_GATE_LUFS
    if not gated.any():
        raise MasterError("the mix is silent (below -70 LUFS): there is nothing to master")
    relative_gate = -0.691 + 10 * np.log10(block_power[gated].mean()) - RELATIVE_GATE_LU
    gated &= block_lufs > relative_gate
    return float(-0.691 + 10 * np.log10(block_power[gated].mean()))


@functools.cache
def k_weighting(sample_rate: int) -> np.ndarray:
    """BS.1770's K-weighting (a high shelf, then a high pass) as second-order sections.

    The analogue prototypes behind the standard's 48 kHz coefficients, so any rate gets the
    same response; at 48 kHz these are the standard's coefficients.
    """
    shelf_hz, shelf_db, shelf_q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * shelf_hz / sample_rate)
    high, band = 10 ** (shelf_db / 20), 10 ** (shelf_db / 20 * 0.4996667741545416)
    norm = 1 + k / shelf_q + k * k
    shelf = [(high + band * k / shelf_q + k * k) / norm, 2 * (k * k - high) / norm, (high - band * k / shelf_q + k * k) / norm,
             1.0, 2 * (k * k - 1) / norm, (1 - k / shelf_q + k * k) / norm]
    pass_hz, pass_q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * pass_hz / sample_rate)
    norm = 1 + k / pass_q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / norm, (1 - k / pass_q + k * k) / norm]
    return np.array([shelf, high_pass])


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
    """The envelope of frames start..stop: the magnitude of every sample and of the values the
    oversampling puts between it and the next, the highest across channels.

    BS.1770-4 oversamples 4x at 48 kHz; from 96 kHz, 2x reaches the same bandwidth. The values
    are resample_poly's (same filter, same alignment), computed per phase as a short FIR summed
    tap by tap over the chunk while it sits in cache: 4x faster than resample_poly.
    """
    factor = 4 if sample_rate < 96_000 else 2
    phases = interpolation_phases(factor)
    reach = INTERPOLATION_REACH
    # Channels as rows, with the frames the filter reaches either side (zeros past the ends).
    planar = np.zeros((audio.shape[1], stop - start + 2 * reach), dtype=np.float32)
    lead, tail = min(reach, start), min(reach, audio.shape[0] - stop)
    planar[:, reach - lead : reach + stop - start + tail] = audio[start - lead : stop + tail].T
    frames = stop - start
    peaks = np.abs(planar[:, reach : reach + frames]) * np.float32(abs(phases[0, 0]))  # phase 0: the sample itself
    value, term = np.empty_like(peaks), np.empty_like(peaks)
    for taps in phases[1:]:
        value.fill(0)
        for offset, tap in enumerate(taps):
            np.multiply(planar[:, offset + 1 : offset + 1 + frames], tap, out=term)
            value += term
        np.maximum(peaks, np.abs(value, out=value), out=peaks)
    return peaks.max(axis=0)


@functools.cache
def interpolation_phases(factor: int) -> np.ndarray:
    """(factor, 2 * reach) float32: row p holds the taps that make the value p/factor of the way
    from frame n to n + 1 out of frames n - reach + 1 .. n + reach, as resample_poly does
    (a Kaiser-windowed sinc, beta 5, 10 zero crossings each side). Row 0's only tap is frame n's."""
    half = INTERPOLATION_REACH * factor
    kernel = firwin(2 * half + 1, 1 / factor, window=("kaiser", 5.0)) * factor
    phases = np.zeros((factor, 2 * INTERPOLATION_REACH), dtype=np.float32)
    phases[0, 0] = kernel[half]
    for phase in range(1, factor):
        # Output n*factor + phase = sum over k of kernel[k*factor + phase + half] * x[n - k].
        for offset in range(2 * INTERPOLATION_REACH):
            k = INTERPOLATION_REACH - 1 - offset
            phases[phase, offset] = kernel[k * factor + phase + half]
    return phases


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
    size = 2 * round(LIMITER_WINDOW_S * sample_rate) + 1
    gain = np.ones_like(envelope)
    # Only around the peaks: elsewhere every frame's window holds no peak, and the gain is 1.
    for start, stop in spans_near(envelope > threshold, CHUNK_FRAMES):
        needed = np.minimum(np.float32(1.0), threshold / np.maximum(envelope[start:stop], np.float32(1e-12)))
        smooth = uniform_filter1d(minimum_filter1d(needed, size, mode="nearest"), size, mode="reflect")
        gain[start:stop] = np.minimum(smooth, needed)  # float rounding in the average must not let a peak through
    return gain


def spans_near(flags: np.ndarray, chunk: int) -> list[tuple[int, int]]:
    """(start, stop) frame spans covering every flagged frame with at least `chunk` frames
    to spare either side (whole chunks; overlapping spans merged)."""
    chunks = -(-flags.size // chunk)
    flagged = np.zeros(chunks + 2, dtype=bool)  # one chunk of padding either side
    flagged[1:-1] = np.pad(flags, (0, chunks * chunk - flags.size)).reshape(chunks, chunk).any(axis=1)
    near = flagged[:-2] | flagged[1:-1] | flagged[2:]  # a flagged chunk and its neighbours
    edges = np.flatnonzero(np.diff(np.concatenate([[False], near, [False]]).astype(np.int8)))
    return [(int(start) * chunk, min(int(stop) * chunk, flags.size)) for start, stop in zip(edges[::2], edges[1::2])]


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
