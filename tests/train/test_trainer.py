"""The generic training loop on a small real model: learning, the NaN guard, checkpoints, best model, resume."""

import math

import pytest
import torch
from safetensors.torch import load_file

from fcodec.train.adversary import build_discriminators
from fcodec.train.build import build_trainer
from fcodec.train.config import load_config
from fcodec.train.nonfinite import NonFiniteError
from fcodec.train.params import build_param_plan
from fcodec.train.rng import seed_everything
from tests.train.gan import TINY_GAN
from tests.train.toy import SR, ToyCodec, ToyObjective, export_state, make_cuts, make_loader


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_cuts(tmp_path_factory.mktemp("toy_wav"), num=12)


def make_trainer(exp_dir, cuts, overrides=(), objective=None, num_workers=0):
    """The toy trainer; with ``gan.*`` overrides it also trains discriminators on the toy reconstructions."""
    cfg = load_config(None, ["train.device=cpu", "optim.lr=3e-3", "train.log_interval=5", *overrides])
    seed_everything(0)
    model = ToyCodec()
    plan = build_param_plan(model, ["compressor.", "decompressor."])
    return build_trainer(
        cfg,
        exp_dir,
        model,
        plan,
        train_dl=make_loader(cuts, True, num_workers=num_workers),
        dev_dl=make_loader(cuts, False),
        objective=objective or ToyObjective(),
        sample_rates=(SR, SR),
        export_best=export_state,
    )


