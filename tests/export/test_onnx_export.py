"""ONNX export: the graphs give PyTorch's tokens and audio on real speech, streaming equals offline, int8 stays
close to fp32, for the causal 50 Hz model and the grown 25 Hz and 12.5 Hz ones (tiny random weights; the
full-size model in test_onnx_full_size.py)."""

import functools
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fcodec.data.audio import read_mono
from fcodec.export.onnx_export import export_codec
from fcodec.export.onnx_runtime import OnnxCodec
from fcodec.models import FocalCodec, configs, grow
from fcodec.models.testing import perturb_constants
from tests.infer.conftest import one_thread  # noqa: F401  (autouse: tiny models run fastest single-threaded)

ROOT = Path(__file__).resolve().parents[2]
CLIPS = (
    "librispeech-dev-clean/84/84-121123-0001.wav",
    "magicdata-zh-dev-set/38_5731_20170914195805.wav",
)
MIN_SER_DB = 20.0  # as the PyTorch int8 path (tests/models/test_int8.py)


@functools.lru_cache(maxsize=None)
def _parity_tool():
    spec = importlib.util.spec_from_file_location("check_upstream", ROOT / "tools" / "parity" / "check_upstream.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def unexplained_token_differences(ref_toks, toks, ref_lats, model: FocalCodec) -> int:
    """Tokens differing in a bit whose latent is not within rounding of zero (the upstream parity check's rule)."""
    unexplained, _ = _parity_tool().token_mismatches(
        torch.as_tensor(ref_toks), torch.as_tensor(toks), torch.as_tensor(ref_lats), model.quantizer.mask
    )
    return unexplained


def ser_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


@pytest.fixture(scope="module")
def speech(real_audio_dir):
    # 3 s and 2.7 s: one length off the chunk grid, so the last chunk is partial
    lengths = (48000, 43210)
    return [torch.from_numpy(read_mono(real_audio_dir / c, 16000))[:n] for c, n in zip(CLIPS, lengths)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (PyTorch model, export folder): tiny causal 50 Hz, grown 25 Hz and 12.5 Hz (int8 graphs too)."""
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    base = perturb_constants(FocalCodec(**configs.tiny_causal_config())).eval()
    g25, _ = grow(base, seed=1)
    g12, _ = grow(g25, seed=2)
    out = {}
    for name, model in (("50hz", base), ("25hz", g25.eval()), ("12.5hz", g12.eval())):
        model.save_pretrained(root / name)
        export_codec(root / name, root / f"{name}_onnx", int8=True)
        out[name] = (FocalCodec.from_pretrained(root / name).eval(), root / f"{name}_onnx")
    return out


RATES = ["50hz", "25hz", "12.5hz"]


@pytest.mark.parametrize("name", RATES)
def test_offline_graphs_match_pytorch_on_real_speech(exported, speech, name):
    model, folder = exported[name]
    codec = OnnxCodec(folder, threads=1)
    assert codec.frame_rate == model.frame_rate and codec.bitrate == model.bitrate
    batch = torch.stack([s[: speech[1].shape[0]] for s in speech])  # a batch of two clips
    for sig in (speech[0][None], speech[1][None], batch):
        with torch.no_grad():
            ref_lats = model.sig_to_lats(sig)
        ref_toks = model.lats_to_toks(ref_lats)
        toks, lats = codec.encode(sig)
        assert toks.shape == tuple(ref_toks.shape)
        assert unexplained_token_differences(ref_toks, toks, ref_lats, model) == 0
        assert np.abs(lats - ref_lats.numpy()).max() < 1e-4
        # the waveform from the same tokens
        with torch.no_grad():
            ref = model.toks_to_sig(ref_toks, output_length=model.output_length(sig.shape[-1]))
        audio = codec.decode(ref_toks, codec.output_length(sig.shape[-1]))
        assert audio.shape == tuple(ref.shape)
        assert np.abs(audio - ref.numpy()).max() <= 1e-4 * ref.abs().max().item()


@pytest.mark.parametrize("name", RATES)
def test_onnx_streaming_equals_onnx_offline(exported, speech, name):
    model, folder = exported[name]
    codec = OnnxCodec(folder, threads=1)
    sig = speech[1]  # 2.7 s: ends in a partial chunk
    toks, lats = codec.encode(sig)
    audio = codec.decode(toks, codec.output_length(sig.shape[-1]))
    stream = codec.stream()
    pieces = [stream.push(sig[i : i + 1000]) for i in range(0, sig.shape[-1], 1000)] + [stream.flush()]
    stoks = torch.cat([p[0] for p in pieces], dim=1)
    saudio = torch.cat([p[1] for p in pieces], dim=1).numpy()
    assert stoks.shape == toks.shape
    assert unexplained_token_differences(toks, stoks, lats, model) == 0
    assert saudio.shape == audio.shape
    assert np.abs(saudio - audio).max() <= 1e-4 * np.abs(audio).max()
    with pytest.raises(RuntimeError, match="finished"):
        stream.push(sig[:1280])
    stream.reset()  # a new stream on the same object gives the same result
    assert torch.equal(torch.cat([stream.push(sig)[0], stream.flush()[0]], dim=1), stoks)


def test_int8_graphs_close_to_fp32(exported, speech):
    model, folder = exported["50hz"]
    fp32, int8 = OnnxCodec(folder, threads=1), OnnxCodec(folder, int8=True, threads=1)
    for clip, sig in zip(CLIPS, speech):
        toks, lats = fp32.encode(sig)
        qtoks, qlats = int8.encode(sig)
        ser, agreement = ser_db(lats, qlats), float((toks == qtoks).mean())
        print(f"ONNX int8 {clip}: latent SER {ser:.1f} dB, token agreement {agreement:.3f}")
        assert ser >= MIN_SER_DB, clip
        assert agreement > 0.5, clip
    # onnxruntime's dynamic quantisation takes one activation scale per call from the whole input, so a chunk's
    # int8 result depends on what shares the call: int8 streaming is close to int8 offline, not equal (the
    # project's own int8 scheme pins the scale; measured here: 3 of 136 tokens differ)
    stream = int8.stream()
    stoks = torch.cat([stream.push(sig)[0], stream.flush()[0]], dim=1).numpy()
    stream_agreement, fp32_agreement = float((stoks == qtoks).mean()), float((stoks == toks).mean())
    print(
        f"ONNX int8 streaming: token agreement {stream_agreement:.3f} with int8 offline, {fp32_agreement:.3f} with fp32"
    )
    assert stream_agreement > 0.9 and fp32_agreement > 0.5


def test_description_names_inputs_rates_state_and_source(exported):
    model, folder = exported["25hz"]
    meta = json.loads((folder / "onnx_codec.json").read_text())
    assert meta["model"]["frame_rate"] == 25.0 and meta["model"]["chunk_size"] == 1280
    assert meta["source"]["sha256"] and meta["source"]["config"] == model.config
    assert set(meta["graphs"]) == {"encode", "decode", "stream_encode", "stream_decode"}
    encode = meta["graphs"]["stream_encode"]
    assert [i["name"] for i in encode["inputs"]][:3] == ["signal", "valid_frames", "frames_seen"]
    assert list(encode["state"]) == [i["name"] for i in encode["inputs"]][3:]
    for entry in meta["graphs"].values():
        assert (folder / entry["file"]).is_file() and (folder / entry["int8_file"]).is_file()


def _staggered_rows(codec: OnnxCodec, graph: str, rows, offset: int, per_call: int):
    """Run ``graph`` on two streams batched in one call, the second starting ``offset`` calls after the first (a new
    stream: its row's state zeroed and position reset, as a caller does); each row's outputs, concatenated."""
    session, entry = codec.session(graph), codec.meta["graphs"][graph]
    names = [i["name"] for i in entry["inputs"]]
    state = [np.zeros((2, *entry["state"][n]), np.float32) for n in names[3:]]
    seen = np.zeros(2, np.int64)
    calls = max(rows[0].shape[-1], rows[1].shape[-1] + offset * per_call) // per_call
    outputs = [[], []]
    for k in range(calls):
        starts = [k * per_call, (k - offset) * per_call]
        if k == offset:  # the second stream starts now
            seen[1] = 0
            for s in state:
                s[1] = 0
        pieces = [np.asarray(r[max(b, 0) : max(b, 0) + per_call]) for r, b in zip(rows, starts)]
        x = np.stack([np.pad(p, (0, per_call - p.shape[-1])) for p in pieces])  # a row past its end: zeros
        valid = np.full(2, per_call // codec.encoder_hop if graph == "stream_encode" else per_call, np.int64)
        out = session.run(None, dict(zip(names, [x, valid, seen, *state])))
        seen, state = out[1], list(out[2:])
        for i, b in enumerate(starts):
            if 0 <= b and b + per_call <= rows[i].shape[-1]:
                outputs[i].append(out[0][i])
    return [np.concatenate(o) for o in outputs]


def test_streams_batched_at_different_positions_each_stream_as_alone(exported, speech):
    """Rows of one streaming call are independent streams: one starting while the other is under way gets the
    tokens and audio it gets alone (the first call's padding applies to its row only)."""
    model, folder = exported["50hz"]
    codec = OnnxCodec(folder, threads=1)
    chunk, per_chunk = codec.chunk_size, codec.tokens_per_chunk
    sigs = [s[: s.shape[-1] // chunk * chunk].numpy() for s in speech]  # whole chunks
    alone = [codec.stream() for _ in sigs]
    alone = [s.push(x[None]) for s, x in zip(alone, sigs)]
    toks = _staggered_rows(codec, "stream_encode", sigs, 3, chunk)
    for (ref_toks, _), row, sig in zip(alone, toks, sigs):
        _, lats = codec.encode(sig[None])
        assert unexplained_token_differences(ref_toks, row[None], lats, model) == 0
    audio = _staggered_rows(codec, "stream_decode", [t.numpy()[0] for t, _ in alone], 2, per_chunk)
    for (_, ref_audio), row in zip(alone, audio):
        ref = ref_audio.numpy()[0]
        assert np.abs(row[: ref.shape[-1]] - ref).max() <= 1e-4 * np.abs(ref).max()
