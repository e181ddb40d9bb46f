"""The WAV writer: 24-bit PCM that soundfile and scipy read back to within one step,
rounded and clipped (no dither), with loop points in a 'smpl' chunk that a hand-written
RIFF walk finds where they should be."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from music_helpers import riff_chunks, smpl_loops
from scipy.io import wavfile

from pipelines.music.wav import wav_size, write_wav

STEP_24 = 1 / 2**23


def test_soundfile_and_scipy_read_24_bit_stereo_within_one_step(tmp_path):
    rng = np.random.default_rng(1)
    audio = (rng.uniform(-1, 1, size=(48_001, 2)) * 0.9).astype(np.float32)
    path = tmp_path / "noise.wav"
    write_wav(path, audio, 48_000)

    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype, info.format) == (48_000, 2, 48_001, "PCM_24", "WAV")
    read, rate = soundfile.read(path, dtype="float64")
    assert rate == 48_000 and read.shape == (48_001, 2)
    assert np.abs(read - audio).max() <= STEP_24 / 2 + 1e-12  # rounded to the nearest step

    rate, integers = wavfile.read(path)
    assert rate == 48_000 and integers.dtype == np.int32 and integers.shape == (48_001, 2)
    assert np.array_equal(integers >> 8, np.rint(audio.astype(np.float64) * 2**23).astype(np.int32))  # scipy left-justifies 24-bit


def test_samples_are_rounded_and_clipped_not_dithered(tmp_path):
    values = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 1.4 * STEP_24, 1.6 * STEP_24, -0.4 * STEP_24], dtype=np.float32)
    path = tmp_path / "edges.wav"
    write_wav(path, values[:, None], 48_000)
    _, integers = wavfile.read(path)
    assert list(integers >> 8) == [0, 2**22, -(2**22), 2**23 - 1, -(2**23), 2**23 - 1, -(2**23), 1, 2, 0]
    write_wav(tmp_path / "again.wav", values[:, None], 48_000)
    assert (tmp_path / "again.wav").read_bytes() == path.read_bytes()  # no random dither


def test_sixteen_bit_and_odd_sized_data_are_padded_to_an_even_chunk(tmp_path):
    mono = np.linspace(-1, 1, 1001, dtype=np.float32)  # 3003 bytes of 24-bit data: one pad byte
    path = tmp_path / "mono.wav"
    write_wav(path, mono, 44_100, bits=24, loops=[(10, 20)])
    chunks = riff_chunks(path)  # walks the padding; fails if sizes are off
    assert len(chunks[b"data"]) == 3003 and list(chunks) == [b"fmt ", b"data", b"smpl"]
    assert path.stat().st_size == wav_size(1001, 1, 24, 1)
    read, rate = soundfile.read(path)
    assert rate == 44_100 and read.shape == (1001,)

    write_wav(tmp_path / "cd.wav", np.stack([mono, -mono], axis=1), 44_100, bits=16)
    info = soundfile.info(tmp_path / "cd.wav")
    assert (info.subtype, info.channels) == ("PCM_16", 2)


def test_loop_points_are_in_the_smpl_chunk(tmp_path):
    audio = np.zeros((480_000, 2), dtype=np.float32)
    path = tmp_path / "loops.wav"
    write_wav(path, audio, 48_000, loops=[(96_000, 288_000), (288_000, 480_000)])
    # (cue id, type 0 = forward, first frame, last frame played)
    assert smpl_loops(path) == [(0, 0, 96_000, 287_999), (1, 0, 288_000, 479_999)]
    body = riff_chunks(path)[b"smpl"]
    assert int.from_bytes(body[8:12], "little") == round(1e9 / 48_000)  # sample period in ns
    assert soundfile.read(path)[0].shape == (480_000, 2)  # readers skip the extra chunk


def test_no_loops_means_no_smpl_chunk(tmp_path):
    path = tmp_path / "plain.wav"
    write_wav(path, np.zeros((100, 2), dtype=np.float32))
    assert list(riff_chunks(path)) == [b"fmt ", b"data"]


def test_a_stream_gets_the_same_bytes_as_a_file(tmp_path):
    audio = np.random.default_rng(2).uniform(-1, 1, size=(70_000, 2)).astype(np.float32)
    stream = io.BytesIO()
    write_wav(stream, audio, 48_000, loops=[(0, 70_000)])
    write_wav(tmp_path / "file.wav", audio, 48_000, loops=[(0, 70_000)])
    assert stream.getvalue() == (tmp_path / "file.wav").read_bytes()


@pytest.mark.parametrize("loops, message", [([(5, 5)], "loop 0"), ([(0, 101)], "not within the 100 frames"), ([(-1, 10)], "loop 0")])
def test_bad_loops_and_shapes_are_clear_errors(tmp_path, loops, message):
    with pytest.raises(ValueError, match=message):
        write_wav(tmp_path / "bad.wav", np.zeros((100, 2), dtype=np.float32), loops=loops)
    assert not (tmp_path / "bad.wav").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="bits must be one of"):
        write_wav(tmp_path / "bad.wav", np.zeros((100, 2), dtype=np.float32), bits=20)
    with pytest.raises(ValueError, match="shaped"):
        write_wav(tmp_path / "bad.wav", np.zeros((2, 3, 4), dtype=np.float32))
