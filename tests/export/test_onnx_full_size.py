"""ONNX export at the full size: the published causal 50 Hz config's widths, heads, kernels and windows (random
weights, the only ones reachable here), one layer per stack (an ONNX graph repeats a layer's nodes per layer, so
more layers add export time, not kinds of node): offline tokens equal PyTorch's on real speech (ties only within
rounding of zero), the waveform from the same tokens within 1e-4 of PyTorch's peak, streaming equal to offline.
Slow: exporting the four graphs of this 100 M-parameter model takes about 18 s on a 2-core machine (30 s for all
249 M parameters, under the suite's load 47 s: what the one layer per stack saves)."""

import numpy as np
import pytest
import torch

from fcodec.data.audio import read_mono
from fcodec.export.onnx_export import export_codec
from fcodec.export.onnx_runtime import OnnxCodec
from fcodec.models import FocalCodec, configs
from fcodec.models.testing import perturb_constants
from tests.export.test_onnx_export import unexplained_token_differences

pytestmark = pytest.mark.slow
CLIP = "magicdata-zh-dev-set/38_5731_20170914195805.wav"


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    torch.manual_seed(0)
    config = configs.causal_config()
    config["encoder_config"]["num_layers"] = config["decoder_config"]["num_layers"] = 1
    config["compressor_config"].update(hidden_dims=[1024], downscale_factors=[1])
    config["decompressor_config"].update(hidden_dims=[1024], upscale_factors=[1])
    perturb_constants(FocalCodec(**config)).save_pretrained(root / "model")
    export_codec(root / "model", root / "onnx")
    return FocalCodec.from_pretrained(root / "model").eval(), OnnxCodec(root / "onnx", threads=1)


def test_full_size_onnx_matches_pytorch_and_streams_as_offline(full, real_audio_dir):
    model, codec = full
    sig = torch.from_numpy(read_mono(real_audio_dir / CLIP, 16000))[None, :40000]  # 2.5 s: a partial last chunk
    with torch.no_grad():
        ref_lats = model.sig_to_lats(sig)
        ref_toks = model.lats_to_toks(ref_lats)
        ref = model.toks_to_sig(ref_toks, output_length=model.output_length(sig.shape[-1]))
    toks, lats = codec.encode(sig)
    assert unexplained_token_differences(ref_toks, toks, ref_lats, model) == 0
    audio = codec.decode(ref_toks, codec.output_length(sig.shape[-1]))
    print(f"full size: max |audio - PyTorch| {np.abs(audio - ref.numpy()).max():.2e}, peak {ref.abs().max():.3f}")
    assert np.abs(audio - ref.numpy()).max() <= 1e-4 * ref.abs().max().item()
    stream = codec.stream()
    stoks, saudio = (torch.cat(x, dim=1) for x in zip(stream.push(sig), stream.flush()))
    assert unexplained_token_differences(toks, stoks, lats, model) == 0
    offline = codec.decode(toks, codec.output_length(sig.shape[-1]))
    assert np.abs(saudio.numpy() - offline).max() <= 1e-4 * np.abs(offline).max()
