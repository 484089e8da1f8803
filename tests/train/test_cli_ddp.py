"""Two gloo processes under torchrun run ``fcodec.bin.train`` in sync: identical weights on both ranks, with every
kind of loss term (the ASR loss runs Whisper's backward inside the forward pass; the CTC head's parameters live
in the loss modules, under the same DDP wrapper)."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import torch

from tests.train.speech import run_overrides

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_the_codec_in_sync(assets, tiny_whisper_path, tmp_path):
    exp = tmp_path / "exp"
    overrides = run_overrides(
        assets,
        **{
            "model.init_from": assets["codec"],
            "model.grow": 1,
            "model.trainable": "both_ste",
            "model.new_only_steps": 2,
            "losses.ctc.weight": 0.1,
            "losses.asr.weight": 1.0,
            "losses.asr.encoder_window": "batch",
            "assets.whisper": tiny_whisper_path,
            "data.segment_duration": "null",
            "data.max_duration": 8,
            "train.max_steps": 6,
            "train.dev_interval": 3,
            "train.save_every_n": 3,
            "train.num_threads": 1,
        },
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "fcodec.bin.train",
        "--exp-dir",
        str(exp),
        *overrides,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    logs = sorted((exp / "log").glob("log-train-*"))
    assert len(logs) == 2 and logs[1].name.endswith("-rank1")
    sums = [re.findall(r"parameter checksum ([0-9a-f]{64})", p.read_text()) for p in logs]
    assert len(sums[0]) == 1 and sums[0] == sums[1]
    # rank 0 alone wrote the outputs; the checkpoint holds both ranks' RNG states; the two ranks saw different
    # crops (their own shards), so their RNG states differ
    ckpt = torch.load(exp / "checkpoints" / "checkpoint-6.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])
    assert len(list((exp / "tensorboard").glob("events.*"))) == 1 and (exp / "best" / "model.safetensors").exists()
