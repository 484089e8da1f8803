"""forward_train: one pass with everything the losses need; STE to the compressor; frozen parts build no graph."""

import copy

import torch

from fcodec.models import CodecOutput, grow
from tests.models.conftest import speechlike


def test_outputs_shapes_and_lengths(tiny_causal):
    model = copy.deepcopy(tiny_causal).train()
    sig = speechlike(2, 16000)
    sig_lens = torch.tensor([16000, 9000])
    out = model.forward_train(sig, sig_lens)
    assert isinstance(out, CodecOutput)
    assert out.feats.shape == (2, 50, 64) and out.qfeats.shape == (2, 50, 64)
    assert out.lats.shape == out.codes.shape == (2, 50, 11) and out.toks.shape == (2, 50)
    assert out.sig.shape == (2, 24000)
    assert out.feat_lens.tolist() == [50, 29] and out.tok_lens.tolist() == [50, 29]
    assert out.sig_lens.tolist() == [24000, 13500] and out.toks.dtype == torch.int64
    assert torch.allclose(out.lats.norm(dim=-1), torch.ones(2, 50), atol=1e-5)
    with torch.no_grad():  # same numbers as the inference API
        assert torch.equal(out.toks, model.eval().sig_to_toks(sig))
    assert model.forward_train(sig, decode=False).sig is None


def test_frozen_parts_and_straight_through(tiny_causal):
    model = copy.deepcopy(tiny_causal).train()
    for part in (model.encoder, model.decoder):
        part.requires_grad_(False)
    out = model.forward_train(speechlike(2, 6400))
    assert not out.feats.requires_grad  # frozen encoder ran without a graph
    assert out.lats.requires_grad and out.codes.requires_grad and out.qfeats.requires_grad
    (out.sig.square().mean() + out.qfeats.square().mean()).backward()
    # the waveform loss reaches the compressor through the frozen decoder and the straight-through quantizer
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.compressor.parameters() if p.dim() > 1)
    assert all(p.grad is not None for p in model.decompressor.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())


def test_frozen_compressor_and_grown_model(tiny_causal):
    grown, new_names = grow(tiny_causal)
    grown.train().requires_grad_(False)
    for name, p in grown.named_parameters():
        p.requires_grad_(name in new_names)
    out = grown.forward_train(speechlike(1, 1280 * 3))
    assert out.toks.shape == (1, 6) and out.feat_lens.tolist() == [12] and out.tok_lens.tolist() == [6]
    out.qfeats.square().mean().backward()
    assert all(p.grad is not None for n, p in grown.named_parameters() if n.startswith("decompressor.layers.0."))


def test_noncausal_lengths(tiny_noncausal):
    out = tiny_noncausal.forward_train(speechlike(2, 16000), torch.tensor([16000, 8000]))
    assert out.feat_lens.tolist() == [49, 24] and out.tok_lens.tolist() == [25, 12]
    assert out.sig.shape == (2, 16000) and out.sig_lens.tolist() == [16000, 8000]
