"""read_mono: the one reader of decoding, scoring and streaming (lhotse resamples; bad audio names its file)."""

import numpy as np
import pytest
import soundfile as sf
from lhotse import MonoCut, Recording

from fcodec.data import audio_check as why
from fcodec.data.audio import AudioReadError, read_mono


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_a_stereo_file_at_another_rate_is_mixed_down_and_resampled_by_lhotse(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = tone(1.0, 44100), tone(1.0, 44100, 1000.0)
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    audio = read_mono(path, 16000)
    assert audio.dtype == np.float32 and audio.shape == (16000,) and audio.flags["C_CONTIGUOUS"]
    expected = Recording.from_file(path).resample(16000).load_audio().mean(axis=0)
    np.testing.assert_array_equal(audio, expected)
    # the 440 Hz + 1 kHz mix survives resampling: its spectrum peaks at both tones with half the amplitude
    spectrum = np.abs(np.fft.rfft(audio)) / (len(audio) / 2)
    assert {int(np.argmax(spectrum[:700])), int(np.argmax(spectrum[700:2000])) + 700} == {440, 1000}
    assert spectrum[440] == pytest.approx(0.15, abs=0.01)
    # the same file as a string path, and at its own rate (no resampling)
    assert read_mono(str(path), 16000).shape == (16000,)
    np.testing.assert_allclose(read_mono(path, 44100), (left + right) / 2, atol=1e-7)


def test_a_cut_is_read_through_lhotse_at_the_rate_asked_for(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(2.0, 24000), 24000, subtype="FLOAT")
    recording = Recording.from_file(path)
    cut = MonoCut(id="a-part", start=0.5, duration=1.0, channel=0, recording=recording)  # a 1 s slice
    audio = read_mono(cut, 16000)
    assert audio.shape == (16000,)
    np.testing.assert_array_equal(audio, cut.resample(16000).load_audio()[0])
    assert read_mono(recording, 24000).shape == (48000,)


def test_bad_audio_raises_with_the_reason_and_the_file(tmp_path):
    def error(source, rate=16000) -> AudioReadError:
        with pytest.raises(AudioReadError) as info:
            read_mono(source, rate)
        assert isinstance(info.value, ValueError)  # callers that catch ValueError keep working
        return info.value

    missing = error(tmp_path / "gone.wav")
    assert (missing.reason, missing.source) == (why.MISSING, str(tmp_path / "gone.wav"))
    assert str(missing) == f"missing: {tmp_path / 'gone.wav'}: no such file"

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF but not a wav file at all" * 4)
    unreadable = error(garbage)
    assert unreadable.reason == why.UNREADABLE and str(garbage) in str(unreadable)
    assert len(unreadable.detail) <= 300

    nan = tmp_path / "nan.wav"
    samples = tone(0.5, 16000)
    samples[4000:] = np.nan
    sf.write(nan, samples, 16000, subtype="FLOAT")
    not_finite = error(nan)
    assert (
        not_finite.reason == why.NOT_FINITE and "from sample 4000" in str(not_finite) and "nan.wav" in str(not_finite)
    )

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    assert str(error(empty)) == f"empty: {empty}: 0 samples"

    # a cut whose file was deleted after the manifest was written, and one whose file was overwritten
    sf.write(tmp_path / "later.wav", tone(0.5, 16000), 16000)
    cut = MonoCut(id="c", start=0.0, duration=0.5, channel=0, recording=Recording.from_file(tmp_path / "later.wav"))
    (tmp_path / "later.wav").unlink()
    assert error(cut).reason == why.MISSING and "later.wav" in str(error(cut))
    (tmp_path / "later.wav").write_bytes(b"no longer audio" * 10)
    assert error(cut, 24000).reason == why.UNREADABLE
