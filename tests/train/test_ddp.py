"""Two gloo processes under torchrun train in sync: same weights on both ranks, different data shards."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "train" / "toy_train.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_stay_in_sync(tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(RUNNER), str(exp), str(tmp_path / "data"),
           "train.device=cpu", "data.num_workers=0", "train.max_steps=12", "train.valid_interval=6",
           "train.save_every_n=6", "train.log_interval=3", "optim.lr=3e-3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    logs = {0: (exp / "log" / "log-train").read_text(), 1: (exp / "log" / "log-train-rank1").read_text()}
    sums = {r: re.findall(r"parameter checksum ([0-9a-f]{64})", text) for r, text in logs.items()}
    assert len(sums[0]) == 1 and sums[0] == sums[1]
    # only rank 0 writes checkpoints, TensorBoard and the best model; the checkpoint holds both ranks' RNG
    import torch

    ckpt = torch.load(exp / "checkpoints" / "checkpoint-12.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])  # ranks draw different crops
    assert len(list((exp / "tensorboard").glob("events.*"))) == 1
    # each rank saw its own shard of the data: the weights differ from a single-process run of the same steps
    single = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "single"), str(tmp_path / "data"),
                             *cmd[-7:]], env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-4000:]
    one = re.findall(r"parameter checksum ([0-9a-f]{64})", (tmp_path / "single" / "log" / "log-train").read_text())
    assert one and one != sums[0]