def test_training_lowers_the_dev_loss_and_exports_the_best(tmp_path, cuts):
    trainer = make_trainer(
        tmp_path,
        cuts,
        ["train.max_steps=40", "train.dev_interval=10", "train.save_every_n=10", "train.keep_last_k=2"],
    )
    summary = trainer.fit()
    losses = [h["loss"] for h in summary.history]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]
    assert summary.best_step == 40 and summary.best_loss == losses[-1]
    # keep-last-K, the exported best model, TensorBoard events
    assert [p.name for p in sorted((tmp_path / "checkpoints").iterdir())] == ["checkpoint-30.pt", "checkpoint-40.pt"]
    best = load_file(str(tmp_path / "best" / "model.safetensors"))
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(best[name], tensor)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    ckpt = torch.load(tmp_path / "checkpoints" / "checkpoint-40.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "sampler", "rng", "loop", "config"} <= set(ckpt)
    assert ckpt["loop"]["step"] == 40 and ckpt["rng"][0]["torch"].dtype == torch.uint8


class Crash(Exception):
    pass


class CrashAt(ToyObjective):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def compute(self, model, batch, step, train):
        if train and step == self.step:
            raise Crash(f"simulated crash at step {step}")
        return super().compute(model, batch, step, train)


def test_resume_continues_exactly_where_it_stopped(tmp_path, cuts):
    common = ["train.max_steps=22", "train.dev_interval=6", "train.save_every_n=4", "optim.plateau_patience=0"]
    straight = make_trainer(tmp_path / "a", cuts, common).fit()
    with pytest.raises(Crash):  # dies in step 11, after the checkpoint of step 8 and the validation at step 6
        make_trainer(tmp_path / "b", cuts, common, CrashAt(10)).fit()
    # a fresh process builds everything again from the same seed, then resumes at step 8
    seed_everything(123)
    summary = make_trainer(tmp_path / "b", cuts, common).fit()
    assert summary.param_checksum == straight.param_checksum
    assert [h["step"] for h in summary.history] == [12, 18, 22]
    assert [h["loss"] for h in summary.history] == [h["loss"] for h in straight.history[1:]]
    a = torch.load(tmp_path / "a" / "checkpoints" / "checkpoint-22.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "checkpoint-22.pt", weights_only=True)
    assert a["loop"] == b["loop"] and a["scheduler"] == b["scheduler"]
    for key in a["optimizer"]["state"]:
        assert torch.equal(a["optimizer"]["state"][key]["exp_avg_sq"], b["optimizer"]["state"][key]["exp_avg_sq"])
    # rerunning a finished run does nothing and keeps the result
    again = make_trainer(tmp_path / "b", cuts, common).fit()
    assert again.param_checksum == straight.param_checksum and again.history == []


def test_a_checkpoint_written_before_last_valid_step_was_renamed_resumes(tmp_path, cuts):
    """Checkpoints of before the rename say ``last_valid_step`` (and ``train.valid_interval`` in their config): a
    finished run rerun from one is still finished (no extra validation), a run stopped half way continues."""
    common = ["train.max_steps=8", "train.dev_interval=4", "train.save_every_n=4", "optim.plateau_patience=0"]
    straight = make_trainer(tmp_path, cuts, common).fit()

    def written_before_the_rename(path):
        ckpt = torch.load(path, weights_only=True)
        ckpt["loop"]["last_valid_step"] = ckpt["loop"].pop("last_dev_step")
        ckpt["config"]["train"]["valid_interval"] = ckpt["config"]["train"].pop("dev_interval")
        torch.save(ckpt, path)

    written_before_the_rename(tmp_path / "checkpoints" / "checkpoint-8.pt")
    again = make_trainer(tmp_path, cuts, common).fit()
    assert again.history == [] and again.param_checksum == straight.param_checksum
    assert again.steps == 8
    (tmp_path / "checkpoints" / "checkpoint-8.pt").unlink()  # as if it had stopped after step 4
    written_before_the_rename(tmp_path / "checkpoints" / "checkpoint-4.pt")
    resumed = make_trainer(tmp_path, cuts, common).fit()
    assert [h["step"] for h in resumed.history] == [8]
    assert resumed.param_checksum == straight.param_checksum


class NaNAt(ToyObjective):
    """Injects a NaN into the loss at chosen steps and checks that a skipped step changes nothing."""

    def __init__(self, bad_steps):
        super().__init__()
        self.bad_steps = set(bad_steps)
        self.trainer = None
        self.snapshots = {}

    def compute(self, model, batch, step, train):
        if train:
            opt = self.trainer.optimizer
            self.snapshots[step] = (
                {n: p.detach().clone() for n, p in self.trainer.model.named_parameters()},
                {k: {n: v.clone() for n, v in s.items()} for k, s in opt.state.items()},
            )
        result = super().compute(model, batch, step, train)
        if train and step in self.bad_steps:
            result.loss = result.loss * float("nan")
        return result


def test_nan_guard_skips_the_step_without_touching_weights_or_optimizer(tmp_path, cuts, caplog):
    objective = NaNAt({5})
    trainer = make_trainer(tmp_path, cuts, ["train.max_steps=10", "train.dev_interval=0"], objective)
    objective.trainer = trainer
    summary = trainer.fit()
    params5, state5 = objective.snapshots[5]
    params6, state6 = objective.snapshots[6]
    for name in params5:
        assert torch.equal(params5[name], params6[name]), name
    assert state5.keys() == state6.keys()
    for key in state5:
        for field, value in state5[key].items():
            assert torch.equal(value, state6[key][field]) and torch.isfinite(value).all()
    assert trainer.guard.total == 1 and trainer.guard.streak == 0
    assert "step 5: non-finite loss" in caplog.text and "zh_utt" in caplog.text or "en_utt" in caplog.text
    assert summary.steps == 10 and math.isfinite(summary.best_loss)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_nan_guard_stops_after_k_in_a_row_and_saves_the_batch(tmp_path, cuts):
    trainer = make_trainer(tmp_path, cuts, ["train.max_steps=20", "train.max_nonfinite=3"], NaNAt(range(4, 20)))
    trainer.objective.trainer = trainer
    with pytest.raises(NonFiniteError, match="3 consecutive non-finite training steps"):
        trainer.fit()
    saved = torch.load(tmp_path / "bad-batch-step6-rank0.pt", weights_only=True)
    assert saved["audio"].ndim == 2 and all(c.startswith(("zh_", "en_")) for c in saved["cut_id"])


def test_early_stopping_and_plateau(tmp_path, cuts):
    # an LR so small nothing improves by min_delta: early stop after `patience` validations, LR reduced
    trainer = make_trainer(
        tmp_path,
        cuts,
        [
            "optim.lr=1e-5",
            "train.max_steps=100",
            "train.dev_interval=2",
            "train.early_stop_patience=3",
            "train.early_stop_min_delta=1.0",
            "optim.plateau_patience=0",
            "optim.plateau_cooldown=0",
            "optim.min_lr=0",
        ],
    )
    summary = trainer.fit()
    assert summary.stop_reason.startswith("early stop") and summary.steps == 8
    assert trainer.optimizer.param_groups[0]["lr"] < 1e-5


def test_sampler_position_is_exact_with_prefetching_workers(tmp_path, cuts):
    from fcodec.train.checkpoint import restore_sampler_position, sampler_position

    loader = make_loader(cuts, True, num_workers=2)
    loader.sampler.set_epoch(1)
    seen = [b["cut_id"] for _, b in zip(range(3), loader)]  # workers prefetch more than 3 batches
    position = sampler_position(loader.sampler, 1, 3)
    fresh = make_loader(cuts, True, num_workers=0)
    restore_sampler_position(fresh.sampler, position)
    rest = [b["cut_id"] for b in fresh]
    again = make_loader(cuts, True, num_workers=0)
    again.sampler.set_epoch(1)
    assert seen + rest == [b["cut_id"] for b in again]


def test_build_trainer_names_what_a_model_other_than_the_codec_lacks(tmp_path):
    """build_trainer fills the objective, the export and the discriminators' rates in for the codec only; for
    another model a missing piece is a clear error, not a trainer that fails mid-run."""
    gan = [f"{k}={v}" for k, v in TINY_GAN.items()]
    model = ToyCodec()
    plan = build_param_plan(model, ["compressor.", "decompressor."])
    cfg = load_config(None, ["train.device=cpu"])
    with pytest.raises(ValueError, match="ToyCodec .* needs an objective and export_best"):
        build_trainer(cfg, tmp_path, model, plan, export_best=export_state)
    gan_cfg = load_config(None, ["train.device=cpu", *gan])
    with pytest.raises(ValueError, match="sample rates"):
        build_trainer(gan_cfg, tmp_path, model, plan, objective=ToyObjective(), export_best=export_state)
    trainer = build_trainer(
        gan_cfg, tmp_path, model, plan, objective=ToyObjective(), export_best=export_state, sample_rates=(SR, SR)
    )
    assert trainer.adversary.names == list(build_discriminators(gan_cfg.gan).names)  # built from the config
