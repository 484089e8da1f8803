"""Our state dicts match the spec's tables key for key and shape for shape (published and grown configs)."""

import copy

import pytest
import torch

from fcodec.models import FocalCodec, configs, grow
from tests.models.spec_tables import expected_state_dict_shapes


def meta_model(config) -> FocalCodec:
    with torch.device("meta"):  # full-size models without allocating their weights
        return FocalCodec(**copy.deepcopy(config))


def shapes(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("repo", sorted(configs.PUBLISHED_CONFIGS))
def test_published_configs_match_spec_tables(repo):
    config = configs.PUBLISHED_CONFIGS[repo]
    got, expected = shapes(meta_model(config)), expected_state_dict_shapes(config)
    assert sorted(set(got) - set(expected)) == [] and sorted(set(expected) - set(got)) == []
    assert {k: v for k, v in got.items() if expected[k] != v} == {}
    assert not any(k.startswith("quantizer.") for k in got)  # BSQ has no persistent state


def test_parameter_counts_match_spec():
    # spec 9: causal v0.0.2 defaults (4k codebook) and the non-causal 50 Hz model with focal 14/4
    model = meta_model(configs.causal_config(4096))
    count = lambda m: sum(v.numel() for v in m.state_dict().values())  # noqa: E731
    assert count(model) == 249_038_490
    assert [count(getattr(model, p)) for p in ("encoder", "compressor", "decompressor", "decoder")] == [
        88_708_240,
        42_630_171,
        76_193_807,
        41_506_272,
    ]
    assert count(meta_model(configs.noncausal_config((1, 1, 1)))) == 142_183_601
    assert count(meta_model(configs.noncausal_config((1, 1, 1), focal_window=7, focal_factor=2))) == 142_126_257


def test_default_constructor_is_upstream_default():
    # FocalCodec() must mean what upstream v0.0.2's FocalCodec() means: WaveNeXt decoder, 4096 codebook
    model = meta_model({})
    assert model.decoder_name == "WaveNeXt" and model.codebook_size == 4096 and not model.causal
    assert shapes(model) == expected_state_dict_shapes({})


def test_grown_causal_keys_follow_spec_section_10():
    with torch.device("meta"):
        base = FocalCodec(**configs.causal_config(2048))
        g25, new25 = grow(base)
        g12, new12 = grow(g25)
    got = shapes(g25)
    assert got == expected_state_dict_shapes(g25.config)
    c = 1024
    # the new layers' parameter names at 25 Hz (docs/architecture.md, Growth)
    assert got["compressor.layers.3.downscale.downscale.weight"] == (c, c, 2)
    assert got["compressor.layers.3.focal_block.modulation.in_proj.weight"] == (2 * c + 3, c)
    assert got["compressor.layers.3.focal_block.modulation.layers.2.0.weight"] == (c, 1, 512)
    assert got["decompressor.layers.0.upscale.upscale.weight"] == (c, c, 2)
    assert got["compressor.out_proj.weight"] == (11, c) and got["decompressor.in_proj.weight"] == (c, 11)
    assert all(k.startswith(("compressor.layers.3.", "decompressor.layers.0.")) for k in new25)
    assert all(k.startswith(("compressor.layers.4.", "decompressor.layers.0.")) for k in new12)
    assert len(new25) == len(new12) == 2 * 18 + 3 + 3  # two focal blocks (18 tensors) + down/up scale (3 each)
    assert g12.config["compressor_config"]["downscale_factors"] == [1, 1, 1, 2, 2]
    assert g12.config["decompressor_config"]["upscale_factors"] == [2, 2, 1, 1, 1]
    assert shapes(g12) == expected_state_dict_shapes(g12.config)
