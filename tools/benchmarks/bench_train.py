#!/usr/bin/env python3
"""Training step time and peak memory per stage (50 / 25 / 12.5 Hz) for the tiny and the full-size codec.

Each configuration runs in a fresh process (so peak memory is its own): the stage's model is built the way
``fcodec.bin.train`` builds it (random weights in the published format, grown for stages 2 and 3, the stage's
trainable mode and loss terms, the parameter plan, AdamW), then ``Trainer._train_step`` (forward, backward,
clipping, optimizer step: the real step) runs on a fixed batch; one warm-up step precedes ``--steps`` timed ones.

* tiny: ``fcodec.models.configs.tiny_causal_config`` (what the mini recipe and the tests train);
* full: ``causal_config`` = the published ``focalcodec_50hz_2k_causal`` architecture with random weights.
Stage 1 trains the decompressor with feature + mel + STFT losses; stages 2 and 3 train compressor and
decompressor (both_ste) after growth; ``--asr`` adds rows with the Whisper ASR loss (weight 30, Whisper's own
30 s window): the tiny random Whisper for the tiny codec, ../shared/models/whisper-base.pt (if present) for the
full one; ``--gan`` adds rows with adversarial training (the discriminators' step after the generator's, the
decoder fine-tuned too, the adversarial and feature-matching terms): the recipe's discriminators (HiFi-GAN
multi-period + UnivNet multi-resolution STFT, 41M parameters) for the full codec, the tests' tiny ones for the
tiny codec. Memory: peak resident set size of the process (``ru_maxrss``) and its growth over the steps on CPU;
``torch.cuda.max_memory_allocated`` on CUDA. Input: real speech from ../shared/audio when present, cropped to
``--seconds``; otherwise noise. Compare figures as ratios within one run: the machine's load moves them.

Usage (from the repository root):
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py                       # tiny + full, CPU
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --sizes tiny --asr --steps 5
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --device cuda --batch 8 --seconds 3
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --sizes full --stages 2 --gan     # GAN cost, stage 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench_common import peak_rss_mib, rss_mib  # noqa: E402  (beside this script)

STAGES = {1: ("50 Hz", 0), 2: ("25 Hz", 1), 3: ("12.5 Hz", 2)}


def speech_batch(batch: int, seconds: float):
    import numpy as np
    import soundfile as sf
    import torch

    from fcodec.utils.assets import shared_audio_dir

    n = int(seconds * 16000)
    clips = []
    root = shared_audio_dir()
    if root is not None:
        for path in sorted((root / "librispeech-dev-clean").glob("*.wav")) + sorted(
            (root / "magicdata-zh-dev-set").glob("*.wav")
        ):
            audio, sr = sf.read(path, dtype="float32")
            if sr == 16000 and audio.ndim == 1 and len(audio) >= n:
                clips.append(audio[:n])
            if len(clips) == batch:
                break
    source = "real speech" if len(clips) == batch else "noise"
    while len(clips) < batch:
        clips.append((0.1 * np.random.default_rng(len(clips)).standard_normal(n)).astype(np.float32))
    audio = torch.from_numpy(np.stack(clips))
    return {
        "audio": audio,
        "audio_lens": torch.full((batch,), n, dtype=torch.int64),
        "text": ["HELLO WORLD", "今天天气很好"] * (batch // 2) + ["HELLO"] * (batch % 2),
        "language": ["en", "zh"] * (batch // 2) + ["en"] * (batch % 2),
        "cut_id": [f"bench_{i}" for i in range(batch)],
    }, source


TINY_DISCRIMINATORS = [
    "gan.periods=[2,3,5]",
    "gan.period_channels=4",
    "gan.period_max_channels=16",
    "gan.resolutions=[[512,120,512],[1024,240,1024]]",
    "gan.resolution_channels=4",
]
GAN = [
    "gan.start_step=0",
    "model.train_decoder=true",
    "losses.adversarial.weight=1.0",
    "losses.feature_matching.weight=6.0",
]


def one(
    size: str,
    stage: int,
    asr: bool,
    steps: int,
    batch_size: int,
    seconds: float,
    device: str,
    threads: int,
    gan: bool = False,
) -> dict:
    """Build the stage's training setup and time its steps (runs in its own process)."""
    import torch

    from fcodec.models import FocalCodec, grow
    from fcodec.models.configs import causal_config, tiny_causal_config
    from fcodec.train.codec_objective import CodecObjective
    from fcodec.train.config import load_config
    from fcodec.train.distributed import DistInfo
    from fcodec.train.run import build_codec_module
    from fcodec.train.trainer import Trainer
    from fcodec.utils.assets import shared_whisper_checkpoint
    from fcodec.utils.whisper import make_tiny_whisper

    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    codec = FocalCodec(**(tiny_causal_config() if size == "tiny" else causal_config()))
    for _ in range(STAGES[stage][1] - 1):  # the previous stage's model, one growth short of this stage's
        codec, _ = grow(codec, seed=0)
    codec.save_pretrained(tmp / "init")
    del codec
    overrides = [
        f"model.init_from={tmp / 'init'}",
        f"model.grow={min(1, STAGES[stage][1])}",
        f"model.trainable={'decompressor_only' if stage == 1 else 'both_ste'}",
        f"train.device={device}",
    ]
    whisper = None
    if asr:
        whisper = make_tiny_whisper(tmp / "whisper.pt") if size == "tiny" else shared_whisper_checkpoint()
        if whisper is None:
            return {"skipped": "no ../shared/models/whisper-base.pt for the full-size ASR row"}
        overrides += ["losses.asr.weight=30", f"losses.asr.whisper={whisper}"]
    if gan:
        overrides += GAN + (TINY_DISCRIMINATORS if size == "tiny" else [])
    cfg = load_config(None, overrides)
    dist = DistInfo(device=torch.device(device))
    stage_model, module, plan = build_codec_module(cfg, tmp / "exp", dist)
    adversary = None
    if gan:
        from fcodec.train.adversary import Adversary

        adversary = Adversary(
            cfg.gan,
            stage_model.discriminators,
            stage_model.codec.sample_rate_output,
            stage_model.codec.sample_rate_input,
            dist,
        )
    trainer = Trainer(
        cfg,
        tmp / "exp",
        module,
        CodecObjective(module),
        plan,
        None,
        None,
        dist,
        export_best=lambda m, f: None,
        adversary=adversary,
    )
    trainer.plan.apply(module, 10**9)  # past any warm-up: every trainable tensor
    batch, source = speech_batch(batch_size, seconds)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in stage_model.codec.parameters())
    cuda = device == "cuda"
    trainer._train_step(batch)  # warm-up (allocations, first-call caches)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = rss_mib()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer._train_step(batch)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "size": size,
        "stage": stage,
        "rate": STAGES[stage][0],
        "bitrate": stage_model.codec.bitrate,
        "asr": bool(asr),
        "gan": bool(gan),
        "disc_params": sum(p.numel() for p in adversary.model.parameters()) if adversary else 0,
        "whisper": Path(str(whisper)).name if whisper else "",
        "params_total": total,
        "params_trainable": trainable,
        "batch": f"{batch_size} x {seconds:g} s ({source})",
        "step_s_median": times[len(times) // 2],
        "step_s_min": times[0],
        "peak_rss_mib": peak_rss_mib(),
        "rss_growth_mib": peak_rss_mib() - before,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "skipped_steps": trainer.guard.total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "full"], choices=["tiny", "full"])
    parser.add_argument("--stages", nargs="+", type=int, default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--asr", action="store_true", help="also time steps with the Whisper ASR loss")
    parser.add_argument("--gan", action="store_true", help="also time steps with the discriminators (GAN)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    parser.add_argument("--batch", type=int, default=2, help="clips per batch")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()

    if args.one:
        size, stage, asr, gan = args.one.split(":")
        print(
            json.dumps(
                one(
                    size,
                    int(stage),
                    asr == "1",
                    args.steps,
                    args.batch,
                    args.seconds,
                    args.device,
                    args.threads,
                    gan == "1",
                )
            )
        )
        return

    import torch

    print(
        f"# bench_train: torch {torch.__version__}, device {args.device}, threads "
        f"{args.threads or torch.get_num_threads()}, {args.steps} timed steps after 1 warm-up, "
        f"batch {args.batch} x {args.seconds:g} s"
    )
    header = (
        "size",
        "stage",
        "rate",
        "bps",
        "ASR",
        "GAN (D params)",
        "params (trainable/total)",
        "step s (median)",
        "step s (min)",
        "peak RSS MiB",
        "RSS growth MiB",
        "CUDA peak MiB",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    plain = None  # the last row without the GAN: the GAN row after it reports its step time as a ratio
    for size in args.sizes:
        for stage in args.stages:
            for asr, gan in [
                (a, g)
                for a in ([False, True] if args.asr else [False])
                for g in ([False, True] if args.gan else [False])
            ]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{size}:{stage}:{int(asr)}:{int(gan)}",
                    "--steps",
                    str(args.steps),
                    "--batch",
                    str(args.batch),
                    "--seconds",
                    str(args.seconds),
                    "--device",
                    args.device,
                    "--threads",
                    str(args.threads),
                ]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"| {size} | {stage} | failed: {done.stderr.strip().splitlines()[-1:]} |")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                if "skipped" in row:
                    print(f"| {size} | {stage} | skipped: {row['skipped']} |")
                    continue
                cuda_peak = f"{row['cuda_peak_mib']:.0f}" if row["cuda_peak_mib"] is not None else "-"
                gan_cell = f"{row['disc_params'] / 1e6:.2f}M" if row["gan"] else "-"
                if row["gan"] and plain is not None:
                    gan_cell += f", step x{row['step_s_median'] / plain:.2f}"
                if not row["gan"]:
                    plain = row["step_s_median"]
                print(
                    f"| {size} | {stage} | {row['rate']} | {row['bitrate']:g} | {row['whisper'] or '-'} | {gan_cell} | "
                    f"{row['params_trainable'] / 1e6:.2f}M / {row['params_total'] / 1e6:.2f}M | "
                    f"{row['step_s_median']:.3f} | {row['step_s_min']:.3f} | {row['peak_rss_mib']:.0f} | "
                    f"{row['rss_growth_mib']:.0f} | {cuda_peak} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
