"""Chunk-by-chunk streaming reproduces the offline pass; state is explicit; bad chunk sizes fail clearly."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from fcodec.infer import (
    StreamingCodec,
    StreamingDecoder,
    StreamingEncoder,
    decode_step,
    encode_step,
    stream_signal,
)
from tests.models.conftest import speechlike


def offline(model, sig):
    with torch.no_grad():
        toks, _, rec = model(sig)
    return toks, rec


@pytest.mark.parametrize("which", ["50hz", "25hz", "12.5hz"])
@pytest.mark.parametrize("num_samples", [1280 * 9, 1280 * 9 + 640, 1280 * 9 + 333])
def test_streaming_equals_offline(tiny_causal, tiny_grown, which, num_samples):
    model = {"50hz": tiny_causal, "25hz": tiny_grown[0], "12.5hz": tiny_grown[1]}[which]
    sig = speechlike(2, num_samples, seed=num_samples)
    toks, rec = offline(model, sig)
    stoks, srec, _ = stream_signal(model, sig)
    assert torch.equal(stoks, toks)
    assert srec.shape == rec.shape and torch.allclose(srec, rec, atol=1e-4)


def test_streaming_beyond_the_attention_window(tiny_causal):
    # the tiny encoder attends 16 frames back: a 7 s stream with a partial last chunk crosses it many times
    sig = speechlike(1, 16000 * 7 + 333, seed=5)
    toks, rec = offline(tiny_causal, sig)
    with torch.no_grad():  # no latent so close to 0 that float rounding could flip its sign (spec 11.5)
        assert tiny_causal.sig_to_lats(sig).abs().min() > 1e-4
    for piece in (1280, 1000, 4000):  # any input block size: the buffers re-chunk
        stoks, srec, _ = stream_signal(tiny_causal, sig, chunk_samples=piece)
        assert torch.equal(stoks, toks) and torch.allclose(srec, rec, atol=1e-4)


def test_state_is_explicit_and_never_shared(tiny_causal):
    a, b = speechlike(1, 1280 * 4, seed=1), speechlike(1, 1280 * 4, seed=2)
    first, state = encode_step(tiny_causal, a[:, :1280])
    # replaying from the same state gives the same result; the state was not modified
    second, _ = encode_step(tiny_causal, a[:, 1280:2560], state)
    again, _ = encode_step(tiny_causal, a[:, 1280:2560], state)
    assert torch.equal(second, again)
    # a fresh state reproduces the first chunk, and interleaving two streams does not mix them
    sa, sb, out_a = None, None, []
    for i in range(4):
        ta, sa = encode_step(tiny_causal, a[:, 1280 * i : 1280 * (i + 1)], sa)
        _, sb = encode_step(tiny_causal, b[:, 1280 * i : 1280 * (i + 1)], sb)
        out_a.append(ta)
    assert torch.equal(out_a[0], first) and torch.equal(out_a[1], second)
    assert torch.equal(torch.cat(out_a, 1), offline(tiny_causal, a)[0])
    assert sa.samples == 1280 * 4


def test_decode_steps_match_offline(tiny_causal):
    sig = speechlike(1, 1280 * 5)
    toks, rec = offline(tiny_causal, sig)
    state, audio = None, []
    for i in range(0, toks.shape[1], 4):
        out, state = decode_step(tiny_causal, toks[:, i : i + 4], state)
        assert out.shape == (1, 1920)
        audio.append(out)
    assert torch.allclose(torch.cat(audio, 1), rec, atol=1e-5)


def test_bad_chunks_fail_clearly(tiny_causal, tiny_noncausal):
    with pytest.raises(ValueError, match="multiple of 1280 samples"):
        encode_step(tiny_causal, torch.zeros(1, 1000))
    with pytest.raises(ValueError, match="multiple of 1280 samples"):
        encode_step(tiny_causal, torch.zeros(1, 0), final=True)
    toks, state = encode_step(tiny_causal, torch.zeros(1, 1000), final=True)  # a short last chunk is fine
    with pytest.raises(RuntimeError, match="finished"):
        encode_step(tiny_causal, torch.zeros(1, 1280), state)
    with pytest.raises(ValueError, match="multiple of 4 tokens"):
        decode_step(tiny_causal, torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="causal codec"):
        StreamingEncoder(tiny_noncausal)


def test_streaming_classes_buffer_and_flush(tiny_causal):
    sig = speechlike(1, 1280 * 3 + 100)
    toks, rec = offline(tiny_causal, sig)
    enc, dec, codec = StreamingEncoder(tiny_causal), StreamingDecoder(tiny_causal), StreamingCodec(tiny_causal)
    assert enc.push(sig[:, :1000]).shape == (1, 0)  # not a whole chunk yet
    got = torch.cat([enc.push(sig[:, 1000:]), enc.flush()], dim=1)
    assert torch.equal(got, toks)
    audio = torch.cat([dec.push(toks[:, :6]), dec.push(toks[:, 6:]), dec.flush()], dim=1)
    assert torch.allclose(audio[:, : rec.shape[1]], rec, atol=1e-5)
    codec.push(sig[:, :2560])
    codec.reset()  # a reset stream starts from scratch
    parts = [codec.push(sig[:, :2560]), codec.push(sig[:, 2560:]), codec.flush()]
    assert torch.equal(torch.cat([p[0] for p in parts], 1), toks)
    assert torch.allclose(torch.cat([p[1] for p in parts], 1), rec, atol=1e-5)


def _write_tiny_codec(tmp_path, model):
    folder = tmp_path / "codec"
    model.save_pretrained(folder)
    return folder


def test_stream_cli_writes_reconstruction(tmp_path, tiny_causal, capsys):
    from fcodec.bin.stream import main

    folder = _write_tiny_codec(tmp_path, tiny_causal)
    wav_in = tmp_path / "in.wav"
    sig = speechlike(1, 44100, seed=4)[0].numpy()
    sf.write(wav_in, np.stack([sig, sig], axis=1), 44100)  # stereo at 44.1 kHz: mixed down and resampled
    assert (
        main(["--codec", str(folder), str(wav_in), str(tmp_path / "out.wav"), "--tokens", str(tmp_path / "t.npy")]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 24000 and len(out) == 24000 and summary["tokens"] == 50
    assert np.load(tmp_path / "t.npy").shape == (50,)
    assert main(["--codec", str(folder), str(tmp_path / "missing.wav"), str(tmp_path / "x.wav")]) == 1
    assert f"missing: {tmp_path / 'missing.wav'}: no such file" in capsys.readouterr().err


def test_stream_real_speech(tmp_path, tiny_causal, real_audio_dir):
    from fcodec.infer import stream_file

    wav = sorted((real_audio_dir / "magicdata-zh-dev-set").glob("*.wav"))[0]
    summary = stream_file(tiny_causal, wav, tmp_path / "rec.wav")
    audio, rate = sf.read(tmp_path / "rec.wav")
    assert rate == 24000 and abs(len(audio) / rate - summary["seconds"]) < 1e-3
    assert summary["tokens"] == int(np.ceil(summary["seconds"] * 50 - 1e-9))
