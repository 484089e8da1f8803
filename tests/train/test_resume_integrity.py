"""Nothing a run trained is lost or overwritten by the next one: unreadable checkpoints stop the run, best/ is
only replaced by a better model of the same run, a changed optimizer setting applies on resume, a NaN stop sets
the diverged checkpoints aside, and one exp dir holds one run at a time."""

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fcodec.train.best import ForeignBestError
from fcodec.train.checkpoint import CheckpointError
from fcodec.train.lock import LOCK_NAME, ExpDirLockedError, acquire, exp_dir_lock, release
from fcodec.train.nonfinite import NonFiniteError
from tests.train.gan import TINY_GAN
from tests.train.test_trainer import Crash, CrashAt, NaNAt, make_trainer
from tests.train.toy import make_cuts

REPO = Path(__file__).resolve().parents[2]
COMMON = ["train.max_steps=12", "train.dev_interval=4", "train.save_every_n=4", "optim.plateau_patience=0"]


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_cuts(tmp_path_factory.mktemp("toy_wav"), num=12)


def test_all_checkpoints_unreadable_stops_with_a_clear_error(tmp_path, cuts):
    make_trainer(tmp_path, cuts, COMMON).fit()
    best = (tmp_path / "best" / "model.safetensors").read_bytes()
    ckpts = sorted((tmp_path / "checkpoints").glob("checkpoint-*.pt"))
    assert ckpts
    for path in ckpts:  # truncated, as by a full disk or a bad copy
        path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"none of the 3 checkpoints in .* can be loaded.*Restore them"):
        make_trainer(tmp_path, cuts, ["train.max_steps=20", *COMMON[1:]]).fit()
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == best
    assert sorted((tmp_path / "checkpoints").glob("checkpoint-*.pt")) == ckpts  # nothing pruned or added


def test_a_run_from_step_0_does_not_replace_an_earlier_runs_best(tmp_path, cuts):
    make_trainer(tmp_path, cuts, COMMON).fit()
    best = (tmp_path / "best" / "model.safetensors").read_bytes()
    for path in (tmp_path / "checkpoints").glob("checkpoint-*.pt"):
        path.unlink()
    with pytest.raises(ForeignBestError, match=r"best holds the best model of an earlier run .* Move .* aside"):
        make_trainer(tmp_path, cuts, COMMON).fit()
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == best


def test_a_run_killed_before_its_first_checkpoint_restarts_and_keeps_its_best(tmp_path, cuts, monkeypatch):
    from fcodec.train import checkpoint

    real_save = checkpoint.atomic_torch_save

    def killed_while_writing(state, path):
        raise KeyboardInterrupt  # the kill lands during the first checkpoint's write, after best/ was exported

    monkeypatch.setattr(checkpoint, "atomic_torch_save", killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, cuts, COMMON).fit()  # validates (exports best/) at step 4, then saves
    assert (tmp_path / "best" / "training_info.json").is_file() and not list(tmp_path.glob("checkpoints/*.pt"))
    run_id = json.loads((tmp_path / "best" / "training_info.json").read_text())["run_id"]
    monkeypatch.setattr(checkpoint, "atomic_torch_save", real_save)
    assert make_trainer(tmp_path, cuts, COMMON).fit().steps == 12  # the same run again, not a foreign one
    assert json.loads((tmp_path / "best" / "training_info.json").read_text())["run_id"] == run_id


def test_a_resumed_run_never_replaces_best_with_a_worse_model(tmp_path, cuts):
    make_trainer(tmp_path, cuts, COMMON).fit()
    info_path = tmp_path / "best" / "training_info.json"
    info = json.loads(info_path.read_text())
    info["dev_loss"] = 1e-9  # as if the exported model were better than anything this run reaches
    info_path.write_text(json.dumps(info))
    best = (tmp_path / "best" / "model.safetensors").read_bytes()
    make_trainer(tmp_path, cuts, ["train.max_steps=20", *COMMON[1:]]).fit()
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == best


def test_a_changed_learning_rate_applies_on_resume_and_is_logged(tmp_path, cuts, caplog):
    common = ["train.max_steps=16", "train.dev_interval=0", "train.save_every_n=4", "optim.warmup_steps=0"]
    with pytest.raises(Crash):
        make_trainer(tmp_path, cuts, common, CrashAt(10)).fit()  # checkpoints 4 and 8, at optim.lr=3e-3
    with caplog.at_level(logging.WARNING):
        trainer = make_trainer(tmp_path, cuts, [*common, "optim.lr=1e-4", "optim.weight_decay=0.5"])
        trainer.fit()
    assert "optimizer setting changed since the checkpoint, applied: group" in caplog.text
    assert "base lr 0.003 -> 0.0001" in caplog.text
    saved = torch.load(tmp_path / "checkpoints" / "checkpoint-16.pt", weights_only=True)
    for group in saved["optimizer"]["param_groups"]:
        assert group["lr"] == pytest.approx(1e-4) and group["initial_lr"] == pytest.approx(1e-4)
        assert group["weight_decay"] == 0.5
    assert saved["config"]["optim"]["lr"] == pytest.approx(1e-4)


