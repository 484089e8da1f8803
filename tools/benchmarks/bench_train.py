#!/usr/bin/env python3
"""Training step time and peak memory per training run (50 / 25 / 12.5 Hz) for the tiny and the full-size codec.

Each configuration runs in a fresh process (so peak memory is its own): the run's model is built the way
``fcodec.bin.train`` builds it (random weights in the published format, grown for the 25 and 12.5 Hz runs, the
run's trainable mode and loss terms, the parameter plan, AdamW), then ``Trainer.train_step`` (forward, backward,
clipping, optimizer step: the real step) runs on a fixed batch; one warm-up step precedes ``--steps`` timed ones.

* tiny: ``fcodec.models.configs.tiny_causal_config`` (what the mini recipe and the tests train);
* full: ``causal_config`` = the published ``focalcodec_50hz_2k_causal`` architecture with random weights.
The 50 Hz run trains the decompressor with feature + mel + STFT losses; the 25 and 12.5 Hz runs train
compressor and decompressor (both_ste) after growth; ``--asr`` adds rows with the Whisper ASR loss (weight 30, Whisper's own
30 s window): the tiny random Whisper for the tiny codec, ../shared/models/whisper-base.pt (if present) for the
full one, or ``--whisper`` (a checkpoint, or a published size such as ``small`` with random weights: the same
arithmetic, for throughput where no checkpoint is at hand); ``--gan`` adds rows with adversarial training (the discriminators' step after the generator's, the
decoder fine-tuned too, the adversarial and feature-matching terms): the recipe's discriminators (HiFi-GAN
multi-period + UnivNet multi-resolution STFT, 41M parameters) for the full codec, the tests' tiny ones for the
tiny codec; ``--compile`` adds rows with ``train.compile=true`` (``torch.compile`` of the codec's training pass and
of Whisper's pass in the ASR loss, the fused AdamW on CUDA; fcodec.train.compile), their step time also as a ratio
to the eager row before them, and the first step's time (which compiles). Memory: peak resident set size of the process (``ru_maxrss``) and its growth over the steps on CPU;
``torch.cuda.max_memory_allocated`` on CUDA. Input: real speech from ../shared/audio when present, cropped to
``--seconds``; otherwise noise. Compare figures as ratios within one run: the machine's load moves them.

Throughput: the FLOPs of one real step (forward and backward, the ASR loss's inner Whisper backward included) are
counted once, outside the timed steps, with ``torch.utils.flop_counter.FlopCounterMode`` (compiled rows count
their eager twin under ``torch.compiler.set_stance("force_eager")``: the same arithmetic). It counts matrix
products, convolutions and attention (2 FLOPs per multiply-add; attention's backward as torch counts its
flash kernels, with the recomputed scores; see ``flop_formulas`` for the two formulas corrected or added), not FFTs or element-wise work:
the usual basis of model FLOP utilisation. Achieved = counted FLOPs / median step time; ``--peak-tflops`` (the device's peak at the
step's precision, e.g. ~989 dense bf16 for an H100/H200 SXM by the data sheet, or better a measured matmul peak)
adds the fraction of it. On CUDA the step runs under bf16 autocast (``train.amp``).

Usage (from the repository root):
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py                       # tiny + full, CPU
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --sizes tiny --asr --steps 5
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --device cuda --batch 8 --seconds 3
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --sizes full --runs 25hz --gan   # GAN cost at 25 Hz
    PYTHONPATH=$PWD python tools/benchmarks/bench_train.py --device cuda --sizes full --runs 25hz --asr --compile \
        --batch 16 --seconds 5 --peak-tflops 989                                            # MFU at 25 Hz
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench_common import peak_rss_mib, rss_mib  # noqa: E402  (beside this script)

# the training runs by name (the recipe's train_<name>): their rate, and the 2x layer pairs grown since 50 Hz
RUNS = {"50hz": ("50 Hz", 0), "25hz": ("25 Hz", 1), "12.5hz": ("12.5 Hz", 2)}
OLD_STAGE_NUMBERS = {"1": "50hz", "2": "25hz", "3": "12.5hz"}  # --stages N, the old name of --runs


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
    run: str,
    asr: bool,
    steps: int,
    batch_size: int,
    seconds: float,
    device: str,
    threads: int,
    gan: bool = False,
    compile: bool = False,
    whisper_spec: str = "",
) -> dict:
    """Build the training run's setup and time its steps (runs in its own process)."""
    import torch

    from fcodec.models import FocalCodec, grow
    from fcodec.models.configs import causal_config, tiny_causal_config
    from fcodec.train.build import build_codec_module, build_trainer
    from fcodec.train.config import load_config
    from fcodec.train.distributed import DistInfo
    from fcodec.utils.assets import shared_whisper_checkpoint
    from fcodec.utils.whisper import make_tiny_whisper

    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    codec = FocalCodec(**(tiny_causal_config() if size == "tiny" else causal_config()))
    for _ in range(RUNS[run][1] - 1):  # the previous run's model, one growth short of this run's
        codec, _ = grow(codec, seed=0)
    codec.save_pretrained(tmp / "init")
    del codec
    overrides = [
        f"model.init_from={tmp / 'init'}",
        f"model.grow={min(1, RUNS[run][1])}",
        f"model.trainable={'decompressor_only' if RUNS[run][1] == 0 else 'both_ste'}",
        f"train.device={device}",
    ]
    whisper = None
    if asr:
        if whisper_spec:  # a checkpoint (main writes a published size's random stand-in once for all rows)
            whisper = Path(whisper_spec)
        else:
            whisper = make_tiny_whisper(tmp / "whisper.pt") if size == "tiny" else shared_whisper_checkpoint()
        if whisper is None:
            return {"skipped": "no ../shared/models/whisper-base.pt for the full-size ASR row (see --whisper)"}
        overrides += ["losses.asr.weight=30", f"losses.asr.whisper={whisper}"]
    if gan:
        overrides += GAN + (TINY_DISCRIMINATORS if size == "tiny" else [])
    if compile:
        overrides.append("train.compile=true")
    cfg = load_config(None, overrides)
    dist = DistInfo(device=torch.device(device))
    start_model, module, plan = build_codec_module(cfg, tmp / "exp", dist)
    trainer = build_trainer(cfg, tmp / "exp", module, plan, dist=dist, discriminators=start_model.discriminators)
    trainer.prepare(10**9)  # past any warm-up: every trainable tensor
    adversary = trainer.adversary
    batch, source = speech_batch(batch_size, seconds)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in start_model.codec.parameters())
    cuda = device == "cuda"
    start = time.perf_counter()
    trainer.train_step(batch)  # warm-up (allocations, first-call caches; compilation with --compile)
    if cuda:
        torch.cuda.synchronize()
    first_step = time.perf_counter() - start
    flops = step_flops(trainer, batch, compiled=compile)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = rss_mib()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step(batch)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "size": size,
        "run": run,
        "rate": RUNS[run][0],
        "bitrate": start_model.codec.bitrate,
        "asr": bool(asr),
        "gan": bool(gan),
        "compile": bool(compile),
        "disc_params": sum(p.numel() for p in adversary.model.parameters()) if adversary else 0,
        "whisper": Path(str(whisper)).name if whisper else "",
        "params_total": total,
        "params_trainable": trainable,
        "batch": f"{batch_size} x {seconds:g} s ({source})",
        "step_s_median": times[len(times) // 2],
        "step_s_min": times[0],
        "first_step_s": first_step,
        "flops_per_step": flops,
        "achieved_tflops": flops / times[len(times) // 2] / 1e12,
        "peak_rss_mib": peak_rss_mib(),
        "rss_growth_mib": peak_rss_mib() - before,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "skipped_steps": trainer.guard.total,
    }


def flop_formulas() -> dict:
    """Formulas given to the counter beside its own (``custom_mapping``):

    * PyTorch's CPU attention kernel, which it knows only for CUDA: the same formulas, so CPU and GPU rows count
      the same work (Whisper's attention is most of the ASR loss's);
    * ``convolution_backward`` with the groups counted: torch's formula takes the weight gradient of a grouped
      convolution for a dense one's (x channels, 1024x for the focal blocks' depthwise convolutions, which made a
      full-size 25 Hz step count 1.8 TFLOP instead of 0.3). Each gradient asked for costs what the forward does.
    """
    import math

    import torch
    from torch.utils import flop_counter

    aten = torch.ops.aten

    def conv_backward(grad_out, x, w, bias, stride, padding, dilation, transposed, output_padding, groups, mask, **_):
        # the weight holds in_channels / groups per output channel: prod(w) MACs per output (input, if transposed)
        # position, as in torch's forward formula
        macs = math.prod(w) * x[0] * math.prod((x if transposed else grad_out)[2:])
        return 2 * macs * (int(mask[0]) + int(mask[1]))

    formulas = {aten.convolution_backward: conv_backward}
    forward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    backward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if forward is not None:
        formulas[forward] = lambda q, k, v, *args, **kwargs: flop_counter.sdpa_flop_count(q, k, v)
    if backward is not None:
        formulas[backward] = lambda g, q, k, v, *args, **kwargs: flop_counter.sdpa_backward_flop_count(g, q, k, v)
    return formulas


def step_flops(trainer, batch, compiled: bool) -> int:
    """FLOPs of one real training step (forward, backward, the optimizer's step), counted by torch's dispatch-level
    counter; a compiled step is counted on its eager twin (dispatch modes do not see inside compiled graphs)."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    eager = torch.compiler.set_stance("force_eager") if compiled else contextlib.nullcontext()
    counter = FlopCounterMode(display=False, custom_mapping=flop_formulas())
    with eager, counter:
        trainer.train_step(batch)
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "full"], choices=["tiny", "full"])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS), help="training runs, by rate")
    parser.add_argument(  # the old name of --runs: 1 2 3 for 50hz 25hz 12.5hz
        "--stages", nargs="+", dest="runs", choices=list(OLD_STAGE_NUMBERS), help=argparse.SUPPRESS
    )
    parser.add_argument("--asr", action="store_true", help="also time steps with the Whisper ASR loss")
    parser.add_argument("--gan", action="store_true", help="also time steps with the discriminators (GAN)")
    parser.add_argument(
        "--compile", action="store_true", help="also time steps with train.compile=true (torch.compile, fused AdamW)"
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak TFLOP/s at the step's precision (bf16 on CUDA; H200 SXM data sheet: ~989 dense): "
        "adds the fraction of it achieved (default: not shown)",
    )
    parser.add_argument("--json", help="also write every row as JSON lines to this file")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    parser.add_argument("--batch", type=int, default=2, help="clips per batch")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--whisper",
        default="",
        help="the ASR loss's Whisper: a checkpoint, or a published size (tiny, base, small, medium, large-v3, turbo) "
        "with random weights (same arithmetic; no download); default: a tiny random one for the tiny codec, "
        "../shared/models/whisper-base.pt for the full one",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()
    args.runs = [OLD_STAGE_NUMBERS.get(run, run) for run in args.runs]

    if args.one:
        size, run, asr, gan, compiled = args.one.split(":")
        print(
            json.dumps(
                one(
                    size,
                    run,
                    asr == "1",
                    args.steps,
                    args.batch,
                    args.seconds,
                    args.device,
                    args.threads,
                    gan == "1",
                    compiled == "1",
                    args.whisper,
                )
            )
        )
        return

    import torch

    from fcodec.utils.whisper import PUBLISHED_DIMS, make_tiny_whisper

    whisper = args.whisper
    if whisper in PUBLISHED_DIMS and args.asr:  # random weights, the published size's arithmetic: written once
        folder = Path(tempfile.mkdtemp(prefix="bench_train_whisper_"))
        atexit.register(shutil.rmtree, folder, True)  # a random whisper-small is about 1 GB
        whisper = str(make_tiny_whisper(folder / f"whisper-{whisper}-random.pt", **PUBLISHED_DIMS[whisper]))
    elif whisper and not Path(whisper).is_file():
        sys.exit(f"bench_train: --whisper {whisper}: no such checkpoint, nor a size of {sorted(PUBLISHED_DIMS)}")
    print(
        f"# bench_train: torch {torch.__version__}, device {args.device}, threads "
        f"{args.threads or torch.get_num_threads()}, {args.steps} timed steps after 1 warm-up, "
        f"batch {args.batch} x {args.seconds:g} s"
    )
    header = (
        "size",
        "rate",
        "bps",
        "ASR",
        "GAN (D params)",
        "compile (first step s)",
        "params (trainable/total)",
        "step s (median)",
        "step s (min)",
        "peak RSS MiB",
        "RSS growth MiB",
        "CUDA peak MiB",
        "GFLOP/step",
        "TFLOP/s" if args.device == "cuda" else "GFLOP/s",
        *(["% of peak"] if args.peak_tflops else []),
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    plain = None  # the last eager row without the GAN: the GAN row after it reports its step time as a ratio
    eager = None  # the last eager row: the compiled row after it reports its step time as a ratio
    rows = []
    for size in args.sizes:
        for run in args.runs:
            for asr, gan, compiled in [
                (a, g, c)
                for a in ([False, True] if args.asr else [False])
                for g in ([False, True] if args.gan else [False])
                for c in ([False, True] if args.compile else [False])
            ]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{size}:{run}:{int(asr)}:{int(gan)}:{int(compiled)}",
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
                    "--whisper",
                    whisper,
                ]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"| {size} | {RUNS[run][0]} | failed: {done.stderr.strip().splitlines()[-1:]} |")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                if "skipped" in row:
                    print(f"| {size} | {RUNS[run][0]} | skipped: {row['skipped']} |")
                    continue
                cuda_peak = f"{row['cuda_peak_mib']:.0f}" if row["cuda_peak_mib"] is not None else "-"
                gan_cell = f"{row['disc_params'] / 1e6:.2f}M" if row["gan"] else "-"
                if row["gan"] and not row["compile"] and plain is not None:
                    gan_cell += f", step x{row['step_s_median'] / plain:.2f}"
                if not row["gan"] and not row["compile"]:
                    plain = row["step_s_median"]
                compile_cell = "-"
                if row["compile"]:
                    compile_cell = f"yes ({row['first_step_s']:.0f} s)"
                    if eager is not None:
                        row["step_ratio_to_eager"] = row["step_s_median"] / eager
                        compile_cell += f", step x{row['step_ratio_to_eager']:.2f}"
                else:
                    eager = row["step_s_median"]
                rate = row["achieved_tflops"] * (1 if args.device == "cuda" else 1e3)
                peak = []
                if args.peak_tflops:
                    row["peak_fraction"] = row["achieved_tflops"] / args.peak_tflops
                    peak = [f"{100 * row['peak_fraction']:.1f}"]
                rows.append(row)
                cells = [
                    size,
                    row["rate"],
                    f"{row['bitrate']:g}",
                    row["whisper"] or "-",
                    gan_cell,
                    compile_cell,
                    f"{row['params_trainable'] / 1e6:.2f}M / {row['params_total'] / 1e6:.2f}M",
                    f"{row['step_s_median']:.3f}",
                    f"{row['step_s_min']:.3f}",
                    f"{row['peak_rss_mib']:.0f}",
                    f"{row['rss_growth_mib']:.0f}",
                    cuda_peak,
                    f"{row['flops_per_step'] / 1e9:.3g}",
                    f"{rate:.3g}",
                    *peak,
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
    if args.json:
        Path(args.json).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
