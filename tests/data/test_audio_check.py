import numpy as np
import soundfile as sf

from fcodec.data import audio_check as why


def _write(path, samples, subtype="PCM_16", fmt=None):
    sf.write(path, samples, 16000, subtype=subtype, format=fmt)
    return str(path)


def test_every_kind_of_bad_file_is_named(tmp_path):
    speech = (0.1 * np.sin(np.arange(16000) / 5.0)).astype(np.float32)
    good = _write(tmp_path / "good.wav", speech)
    good_flac = _write(tmp_path / "good.flac", speech, fmt="FLAC")
    empty = _write(tmp_path / "empty.wav", np.zeros(0, np.float32))
    nan = speech.copy()
    nan[4000:4010] = np.nan
    not_finite = _write(tmp_path / "nan.wav", nan, subtype="FLOAT")
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio at all" * 50)
    (tmp_path / "zero.flac").write_bytes(b"")

    assert why.check_audio(good) is None and why.check_audio(good_flac) is None
    assert why.check_audio(str(tmp_path / "absent.wav")).reason == why.MISSING
    assert why.check_audio(str(tmp_path / "garbage.wav")).reason == why.UNREADABLE
    assert why.check_audio(str(tmp_path / "zero.flac")).reason == why.UNREADABLE
    assert why.check_audio(empty).reason == why.EMPTY
    problem = why.check_audio(not_finite)
    assert problem.reason == why.NOT_FINITE and "4000" in problem.detail


def test_a_header_probe_cannot_see_nan_samples_but_a_full_read_does(tmp_path):
    nan = np.zeros(8000, np.float32)
    nan[-1] = np.inf
    path = _write(tmp_path / "inf.wav", nan, subtype="FLOAT")
    assert why.probe_audio(path) is None
    assert why.check_audio(path, block_frames=1000).reason == why.NOT_FINITE


def test_check_many_returns_the_bad_indices(tmp_path):
    good = _write(tmp_path / "a.wav", np.full(1600, 0.1, np.float32))
    paths = [good, str(tmp_path / "missing.wav"), good]
    problems = why.check_many(paths, why.check_audio, num_workers=2)
    assert list(problems) == [1] and problems[1].reason == why.MISSING
