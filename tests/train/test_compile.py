"""``train.compile``: a compiled training step computes the same losses and makes the same update as an eager one.

The 25 Hz training run's setup on a tiny codec (grown to 25 Hz, compressor and decompressor training through the
straight-through quantiser) with the reconstruction losses and the Whisper ASR loss on a tiny random Whisper,
one real ``Trainer.train_step`` each, eager and compiled, on the same batch and from the same weights. The codec
has one transformer layer in its encoder and one in its decoder, the Whisper one per side: every kind of layer
once, which is what compiling is checked on; each more layer is more code for inductor to generate (its cold
cache is most of this test's time on a clean machine).

Tolerances. Inductor fuses and reorders float32 reductions, so results agree to rounding, not bit for bit: each
loss term within 1e-4 relative (float32 rounding over the few thousand-element reductions of these terms is
~1e-6; the margin covers the sums inside the STFT and cross-entropy terms). The parameter update is compared as a
whole: at AdamW's first step each coordinate moves by about lr * sign(gradient), so a coordinate whose gradient
is at rounding level may move either way in either run. Such flips may be at most 0.1 % of the coordinates (each
adds 2 lr to the difference, so a bound on the difference's norm would depend on how many gradients happen to be
near zero: a 1 % norm bound failed in one CI run, on about 14 flips of 222k coordinates); the other coordinates must agree
to 1 % of the update's norm, and no coordinate may move by more than a step (2 lr) differently.

Compiling takes minutes on a CPU (C++ code generation of the codec's and Whisper's forward and backward graphs),
hence ``slow``. Switching ``train.compile`` on when resuming a run (unfused AdamW in the checkpoint, fused in the
config) is checked without compiling.
"""

import contextlib
import copy
import shutil

import pytest
import torch

from fcodec.train.build import build_codec_module, build_trainer
from fcodec.train.config import load_config
from tests.train.speech import run_overrides

needs_compiler = pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None and shutil.which("clang++") is None,
    reason="torch.compile (inductor) needs a C++ compiler on CPU; none is installed",
)

LR = 1e-3


def one_step(assets, slim, tmp_path, batch, compile: bool):
    cfg = load_config(
        None,
        run_overrides(
            assets,
            **{
                "model.init_from": slim["codec"],
                "model.grow": 1,
                "model.trainable": "both_ste",
                "losses.asr.weight": 30,
                "losses.asr.whisper": slim["whisper"],
                "optim.lr": LR,
                "optim.lr_new": LR,
                "train.compile": str(compile).lower(),
            },
        ),
    )
    exp = tmp_path / ("compiled" if compile else "eager")
    _, module, plan = build_codec_module(cfg, exp)
    trainer = build_trainer(cfg, exp, module, plan)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    # scalar C++ kernels: what this test checks is that train.compile captures the same training step (users
    # compile on GPUs, where inductor writes Triton, not C++); vectorised C++ takes inductor 40 % longer to build
    # on a cold cache (2-core Intel Xeon: 118 s -> 82 s for this test)
    with torch._inductor.config.patch({"cpp.simdlen": 1}) if compile else contextlib.nullcontext():
        trainer.train_step(batch)
    after = {n: p.detach().clone() for n, p in module.named_parameters()}
    return before, after, dict(trainer.interval.totals)


@pytest.fixture(scope="module")
def slim(tmp_path_factory):
    """The tiny codec and Whisper with one layer where they have a stack of them."""
    from fcodec.models import FocalCodec
    from fcodec.models.configs import tiny_causal_config
    from fcodec.utils.whisper import make_tiny_whisper

    root = tmp_path_factory.mktemp("slim")
    config = tiny_causal_config()
    config["encoder_config"]["num_layers"] = config["decoder_config"]["num_layers"] = 1
    torch.manual_seed(0)
    FocalCodec(**config).save_pretrained(root / "codec")
    whisper = make_tiny_whisper(root / "tiny-one-layer.pt", n_audio_layer=1, n_text_layer=1)
    return {"codec": root / "codec", "whisper": whisper}


@pytest.mark.slow
@needs_compiler
def test_compiled_step_matches_eager(assets, slim, tmp_path):
    from fcodec.data import build_dataloader

    batch = next(iter(build_dataloader(str(assets["train"]), train=True, max_duration=3, segment_duration=1.0)))
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]  # what dynamo compiled (no public counter)
    before_e, after_e, logged_e = one_step(assets, slim, tmp_path, batch, compile=False)
    before_c, after_c, logged_c = one_step(assets, slim, tmp_path, batch, compile=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= graphs + 2  # codec and Whisper, not eager

    assert before_e.keys() == before_c.keys()
    assert all(torch.equal(before_e[n], before_c[n]) for n in before_e)  # the same starting weights

    assert logged_e["skipped"] == logged_c["skipped"] == 0.0
    terms = ("feature", "mel", "stft", "asr", "loss")
    assert set(terms) <= logged_e.keys()
    for name in terms:
        assert logged_c[name] == pytest.approx(logged_e[name], rel=1e-4), name
    assert logged_c["grad_norm"] == pytest.approx(logged_e["grad_norm"], rel=1e-3)

    trained = [n for n in before_e if not torch.equal(before_e[n], after_e[n])]
    assert any(n.startswith("codec.compressor.") for n in trained)  # both_ste: the step reached the compressor
    assert trained == [n for n in before_c if not torch.equal(before_c[n], after_c[n])]
    update_e = torch.cat([(after_e[n] - before_e[n]).flatten() for n in trained])
    update_c = torch.cat([(after_c[n] - before_c[n]).flatten() for n in trained])
    differ = (update_c - update_e).abs()
    flipped = differ > LR  # a coordinate whose gradient is at rounding level moved the other way
    assert flipped.float().mean() <= 1e-3  # rare: about 14 of 222k in the worst run seen (from its norm)
    assert differ[~flipped].norm() <= 0.01 * update_e.norm()  # the others move alike
    assert differ.max() <= 2 * LR * 1.01


def test_resuming_with_the_fused_optimizer_continues_the_unfused_ones_moments():
    from fcodec.train.checkpoint import hyperparameters, reapply_hyperparameters
    from fcodec.train.config import OptimConfig
    from fcodec.train.optim import build_optimizer, build_plateau

    torch.manual_seed(0)
    weights = torch.randn(5, 3)

    def model_and_optimizer(fused):
        model = torch.nn.Linear(3, 5)
        with torch.no_grad():
            model.weight.copy_(weights)
        optimizer = build_optimizer([{"params": list(model.parameters()), "lr": 1e-2}], OptimConfig(), fused=fused)
        return model, optimizer

    def step(model, optimizer):
        model(torch.ones(2, 3)).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()

    reference, unfused = model_and_optimizer(False)
    step(reference, unfused)
    resumed, fused = model_and_optimizer(True)
    resumed.load_state_dict(reference.state_dict())
    configured = hyperparameters(fused, build_plateau(fused, OptimConfig()))
    fused.load_state_dict(copy.deepcopy(unfused.state_dict()))  # a checkpoint of the unfused AdamW
    assert fused.param_groups[0]["fused"] is None
    changes = reapply_hyperparameters(fused, build_plateau(fused, OptimConfig()), configured)
    assert changes == ["group 0: fused None -> True"] and fused.param_groups[0]["fused"] is True
    assert all(fused.state[p]["step"].dtype == torch.float32 for p in resumed.parameters())
    step(reference, unfused)
    step(resumed, fused)  # the second AdamW step in both: moments and step count carried over
    assert fused.state[resumed.weight]["step"].item() == 2
    torch.testing.assert_close(resumed.weight, reference.weight)
