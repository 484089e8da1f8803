"""grow(): one 2x layer pair, inherited weights unchanged, rates halved, new parameter names returned."""

import copy

import pytest
import torch

from fcodec.models import ADAPTED_PARAM_PREFIXES, FocalCodec, configs, grow
from tests.models.conftest import speechlike


def test_growth_keeps_inherited_weights(tiny_causal):
    old = tiny_causal.state_dict()
    grown, new_names = grow(tiny_causal)
    new = grown.state_dict()
    n_dec = len(tiny_causal.decompressor.layers)
    for key, value in old.items():
        if key.startswith("decompressor.layers."):
            index = int(key.split(".")[2])
            key = key.replace(f"decompressor.layers.{index}.", f"decompressor.layers.{index + 1}.", 1)
        assert torch.equal(new[key], value), key
    assert len(grown.compressor.layers) == 3 and len(grown.decompressor.layers) == n_dec + 1
    assert set(new_names) == {k for k in new if k.startswith(("compressor.layers.2.", "decompressor.layers.0."))}
    assert set(new_names) == set(dict(grown.named_parameters())) - {
        k.replace("decompressor.layers.1.", "decompressor.layers.2.").replace(
            "decompressor.layers.0.", "decompressor.layers.1."
        )
        for k in old
    }
    assert all(not name.startswith(ADAPTED_PARAM_PREFIXES) for name in new_names)
    # the model was not modified
    assert all(torch.equal(v, tiny_causal.state_dict()[k]) for k, v in old.items())


def test_growth_halves_rates_and_config(tiny_causal):
    g25, _ = grow(tiny_causal)
    g12, _ = grow(g25)
    assert [(m.frame_rate, m.bitrate) for m in (tiny_causal, g25, g12)] == [(50.0, 550.0), (25.0, 275.0), (12.5, 137.5)]
    assert g12.config["compressor_config"]["downscale_factors"] == [1, 1, 2, 2]
    assert g12.config["decompressor_config"]["upscale_factors"] == [2, 2, 1, 1]
    assert g12.chunk_size == 1280 and g12.latency == 80.0 and g12.sample_rate_output == 24000
    sig = speechlike(1, 1280 * 4)
    with torch.no_grad():
        toks, _, rec = g12(sig)
    assert toks.shape == (1, 4) and rec.shape == (1, 1920 * 4)


def test_growth_is_reproducible_and_keeps_device_dtype(tiny_causal):
    a, _ = grow(tiny_causal, seed=7)
    b, _ = grow(tiny_causal, seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    double, _ = grow(copy.deepcopy(tiny_causal).double(), seed=7)
    assert next(double.parameters()).dtype == torch.float64


def test_identity_warm_start(tiny_causal):
    grown, _ = grow(tiny_causal, identity_init=True)
    block = grown.compressor.layers[2].focal_block
    x = torch.randn(1, 9, 32)
    with torch.no_grad():
        y, _ = block(x)
    assert torch.equal(y, x)  # zeroed output projections: the new focal blocks start as identity residuals
    conv = grown.compressor.layers[2].downscale.downscale.weight
    assert torch.equal(conv[:, :, 0], 0.5 * torch.eye(32)) and torch.equal(conv[:, :, 1], conv[:, :, 0])
    tconv = grown.decompressor.layers[0].upscale.upscale.weight
    assert torch.equal(tconv[:, :, 0], torch.eye(32)) and torch.equal(tconv[:, :, 1], torch.eye(32))


def test_growth_of_noncausal_and_width_change():
    model = FocalCodec(**configs.tiny_noncausal_config((1, 1)))
    grown, new_names = grow(model, compressor_dim=16, decompressor_dim=24)
    assert grown.frame_rate == 25.0
    # a width change makes the adjacent projections new as well
    assert {"compressor.out_proj.weight", "decompressor.in_proj.weight"} <= set(new_names)
    with pytest.raises(ValueError, match="keep its width"):
        grow(model, compressor_dim=16, identity_init=True)