def test_a_gan_run_resumed_with_changed_discriminator_settings_uses_them(tmp_path, cuts, caplog):
    tiny = {**TINY_GAN, "gan.resolutions": "[[256,64,256]]", "gan.lr_decay": 0.99}
    gan = [f"{k}={v}" for k, v in tiny.items() if k.startswith("gan.")]
    common = ["train.max_steps=12", "train.dev_interval=0", "train.save_every_n=4", "optim.warmup_steps=0", *gan]
    with pytest.raises(Crash):
        make_trainer(tmp_path, cuts, common, CrashAt(6)).fit()  # checkpoint 4, at gan.lr=1e-3
    before = torch.load(tmp_path / "checkpoints" / "checkpoint-4.pt", weights_only=True)["gan"]
    assert before["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.99**4)
    changed = ["gan.lr=1e-4", "gan.betas=[0.5,0.9]", "gan.weight_decay=0.01", "gan.lr_decay=0.9"]
    with caplog.at_level(logging.WARNING):
        make_trainer(tmp_path, cuts, [*common, *changed]).fit()
    assert "discriminators optimizer setting changed since the checkpoint, applied: group 0: base lr 0.001" in (
        caplog.text
    )
    saved = torch.load(tmp_path / "checkpoints" / "checkpoint-12.pt", weights_only=True)["gan"]
    group = saved["optimizer"]["param_groups"][0]
    # the decay's position is kept (4 steps at 0.99), the 8 steps since decay at the new gamma
    assert group["initial_lr"] == pytest.approx(1e-4)
    assert group["lr"] == pytest.approx(1e-4 * 0.99**4 * 0.9**8)
    assert list(group["betas"]) == [0.5, 0.9] and group["weight_decay"] == 0.01
    assert saved["scheduler"]["gamma"] == 0.9 and saved["scheduler"]["base_lrs"] == [pytest.approx(1e-4)]
    assert {s["step"].item() for s in saved["optimizer"]["state"].values()} == {12.0}  # moments kept


@pytest.mark.parametrize("changed", ["gan.periods=[3]", "gan.period_channels=8"])
def test_resuming_with_other_discriminators_is_refused_in_one_line(tmp_path, cuts, changed):
    from fcodec.train.adversary import DiscriminatorMismatchError

    gan = [f"{k}={v}" for k, v in {**TINY_GAN, "gan.periods": "[2]", "gan.resolutions": "[]"}.items()]
    common = ["train.max_steps=4", "train.dev_interval=0", "train.save_every_n=2", *gan]
    make_trainer(tmp_path, cuts, common).fit()
    with pytest.raises(DiscriminatorMismatchError, match=r"built with gan\.p.*; this run has gan\.p.*new exp dir"):
        make_trainer(tmp_path, cuts, ["train.max_steps=6", *common[1:], changed]).fit()


def test_a_nan_stop_sets_the_diverged_checkpoints_aside(tmp_path, cuts):
    overrides = [
        "train.max_steps=20",
        "train.save_every_n=2",
        "train.dev_interval=0",
        "train.max_nonfinite=3",
        "train.keep_last_k=5",
    ]
    trainer = make_trainer(tmp_path, cuts, overrides, NaNAt(range(5, 20)))
    trainer.objective.trainer = trainer
    with pytest.raises(NonFiniteError):
        trainer.fit()  # steps 5, 6, 7 non-finite: checkpoint-6 holds a skipped step
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*.pt"))
    assert kept == ["checkpoint-2.pt", "checkpoint-4.pt"]
    assert [p.name for p in (tmp_path / "checkpoints-diverged-step5").iterdir()] == ["checkpoint-6.pt"]
    rerun = make_trainer(tmp_path, cuts, [*overrides, "optim.lr=1e-3"])
    assert rerun.fit().steps == 20


def test_a_nan_streak_longer_than_the_rotation_keeps_a_checkpoint_from_before_it(tmp_path, cuts):
    overrides = [
        "train.max_steps=20",
        "train.save_every_n=2",
        "train.dev_interval=0",
        "train.max_nonfinite=8",
        "train.keep_last_k=2",
    ]
    trainer = make_trainer(tmp_path, cuts, overrides, NaNAt(range(5, 20)))
    trainer.objective.trainer = trainer
    with pytest.raises(NonFiniteError):
        trainer.fit()  # steps 5-12 non-finite: checkpoints 6, 8, 10, 12 written during the streak
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*.pt")) == ["checkpoint-4.pt"]
    aside = sorted(p.name for p in (tmp_path / "checkpoints-diverged-step5").iterdir())
    assert aside == ["checkpoint-10.pt", "checkpoint-12.pt"]  # rotation dropped 6 and 8, as keep_last_k says
    rerun = make_trainer(tmp_path, cuts, [*overrides, "optim.lr=1e-3"])
    assert rerun.fit().steps == 20


def _holder(exp_dir: Path) -> subprocess.Popen:
    """Another process holding the exp dir's lock, through the same code a training run uses."""
    code = (
        "import sys, time; from fcodec.train.lock import acquire; acquire(sys.argv[1]); print('locked', "
        "flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(exp_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_in_a_locked_exp_dir_says_who_holds_it(tmp_path, assets):
    from fcodec.train.run import run_training
    from tests.train.speech import run_overrides

    holder = _holder(tmp_path)
    try:
        with pytest.raises(
            ExpDirLockedError,
            match=rf"in use by another training run \(pid {holder.pid} on "
            rf"{socket.gethostname()}",
        ):
            run_training(
                None, tmp_path, run_overrides(assets, **{"model.init_from": assets["codec"], "train.max_steps": 2})
            )
        assert not (tmp_path / "config.yaml").exists()  # refused before anything was written
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: its lock is stale and is taken over
    with exp_dir_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_is_released_only_by_its_holder(tmp_path):
    path = acquire(tmp_path)
    with pytest.raises(ExpDirLockedError):
        acquire(tmp_path)  # a live pid (this one) on this host
    release(path)
    assert not path.exists()
