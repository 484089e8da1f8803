"""``python -m fcodec.bin.train`` killed with SIGKILL mid-run and rerun ends with the same weights as a run never
interrupted (CPU, deterministic): a grown run crossing its new-only warm-up, with a CTC head, a DataLoader worker
prefetching and a GAN (tiny discriminators starting mid-run, the decoder fine-tuned), which must also end with the
same discriminator weights and optimizer state. One case holds every kind of state a run resumes (a run without
a GAN saves a subset of it; tests/train/test_trainer.py resumes one in process), so the three processes run once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train.gan import TINY_GAN
from tests.train.speech import run_overrides

REPO = Path(__file__).resolve().parents[2]


GAN = {**TINY_GAN, "gan.start_step": 5, "model.train_decoder": True, "optim.lr_decoder": 5e-4}


def command(assets, exp_dir, extra=None):
    overrides = run_overrides(
        assets,
        **{
            "model.init_from": assets["codec"],
            "model.grow": 1,
            "model.trainable": "both_ste",
            "model.new_only_steps": 6,
            "losses.ctc.weight": 0.1,
            "optim.lr": 1e-3,
            "optim.lr_new": 2e-3,
            "optim.plateau_patience": 0,
            "data.num_workers": 1,
            "data.segment_duration": "null",
            "data.max_duration": 8,
            "train.max_steps": 12,
            "train.save_every_n": 4,
            "train.dev_interval": 6,
            "train.deterministic": True,
            "train.num_threads": 1,
            **(extra or {}),
        },
    )
    return [sys.executable, "-m", "fcodec.bin.train", "--exp-dir", str(exp_dir), *overrides]


def environment():
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow  # three training processes, one killed: 45 s on the 2-core machine
def test_sigkill_mid_run_then_rerun_ends_with_the_same_weights(assets, tmp_path):
    extra = GAN
    # the run never interrupted goes on beside the one killed (each trains on one thread: two cores, half the wait)
    with open(tmp_path / "straight.log", "w") as log:  # a file, not a pipe: nothing blocks on a full buffer
        straight = subprocess.Popen(
            command(assets, tmp_path / "straight", extra),
            cwd=REPO,
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    exp = tmp_path / "killed"
    proc = subprocess.Popen(
        command(assets, exp, extra), cwd=REPO, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    target = exp / "checkpoints" / "checkpoint-8.pt"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert target.exists() and not (exp / "checkpoints" / "checkpoint-12.pt").exists()

    resumed = subprocess.run(
        command(assets, exp, extra), cwd=REPO, env=environment(), capture_output=True, text=True, timeout=600
    )
    assert straight.wait(timeout=600) == 0, (tmp_path / "straight.log").read_text()[-4000:]
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stderr
    a = torch.load(tmp_path / "straight" / "checkpoints" / "checkpoint-12.pt", weights_only=True)
    b = torch.load(exp / "checkpoints" / "checkpoint-12.pt", weights_only=True)
    assert a["loop"] == b["loop"] and a["scheduler"] == b["scheduler"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    # the discriminators: weights, AdamW moments, LR schedule
    assert a["gan"]["scheduler"] == b["gan"]["scheduler"]
    for name in a["gan"]["model"]:
        assert torch.equal(a["gan"]["model"][name], b["gan"]["model"][name]), name
    for key, state in a["gan"]["optimizer"]["state"].items():
        for field in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[field], b["gan"]["optimizer"]["state"][key][field]), (key, field)
    assert (exp / "best" / "model.safetensors").read_bytes() == (
        tmp_path / "straight" / "best" / "model.safetensors"
    ).read_bytes()
