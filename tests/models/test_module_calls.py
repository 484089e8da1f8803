"""Layers are called as modules in training (hooks and adapters see them); fast kernels only at inference."""

import copy

import pytest
import torch
from torch import nn

from fcodec.models.common import inference_path
from tests.models.conftest import speechlike


def training_step(model, sig):
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    out = model.forward_train(sig)
    (out.sig.square().mean() + out.qfeats.square().mean()).backward()
    optimizer.step()


def test_forward_hooks_on_compressor_layers_fire_during_a_training_step(tiny_causal):
    model = copy.deepcopy(tiny_causal).train()
    model.encoder.requires_grad_(False)  # as in the 50 Hz training run: frozen encoder, compressor trained
    block = model.compressor.layers[0].focal_block
    watched = {
        "in_proj (Linear)": block.modulation.in_proj,
        "feed_forward.in_proj (Linear)": block.feed_forward.in_proj,
        "out_proj (Linear)": model.compressor.out_proj,
        "context_proj (pointwise Conv1d)": block.modulation.context_proj,
        "focal level conv (depthwise Conv1d)": block.modulation.layers[0][0],
        "downscale (Conv1d)": model.compressor.layers[0].downscale.downscale,
        "decompressor upscale (ConvTranspose1d)": model.decompressor.layers[0].upscale.upscale,
    }
    calls = {name: [] for name in watched}
    for name, layer in watched.items():
        layer.register_forward_hook(lambda mod, args, out, name=name: calls[name].append(out.shape))
    training_step(model, speechlike(2, 6400))
    assert {name: len(seen) for name, seen in calls.items()} == {name: 1 for name in watched}


class LowRankAdapter(nn.Module):
    """A module-wrapping adapter (LoRA style): what PEFT-like libraries put in place of a linear layer."""

    def __init__(self, base: nn.Linear, rank: int = 2) -> None:
        super().__init__()
        self.base = base
        self.down = nn.Linear(base.in_features, rank, bias=False)
        self.up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.normal_(self.up.weight, std=0.5)

    def forward(self, x):
        return self.base(x) + self.up(self.down(x))


@pytest.mark.parametrize("training", [True, False])
def test_module_wrapping_adapter_is_used(tiny_causal, training):
    model = copy.deepcopy(tiny_causal)
    sig = speechlike(1, 6400)
    with torch.no_grad():
        before = model.eval().sig_to_lats(sig)
    modulation = model.compressor.layers[0].focal_block.modulation
    modulation.in_proj = LowRankAdapter(modulation.in_proj)
    if training:
        model.train()
        out = model.forward_train(sig)
        out.lats.sum().backward()
        assert modulation.in_proj.up.weight.grad is not None and modulation.in_proj.up.weight.grad.abs().sum() > 0
        after = out.lats.detach()
    else:
        with torch.no_grad():
            after = model.eval().sig_to_lats(sig)
    assert not torch.allclose(before, after, atol=1e-3)  # the adapter changed the result: it was called


def test_fast_path_only_at_inference():
    layer, x = nn.Linear(8, 4), torch.randn(2, 8)
    assert not inference_path(layer.train(), x)  # training mode, autograd on
    layer.eval()
    assert not inference_path(layer, x)  # eval mode, but the weights need gradients and autograd records
    with torch.no_grad():
        assert inference_path(layer, x)
        handle = layer.register_forward_hook(lambda *args: None)
        assert not inference_path(layer, x)  # someone watches the layer: call it
        handle.remove()
        assert not inference_path(LowRankAdapter(nn.Linear(8, 4)).eval(), x)  # not a plain layer
