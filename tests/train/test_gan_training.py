"""Adversarial training and decoder fine-tuning in the codec's training run: what the run logs and saves, the exported
model carrying the fine-tuned decoder, and the DDP step (two gloo processes = one process, same global batch)."""

import tempfile
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from fcodec.models import FocalCodec
from fcodec.train.build import build_codec_module, build_trainer
from fcodec.train.config import ConfigError, load_config
from fcodec.train.objective import CodecObjective
from fcodec.train.run import run_training
from tests.train.gan import TINY_GAN
from tests.train.speech import run_overrides


def scalar_tags(folder: Path) -> set:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in folder.glob("events.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_gan_stage_with_decoder_fine_tuning_logs_saves_and_exports(assets, tmp_path):
    exp = tmp_path / "exp"
    overrides = run_overrides(
        assets,
        **{
            "model.init_from": assets["codec"],
            "model.trainable": "decompressor_only",
            "model.train_decoder": True,
            "optim.lr_decoder": 1e-3,
            "gan.start_step": 2,
            "train.max_steps": 5,
            "train.dev_interval": 5,
            "train.save_every_n": 5,
            "train.log_interval": 1,
            "train.num_audio_samples": 0,
            **TINY_GAN,
        },
    )
    summary = run_training(None, exp, overrides)
    assert summary.steps == 5 and summary.best_step == 5
    ckpt = torch.load(exp / "checkpoints" / "checkpoint-5.pt", weights_only=True)
    # the discriminators' weights, optimizer (3 steps: from gan.start_step=2) and scheduler are saved
    assert set(ckpt["gan"]) == {"model", "optimizer", "scheduler"}
    assert {s["step"].item() for s in ckpt["gan"]["optimizer"]["state"].values()} == {3.0}
    assert ckpt["gan"]["scheduler"]["last_epoch"] == 3
    assert [g["name"] for g in ckpt["optimizer"]["param_groups"]] == ["inherited", "decoder"]
    assert ckpt["optimizer"]["param_groups"][1]["lr"] == pytest.approx(1e-3)
    tags = scalar_tags(exp / "tensorboard")
    for tag in (
        "train/adversarial",
        "train/feature_matching",
        "train/disc_loss",
        "train/disc_grad_norm",
        "train/disc_real/mpd2",
        "train/disc_fake/mrd1024",
        "train/disc_loss/mpd5",
        "train/lr_disc",
        "train/lr_decoder",
        "dev/adversarial",
        "dev/feature_matching",
    ):
        assert tag in tags, tag
    # best/ is the upstream format and carries the fine-tuned decoder; the encoder never trained
    init = FocalCodec.from_pretrained(assets["codec"])
    best = FocalCodec.from_pretrained(exp / "best")
    trained = {k[len("codec.") :]: v for k, v in ckpt["model"].items() if k.startswith("codec.")}
    for name, tensor in best.state_dict().items():
        assert torch.equal(tensor, trained[name]), name
    init_state = init.state_dict()
    assert any(not torch.equal(v, init_state[k]) for k, v in best.state_dict().items() if k.startswith("decoder."))
    assert all(torch.equal(v, init_state[k]) for k, v in best.state_dict().items() if k.startswith("encoder."))


def test_gan_config_errors_name_the_fix(assets, tmp_path):
    base = run_overrides(assets, **{"model.init_from": assets["codec"]})
    with pytest.raises(ConfigError, match="losses.adversarial.weight"):
        build_codec_module(load_config(None, [*base, "gan.start_step=0"]), tmp_path)
    with pytest.raises(ValueError, match="gan: section"):
        build_codec_module(load_config(None, [*base, "losses.adversarial.weight=1"]), tmp_path)
    assert load_config(None, base).gan is None  # no gan: no discriminators, training as before


# ------------------------------------------------------------------------------------------------------------ DDP

# AdamW's first step is lr * g / (|g| + eps): with a tiny eps it is lr * sign(g), and a gradient that is 0 in exact
# arithmetic (a bias under a symmetric hinge, a clamped output) gets a sign from rounding, which then differs
# between 1 and 2 processes by 2 lr. A larger eps keeps the update a smooth function of the gradient, so the
# comparison below tests the gradients DDP averaged, not rounding noise.
SMOOTH_ADAM = {"optim.lr": 0.1, "optim.eps": 1e-3, "gan.lr": 0.1, "gan.eps": 1e-2}
# Every term a mean over equal shares, so the mean over ranks is the global batch's mean: the STFT loss's
# spectral convergence is a ratio of norms over the whole batch (not a per-item mean), so it is left out here.
PER_ITEM_LOSSES = {"losses.stft.weight": 0}


def one_step(rank: int, world: int, assets: dict, batch: dict, init_file: str, out: str) -> None:
    """One GAN training step on ``rank``'s share of ``batch``; rank 0 saves both models' weights to ``out``."""
    from fcodec.train.distributed import DistInfo

    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        dist = DistInfo(rank=rank, world_size=world)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(
                None,
                run_overrides(
                    assets,
                    **{
                        "model.init_from": assets["codec"],
                        "model.trainable": "decompressor_only",
                        "model.train_decoder": True,
                        "gan.start_step": 0,
                        "gan.grad_clip": 0.5,
                        "optim.grad_clip": 0.5,
                        **TINY_GAN,
                        **SMOOTH_ADAM,
                        **PER_ITEM_LOSSES,
                    },
                ),
            )
            torch.manual_seed(0)
            start, module, plan = build_codec_module(cfg, Path(tmp), dist)
            trainer = build_trainer(cfg, Path(tmp), module, plan, dist=dist, discriminators=start.discriminators)
            trainer.prepare(0)
            adversary = trainer.adversary
            share = batch["audio"].shape[0] // world
            part = {k: v[rank * share : (rank + 1) * share] for k, v in batch.items()}
            if rank == 0:
                torch.save(adversary.model.state_dict(), out + ".init")
            trainer.train_step(part)
            assert trainer.guard.total == 0
            if rank == 0:
                torch.save({"codec": module.state_dict(), "disc": adversary.model.state_dict()}, out)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def test_two_gloo_processes_make_the_same_gan_update_as_one_with_the_global_batch(assets, tmp_path):
    from tests.train.test_codec_runs import speech_batch

    full = speech_batch(assets)  # equal-length crops: every loss is a mean over equal shares
    batch = {"audio": full["audio"][:2], "audio_lens": full["audio_lens"][:2]}
    assert batch["audio"].shape[0] == 2 and bool((batch["audio_lens"] == batch["audio"].shape[1]).all())
    one_step(0, 1, assets, batch, "", str(tmp_path / "one.pt"))
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=one_step, args=(r, 2, assets, batch, str(tmp_path / "init"), str(tmp_path / "two.pt")))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0, 0]
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    init = FocalCodec.from_pretrained(assets["codec"]).state_dict()
    initial_disc = torch.load(str(tmp_path / "one.pt") + ".init")
    for part in ("codec", "disc"):
        for name, tensor in one[part].items():  # updates are ~lr = 0.1; float sums in another order differ
            assert torch.allclose(tensor, two[part][name], rtol=1e-4, atol=5e-5), (part, name)
    # the step moved the decoder and the discriminators far more than the tolerance
    assert (
        max(
            float((v - init[k[len("codec.") :]]).abs().max())
            for k, v in one["codec"].items()
            if k.startswith("codec.decoder.")
        )
        > 1e-2
    )
    assert max(float((v - initial_disc[k]).abs().max()) for k, v in one["disc"].items()) > 1e-2


