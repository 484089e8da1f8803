"""FocalCodec wrapper: shapes, rates, the conversion API, causality, length masks, kNN and input errors."""

import math

import pytest
import torch

from fcodec.models import FocalCodec
from tests.models.conftest import speechlike


def test_rates_and_properties(tiny_causal, tiny_grown, tiny_noncausal):
    m = tiny_causal
    assert (m.sample_rate_input, m.sample_rate_output, m.chunk_size, m.latency) == (16000, 24000, 1280, 80.0)
    assert m.causal and m.codebook_size == 2048 and m.latent_dim == 11
    assert (m.frame_rate, m.bitrate) == (50.0, 550.0)
    assert [(g.frame_rate, g.bitrate) for g in tiny_grown] == [(25.0, 275.0), (12.5, 137.5)]
    with pytest.raises(RuntimeError, match="differ"):
        m.sample_rate
    assert tiny_noncausal.sample_rate == 16000 and tiny_noncausal.latency is None and not tiny_noncausal.causal
    info = m.info()
    assert info["bitrate"] == 550.0 and info["num_total_params"] == sum(p.numel() for p in m.parameters())
    assert m.codebook.shape == (2048, 11)


@pytest.mark.parametrize("num_samples", [16123, 1280 * 3, 1280 * 3 + 640, 399, 319, 1])
def test_causal_shapes(tiny_causal, num_samples):
    sig = speechlike(2, num_samples)
    with torch.no_grad():
        toks, codes, rec = tiny_causal(sig)
        feats = tiny_causal.sig_to_feats(sig)
    frames = math.ceil(num_samples / 320)
    assert feats.shape == (2, frames, 64) and toks.shape == (2, frames) and codes.shape == (2, frames, 11)
    assert rec.shape == (2, int(num_samples * 1.5)) and rec.abs().max() <= 1.0
    assert toks.dtype == torch.int64


def test_api_compositions_agree(tiny_causal):
    m, sig = tiny_causal, speechlike(2, 9000)
    with torch.no_grad():
        feats = m.sig_to_feats(sig)
        lats = m.feats_to_lats(feats)
        toks = m.lats_to_toks(lats)
        codes = m.toks_to_codes(toks)
        qfeats = m.codes_to_qfeats(codes)
        rec = m.feats_to_sig(qfeats)
        assert torch.allclose(lats.norm(dim=-1), torch.ones(lats.shape[:2]), atol=1e-5)
        assert torch.equal(m.sig_to_toks(sig), toks) and torch.equal(m.feats_to_toks(feats), toks)
        assert torch.equal(m.sig_to_codes(sig), codes) and torch.equal(m.lats_to_codes(lats), codes)
        assert torch.equal(m.codes_to_toks(codes), toks)
        assert torch.allclose(m.sig_to_lats(sig), lats)
        assert torch.allclose(m.toks_to_qfeats(toks), qfeats) and torch.allclose(m.lats_to_qfeats(lats), qfeats)
        assert torch.allclose(m.feats_to_qfeats(feats), qfeats) and torch.allclose(m.sig_to_qfeats(sig), qfeats)
        assert torch.allclose(m.toks_to_sig(toks), rec) and torch.allclose(m.codes_to_sig(codes), rec)
        fwd_toks, fwd_codes, fwd_rec = m(sig)
        assert torch.equal(fwd_toks, toks) and torch.equal(fwd_codes, codes)
        assert torch.allclose(fwd_rec, rec[:, : fwd_rec.shape[1]]) and fwd_rec.shape[1] == int(9000 * 1.5)
        assert torch.allclose(m.sig_to_sig(sig), fwd_rec)


def test_changing_the_future_leaves_past_tokens_unchanged(tiny_causal, tiny_grown):
    sig = speechlike(1, 1280 * 8)
    changed = sig.clone()
    changed[:, 1280 * 5 :] = speechlike(1, 1280 * 3, seed=5)
    for model in (tiny_causal, *tiny_grown):
        with torch.no_grad():
            t1, _, r1 = model(sig)
            t2, _, r2 = model(changed)
        past = 5 * 1280 // model.hop_samples  # tokens of the unchanged first 5 chunks
        assert torch.equal(t1[:, :past], t2[:, :past]) and not torch.equal(t1, t2)
        assert torch.allclose(r1[:, : 5 * 1920], r2[:, : 5 * 1920], atol=1e-6)


