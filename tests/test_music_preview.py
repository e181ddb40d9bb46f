"""Audio previews: Ogg/Opus (or MP3) at 48 kHz that soundfile reads back with the source's
length, channels, pitch and loudness, at a small fraction of the WAV's bytes; bad inputs get
a clear error and leave nothing behind."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from pipelines.music.preview import write_audio_preview
from pipelines.music.wav import write_wav

A4, E5 = 440.0, 659.25


def tones(seconds: float, sample_rate: int, channels: int) -> np.ndarray:
    """A4 on the left (and in mono), E5 on the right, each with a soft attack and release."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    envelope = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    left = 0.4 * np.sin(2 * np.pi * A4 * t) * envelope
    right = 0.4 * np.sin(2 * np.pi * E5 * t) * envelope
    return np.stack([left, right][:channels], axis=1).astype(np.float32)


def dominant_frequency(signal: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.argmax(spectrum) * sample_rate / signal.size)


def rms_db(signal: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))))


@pytest.mark.parametrize(("sample_rate", "channels"), [(48_000, 2), (44_100, 1), (44_100, 2)])
def test_opus_preview_keeps_length_channels_pitch_and_loudness(tmp_path, sample_rate, channels):
    audio = tones(3.3, sample_rate, channels)
    wav = tmp_path / "master.wav"
    write_wav(wav, audio, sample_rate, bits=24)

    preview = write_audio_preview(wav, tmp_path / "out")

    assert preview == tmp_path / "out" / "preview.ogg"
    info = soundfile.info(preview)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 48_000, channels)
    assert abs(info.duration - audio.shape[0] / sample_rate) < 0.05
    assert preview.stat().st_size < wav.stat().st_size / 5

    decoded, rate = soundfile.read(preview, dtype="float32", always_2d=True)
    for channel, expected in zip(range(channels), (A4, E5)[:channels], strict=True):
        assert abs(dominant_frequency(decoded[:, channel], rate) - expected) < 2  # resampled, not re-pitched
        assert abs(rms_db(decoded[:, channel]) - rms_db(audio[:, channel])) < 1.5  # non-silent, as loud as the source
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["preview.ogg"]  # no staging file left


def test_mp3_preview_on_request(tmp_path):
    audio = tones(2.0, 44_100, 2)
    wav = tmp_path / "song.wav"
    write_wav(wav, audio, 44_100)

    preview = write_audio_preview(wav, tmp_path, name="song-preview", format="mp3")

    assert preview.name == "song-preview.mp3"
    info = soundfile.info(preview)
    assert (info.format, info.samplerate, info.channels) == ("MP3", 48_000, 2)
    assert abs(info.duration - 2.0) < 0.05
    assert preview.stat().st_size < wav.stat().st_size / 5
    decoded, rate = soundfile.read(preview, dtype="float32", always_2d=True)
    assert abs(dominant_frequency(decoded[:, 0], rate) - A4) < 2
    assert rms_db(decoded) > -20


def test_a_preview_replaces_an_earlier_one_whole(tmp_path):
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"
    write_wav(first, tones(1.0, 48_000, 2), 48_000)
    write_wav(second, tones(2.5, 48_000, 2), 48_000)

    write_audio_preview(first, tmp_path / "out")
    preview = write_audio_preview(second, tmp_path / "out")

    assert abs(soundfile.info(preview).duration - 2.5) < 0.05


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"no-such\.wav: no such file"):
        write_audio_preview(tmp_path / "no-such.wav", tmp_path / "out")


def test_unreadable_input_is_a_clear_error_and_leaves_nothing(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are lyrics, not audio")
    out = tmp_path / "out"

    with pytest.raises(ValueError, match=r"notes\.wav: not a readable audio file"):
        write_audio_preview(fake, out)
    assert not out.exists() or not any(out.iterdir())


def test_empty_input_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.wav"
    write_wav(empty, np.zeros((0, 2), dtype=np.float32), 48_000)

    with pytest.raises(ValueError, match="holds no audio"):
        write_audio_preview(empty, tmp_path / "out")


def test_more_than_two_channels_is_a_clear_error(tmp_path):
    surround = tmp_path / "surround.wav"
    soundfile.write(surround, np.zeros((4_800, 6), dtype=np.float32), 48_000)

    with pytest.raises(ValueError, match="mono or stereo, the file has 6 channels"):
        write_audio_preview(surround, tmp_path / "out")


def test_unknown_format_or_bad_name_is_a_clear_error(tmp_path):
    wav = tmp_path / "song.wav"
    write_wav(wav, tones(0.5, 48_000, 1), 48_000)

    with pytest.raises(ValueError, match=r"format must be one of \['mp3', 'ogg'\], got 'flac'"):
        write_audio_preview(wav, tmp_path, format="flac")
    with pytest.raises(ValueError, match="plain file name"):
        write_audio_preview(wav, tmp_path, name="../escape")