def test_decoder_only_trains_the_decoder_alone_in_its_own_group(assets, tmp_path):
    from fcodec.train.optim import build_optimizer
    from tests.train.test_codec_runs import grads_after_step, speech_batch

    cfg = load_config(
        None,
        run_overrides(
            assets, **{"model.init_from": assets["codec"], "model.trainable": "decoder_only", "optim.lr_decoder": 1e-4}
        ),
    )
    _, module, plan = build_codec_module(cfg, tmp_path)
    got = grads_after_step(module, plan, 0, speech_batch(assets))
    assert got == {n for n, _ in module.named_parameters() if n.startswith("codec.decoder.")}
    groups = build_optimizer(
        plan.param_groups(module, cfg.optim.lr, cfg.optim.lr_new, 0.0, own_lrs={"decoder": 1e-4}), cfg.optim
    ).param_groups
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("decoder", 1e-4, len(got))]


def test_a_codec_trainer_judges_with_the_stage_discriminators(assets, tmp_path):
    """The generator's GAN terms and the discriminators' own step must use the same networks: build_trainer
    refuses a GAN codec training run without them rather than build fresh ones."""
    cfg = load_config(None, run_overrides(assets, **{"model.init_from": assets["codec"], **TINY_GAN}))
    start, module, plan = build_codec_module(cfg, tmp_path)
    with pytest.raises(ValueError, match="run's discriminators"):
        build_trainer(cfg, tmp_path, module, plan)
    trainer = build_trainer(cfg, tmp_path, module, plan, discriminators=start.discriminators)
    assert trainer.adversary.model is start.discriminators
    assert isinstance(trainer.objective, CodecObjective) and trainer.objective.module is module
