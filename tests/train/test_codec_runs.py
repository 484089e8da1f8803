"""The codec's training runs on tiny random models and mini-recipe-like speech: what trains, with which LR, the
three runs (50, 25, 12.5 Hz) chained through their exported best models, and the training loss falling."""

import json
import math

import pytest
import torch

from fcodec.models import FocalCodec, grow
from fcodec.train.config import load_config
from fcodec.train.run import build_codec_module, run_training
from tests.train.speech import run_overrides


def grads_after_step(module, plan, step, batch):
    plan.apply(module, step)
    module.train()
    module.zero_grad(set_to_none=True)
    total, _, _ = module(batch, step)
    total.backward()
    return {n for n, p in module.named_parameters() if p.grad is not None}


def speech_batch(assets):
    from fcodec.data import build_dataloader

    return next(iter(build_dataloader(str(assets["train"]), train=True, max_duration=3, segment_duration=1.0)))


@pytest.mark.parametrize("mode", ["decompressor_only", "both_ste"])
def test_gradients_reach_only_what_the_run_trains(assets, tmp_path, mode):
    cfg = load_config(None, run_overrides(assets, **{"model.init_from": assets["codec"], "model.trainable": mode}))
    _, module, plan = build_codec_module(cfg, tmp_path)
    got = grads_after_step(module, plan, 0, speech_batch(assets))
    prefixes = ("codec.decompressor.",) if mode == "decompressor_only" else ("codec.compressor.", "codec.decompressor.")
    expected = {n for n, _ in module.named_parameters() if n.startswith(prefixes)}
    assert got == expected
    assert not any(n.startswith(("codec.encoder.", "codec.decoder.")) for n in got)


def test_grown_run_dual_lr_groups_warmup_and_ctc_head(assets, tmp_path):
    cfg = load_config(
        None,
        run_overrides(
            assets,
            **{
                "model.init_from": assets["codec"],
                "model.grow": 1,
                "model.trainable": "both_ste",
                "model.new_only_steps": 3,
                "optim.lr": 5e-5,
                "optim.lr_new": 5e-4,
                "losses.ctc.weight": 0.5,
            },
        ),
    )
    start, module, plan = build_codec_module(cfg, tmp_path)
    _, grown_names = grow(FocalCodec.from_pretrained(assets["codec"]), seed=0)
    assert start.grown_param_names == grown_names and start.codec.frame_rate == 25.0
    names = [n for n, _ in module.named_parameters()]
    new = {f"codec.{n}" for n in grown_names}
    new |= {
        n
        for n in names
        if n.startswith(("codec.compressor.out_proj.", "codec.decompressor.in_proj.", "losses.terms.ctc."))
    }
    assert any(n.startswith("losses.terms.ctc.") for n in new)
    inherited = {n for n in names if n.startswith(("codec.compressor.", "codec.decompressor."))} - new
    from fcodec.train.optim import build_optimizer

    optimizer = build_optimizer(plan.param_groups(module, cfg.optim.lr, cfg.optim.lr_new, 0.01), cfg.optim)
    by_id = {id(p): n for n, p in module.named_parameters()}
    groups = {g["name"]: ({by_id[id(p)] for p in g["params"]}, g["lr"]) for g in optimizer.param_groups}
    assert groups == {"new": (new, 5e-4), "inherited": (inherited, 5e-5)}
    batch = speech_batch(assets)
    assert grads_after_step(module, plan, 2, batch) == new  # warm-up: only the new tensors
    assert grads_after_step(module, plan, 3, batch) == new | inherited


def test_three_runs_chain_and_the_loss_falls(assets, tmp_path):
    common = {"train.dev_interval": 5, "train.save_every_n": 5, "train.max_steps": 15, "optim.lr": 2e-3}
    s1 = run_training(
        None,
        tmp_path / "train_50hz",
        run_overrides(assets, **{**common, "model.init_from": assets["codec"], "model.trainable": "decompressor_only"}),
    )
    losses = [h["loss"] for h in s1.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    s2 = run_training(
        None,
        tmp_path / "train_25hz",
        run_overrides(
            assets,
            **{
                **common,
                "model.init_from": tmp_path / "train_50hz" / "best",
                "model.grow": 1,
                "model.trainable": "both_ste",
                "model.new_only_steps": 5,
                "optim.lr_new": 2e-3,
                "train.max_steps": 10,
                "losses.ctc.weight": 0.1,
                "data.segment_duration": "null",
                "data.max_duration": 8,
            },
        ),
    )
    s3 = run_training(
        None,
        tmp_path / "train_12.5hz",
        run_overrides(
            assets,
            **{
                **common,
                "model.init_from": tmp_path / "train_25hz" / "best",
                "model.grow": 1,
                "model.trainable": "both_ste",
                "train.max_steps": 5,
            },
        ),
    )
    names = ["train_50hz", "train_25hz", "train_12.5hz"]
    for n, (_summary, rate, bps) in enumerate([(s1, 50.0, 550.0), (s2, 25.0, 275.0), (s3, 12.5, 137.5)], start=1):
        exp = tmp_path / names[n - 1]
        model = FocalCodec.from_pretrained(exp / "best")
        assert (model.frame_rate, model.bitrate) == (rate, bps)
        info = json.loads((exp / "init.json").read_text())
        assert (info["frame_rate"], info["bitrate"]) == (rate, bps)
        assert info["init_from"] == str((assets["codec"] if n == 1 else tmp_path / names[n - 2] / "best").resolve())
        assert bool(info["new_param_names"]) == (n > 1)
        assert list((exp / "log").glob("log-train-*")) and list((exp / "tensorboard").glob("events.*"))
        assert list((exp / "checkpoints").glob("checkpoint-*.pt"))
        assert json.loads((exp / "train_summary.json").read_text())["bitrate"] == bps
        assert (exp / "config.yaml").read_text().startswith("# Resolved training config")
        # the exported best model reconstructs: the decode path works outside the trainer
        with torch.no_grad():
            toks = model.sig_to_toks(torch.randn(1, 16000) * 0.1)
        assert toks.shape[1] == math.ceil(rate)
    # TensorBoard has the loss terms, the LR of each group, grad norm and codebook figures
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "train_25hz" / "tensorboard"), size_guidance={"audio": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "train/feature",
        "train/mel",
        "train/stft",
        "train/ctc",
        "train/grad_norm",
        "train/lr_new",
        "train/lr_inherited",
        "dev/loss",
        "dev/codebook_usage",
        "dev/codebook_perplexity",
    } <= tags
    assert any(tag.endswith("/reconstruction") for tag in events.Tags()["audio"])
