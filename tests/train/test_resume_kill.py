"""A training process killed with SIGKILL and rerun ends with the same weights as one never interrupted."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "train" / "toy_train.py"
ARGS = ["train.device=cpu", "data.num_workers=0", "train.max_steps=60", "train.save_every_n=5", "train.valid_interval=10",
        "train.log_interval=5", "optim.lr=3e-3", "optim.plateau_patience=0"]


def run(exp, data, env):
    return subprocess.run([sys.executable, str(RUNNER), str(exp), str(data), *ARGS], env=env,
                          capture_output=True, text=True, timeout=300)


def test_sigkill_then_rerun_matches_uninterrupted(tmp_path):
    env = {**os.environ, "TOY_STEP_SLEEP": "0.02", "OMP_NUM_THREADS": "1"}
    done = run(tmp_path / "straight", tmp_path / "data", env)
    assert done.returncode == 0, done.stderr[-3000:]

    exp = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(RUNNER), str(exp), str(tmp_path / "data"), *ARGS], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = exp / "checkpoints" / "checkpoint-25.pt"
    deadline = time.time() + 120
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert target.exists() and not (exp / "checkpoints" / "checkpoint-60.pt").exists()

    resumed = run(exp, tmp_path / "data", env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    a = torch.load(tmp_path / "straight" / "checkpoints" / "checkpoint-60.pt", weights_only=True)
    b = torch.load(exp / "checkpoints" / "checkpoint-60.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert a["loop"] == b["loop"]
    assert (exp / "best" / "model.safetensors").read_bytes() == \
        (tmp_path / "straight" / "best" / "model.safetensors").read_bytes()
