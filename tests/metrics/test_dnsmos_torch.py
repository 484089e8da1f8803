"""DNSMOS's two backends on real speech: the networks read from speechmos's ONNX files, in torch and as the
onnxruntime graphs built from them, give speechmos's graphs' outputs window by window (the edge rows of the shared
full-resolution layers included); the judge, on either backend, gives speechmos's scores on all four dimensions,
whatever the batch;
a foreign weights file or an unknown backend is a one-line error."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.metrics.dnsmos import DNSMOS_DIMENSIONS, DnsmosPredictor


def read(path):
    from fcodec.metrics.testing import resample

    audio, rate = sf.read(path, dtype="float32")
    return resample(audio, rate, 16000).astype(np.float32)  # VoiceBank is 48 kHz


@pytest.fixture(scope="module")
def clips(real_audio_dir):
    """English (13.7 s: 5 windows), noisy English (VoiceBank, 5.1 s, repeated to 10.2 s: 2 windows) and Mandarin
    (5.9 s, repeated to 11.8 s: 3 windows): speech of different quality, long and repeated."""
    en = real_audio_dir / "librispeech-dev-clean" / "84" / "84-121123-0008.wav"
    noisy = sorted((real_audio_dir / "voicebank-noisy-testset").glob("*.wav"))[0]
    zh = sorted((real_audio_dir / "magicdata-zh-dev-set").glob("*.wav"))[0]
    return [read(en), read(noisy), read(zh)]


@pytest.fixture(scope="module")
def predictor():
    torch.set_num_threads(2)
    return DnsmosPredictor(backend="torch")


def speechmos_windows(prepared):
    """speechmos's own graphs and librosa front end, one window at a time, as ``speechmos.dnsmos.run`` runs them:
    (raw P.835 (windows, 3), P.808 (windows,))."""
    import onnxruntime as ort
    from speechmos.dnsmos import DNSMOS

    from fcodec.metrics.dnsmos import _model_dir

    primary, p808 = (ort.InferenceSession(f"{_model_dir()}/{name}") for name in ("sig_bak_ovr.onnx", "model_v8.onnx"))
    melspec = DNSMOS.__new__(DNSMOS).audio_melspec
    raw, mos = [], []
    for audio, hops in prepared:
        for hop in hops:
            window = audio[hop * 16000 : hop * 16000 + 144160]
            raw.append(primary.run(None, {"input_1": window[None]})[0][0])
            mel = np.asarray(melspec(audio=window[:-160]), dtype=np.float32)[None]
            mos.append(p808.run(None, {"input_1": mel})[0][0, 0])
    return np.stack(raw), np.array(mos)


@pytest.mark.real_assets
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_both_backends_equal_speechmos_graphs_window_by_window(clips, predictor, backend):
    from fcodec.metrics.dnsmos_torch import p835_windows

    judge = predictor if backend == "torch" else DnsmosPredictor(num_threads=1, backend="onnx")
    prepared = [judge._hops(clip) for clip in (clips[0], clips[2])]
    theirs_raw, theirs_p808 = speechmos_windows(prepared)
    # one trunk call for both utterances, then one per utterance (max_rows below any one of them)
    with torch.inference_mode():
        audios, hops = [torch.from_numpy(a) for a, _ in prepared], [h for _, h in prepared]
        together = p835_windows(judge.primary, audios, hops, max_rows=100000, per_call=5).numpy()
        apart = p835_windows(judge.primary, audios, hops, max_rows=1, per_call=8).numpy()
    assert together.shape == theirs_raw.shape == (sum(map(len, hops)), 3)
    assert np.abs(together - theirs_raw).max() < 1e-4 and np.abs(apart - theirs_raw).max() < 1e-4
    ours_raw, ours_p808 = judge._run_torch(prepared) if backend == "torch" else judge._run_onnx(prepared)
    assert np.abs(ours_raw - theirs_raw).max() < 1e-4 and np.abs(ours_p808 - theirs_p808).max() < 1e-4


@pytest.fixture(scope="module")
def speechmos_scores(clips):
    """``speechmos.dnsmos.run`` on each clip: the reference both backends are held to."""
    from speechmos import dnsmos

    return [dnsmos.run(clip, 16000) for clip in clips]


@pytest.mark.real_assets
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_dnsmos_is_speechmos_on_every_dimension_whatever_the_batch(clips, predictor, speechmos_scores, backend):
    # onnx: the CPU default, onnxruntime's kernels as speechmos's own graphs use them (within 1e-4, the batch
    # changing nothing at all); torch: within 1e-3 (its convolutions sum in another order)
    judge = predictor if backend == "torch" else DnsmosPredictor(num_threads=1, backend="onnx")
    close, same = (1e-3, 1e-5) if backend == "torch" else (1e-4, 0.0)
    batched = judge.predict(clips + [np.zeros(0, np.float32)], 16000, batch_size=3)
    assert all(math.isnan(v) for v in batched[-1].values())  # nothing to score: NaN, not an invented value
    one_by_one = judge.predict(clips[::-1], 16000, batch_size=1)[::-1]
    for ours, alone, theirs in zip(batched, one_by_one, speechmos_scores):
        for key in DNSMOS_DIMENSIONS:
            assert ours[key] == pytest.approx(float(theirs[f"{key}_mos"]), abs=close), key
            assert ours[key] == pytest.approx(alone[key], abs=same), key
    assert judge.identity["backend"] == backend and backend in judge.description


def test_foreign_weights_and_unknown_backend_are_one_line_errors(tmp_path):
    from fcodec.metrics.dnsmos_torch import P808Net, P835Net

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match=f"{bad}: not a readable ONNX model") as caught:
        P835Net(bad)
    assert "\n" not in str(caught.value)
    from fcodec.metrics.dnsmos import _model_dir

    # the P.808 file lacks the P.835 layers: the missing initializer is named
    with pytest.raises(ValueError, match=r"model_v8.onnx: no initializer 'time2freq/stft-real/kernel:0'"):
        P835Net(f"{_model_dir()}/model_v8.onnx")
    with pytest.raises(ValueError, match=r"sig_bak_ovr.onnx: initializer 'conv2d_5/kernel:0' has shape"):
        P808Net(f"{_model_dir()}/sig_bak_ovr.onnx")
    with pytest.raises(ValueError, match="unknown DNSMOS backend 'tf'"):
        DnsmosPredictor(backend="tf")
    from fcodec.metrics.dnsmos_onnx import P835Graphs

    with pytest.raises(ValueError, match=r"model_v8.onnx: no initializer 'time2freq/stft-real/kernel:0'") as caught:
        P835Graphs(f"{_model_dir()}/model_v8.onnx")
    assert "\n" not in str(caught.value)
