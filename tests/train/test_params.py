"""Parameter plans: which tensors train in each mode, the dual-LR groups, and the new-only warm-up."""

import pytest
import torch

from fcodec.train.config import OptimConfig
from fcodec.train.optim import build_optimizer
from fcodec.train.params import TRAINABLE_MODES, build_param_plan
from tests.train.toy import ToyCodec


def _grads_after_backward(model, plan, step):
    plan.apply(model, step)
    model.zero_grad(set_to_none=True)
    audio = torch.randn(2, 800)
    (model(audio) - audio).pow(2).mean().backward()
    return {n for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("mode", sorted(TRAINABLE_MODES))
def test_gradients_reach_only_the_mode_parameters(mode):
    model = ToyCodec()
    plan = build_param_plan(model, TRAINABLE_MODES[mode])
    got = _grads_after_backward(model, plan, step=0)
    expected = {n for n, _ in model.named_parameters() if any(n.startswith(p) for p in TRAINABLE_MODES[mode])}
    assert got == expected and got
    assert all(not p.requires_grad for n, p in model.named_parameters() if n not in expected)


def test_dual_lr_groups_and_new_only_warmup():
    model = ToyCodec()
    new_specs = ["decompressor.2", "compressor.0.bias"]
    plan = build_param_plan(model, TRAINABLE_MODES["both_ste"], new_specs, new_only_steps=3)
    new = {"decompressor.2.weight", "decompressor.2.bias", "compressor.0.bias"}
    assert plan.new == new
    optimizer = build_optimizer(plan.param_groups(model, lr=5e-5, lr_new=5e-4, weight_decay=0.01), OptimConfig())
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: ({names[id(p)] for p in g["params"]}, g["lr"]) for g in optimizer.param_groups}
    assert groups["new"] == (new, 5e-4)
    inherited = {n for n, _ in model.named_parameters() if n.startswith(("compressor.", "decompressor."))} - new
    assert groups["inherited"] == (inherited, 5e-5)
    # during the warm-up only the new tensors get gradients; afterwards every trainable one
    assert _grads_after_backward(model, plan, step=2) == new
    assert _grads_after_backward(model, plan, step=3) == new | inherited
    assert not any(n.startswith(("encoder.", "decoder.")) for n in new | inherited)


def test_spec_matching_is_by_whole_name_components():
    model = ToyCodec()
    # "compressor" must not swallow "decompressor.*", and a spec that matches nothing is an error
    plan = build_param_plan(model, ["compressor"])
    assert plan.trainable and all(n.startswith("compressor.") for n in plan.trainable)
    with pytest.raises(ValueError, match="matches no parameter"):
        build_param_plan(model, ["compressor.out_proj."])