def test_batch_items_are_independent(tiny_causal):
    sig = speechlike(3, 7000)
    with torch.no_grad():
        toks, _, rec = tiny_causal(sig)
        for i in range(3):
            t, _, r = tiny_causal(sig[i : i + 1])
            assert torch.equal(t, toks[i : i + 1])
            assert torch.allclose(r, rec[i : i + 1], atol=1e-5)


def test_noncausal_length_mask_hides_padding(tiny_noncausal):
    m = tiny_noncausal
    sig = speechlike(2, 16000)
    # item 1 is valid for ceil(0.5 * 49) = 25 frames, whose receptive fields end at sample 24 * 320 + 400
    valid_samples = 24 * 320 + 400
    zeroed, noisy = sig.clone(), sig.clone()
    zeroed[1, valid_samples:] = 0.0
    noisy[1, valid_samples:] = torch.randn(16000 - valid_samples)
    length = torch.tensor([1.0, 0.5])
    with torch.no_grad():
        f1 = m.sig_to_feats(zeroed, length=length)
        f2 = m.sig_to_feats(noisy, length=length)
        unmasked = m.sig_to_feats(noisy)
    assert f1.shape == (2, 49, 64)
    assert torch.allclose(f1[1, :25], f2[1, :25], atol=1e-5)  # what lies beyond the length does not leak in
    assert torch.allclose(f1[0], f2[0])
    assert not torch.allclose(unmasked[1, :25], f2[1, :25], atol=1e-3)
    toks, _, rec = m(noisy, length=length)
    assert toks.shape == (2, 25) and rec.shape == (2, 16000)  # 49 frames -> ceil(49/2) tokens; padded to N


def test_knn_with_own_features_is_identity(tiny_causal):
    m = tiny_causal
    with torch.no_grad():
        qfeats = m.sig_to_qfeats(speechlike(1, 6400))
        plain = m.feats_to_sig(qfeats)
        matched = m.feats_to_sig(qfeats, matching_set=qfeats[0], topk=1)
        split = m.feats_to_sig(qfeats, matching_set=qfeats[0], topk=1, num_splits=3)
        neighbours = m.knn(qfeats, qfeats[0], topk=4)
    assert torch.allclose(matched, plain, atol=1e-5) and torch.allclose(split, plain, atol=1e-5)
    assert neighbours.shape == (1, qfeats.shape[1], 4, qfeats.shape[2])


def test_output_length_pads_by_repeating(tiny_causal):
    with torch.no_grad():
        rec = tiny_causal.feats_to_sig(tiny_causal.sig_to_feats(speechlike(1, 640)), output_length=2000)
    assert rec.shape == (1, 2000) and torch.all(rec[:, 960:] == rec[:, 959:960])


def test_bad_inputs_fail_clearly(tiny_causal):
    with pytest.raises(ValueError, match="empty"):
        tiny_causal.sig_to_toks(torch.zeros(1, 0))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        tiny_causal.sig_to_toks(torch.zeros(1600))
    with pytest.raises(ValueError, match="Unregistered module"):
        FocalCodec(decoder_name="HiFiGAN")
    with pytest.raises(ValueError, match="Invalid compressor_config"):
        FocalCodec(compressor_config={"no_such_option": 1})


def test_long_causal_input_runs_in_blocks(tiny_causal, monkeypatch):
    sig = speechlike(1, 1280 * 20 + 500, seed=5)
    with torch.no_grad():
        whole = tiny_causal.sig_to_feats(sig)
        monkeypatch.setattr(type(tiny_causal.encoder), "BLOCK_FRAMES", 8)  # 2 chunks per block
        blocked = tiny_causal.sig_to_feats(sig)
    assert blocked.shape == whole.shape and torch.allclose(blocked, whole, atol=1e-5)
