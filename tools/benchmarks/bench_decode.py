"""Test-set decoding speed: one utterance per call vs padded batches vs streaming, and torch thread counts.

    PYTHONPATH=$PWD python tools/benchmarks/bench_decode.py --config tiny                  # the mini recipe's model
    PYTHONPATH=$PWD python tools/benchmarks/bench_decode.py --config causal-2k --utts 8    # full size, random weights
    PYTHONPATH=$PWD python tools/benchmarks/bench_decode.py --codec exp/train_50hz/best --device cuda

Decodes ``--utts`` speech-like utterances of 2-15 s (seeded) with :func:`fcodec.infer.batched.encode_decode`
grouped as :mod:`fcodec.infer.decode` groups them (longest first, at most ``--max-duration`` seconds of padded
audio per batch), for each thread count in ``--threads`` and each mode (one utterance per call, batched,
streaming batched). Prints the real-time factor (compute seconds per second of audio; median of ``--repeat``
runs after a warm-up) and each mode's speed-up over one utterance per call with the same threads: compare those
ratios, which come from one run, rather than absolute times on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List

import numpy as np
import torch

from fcodec.infer.batched import duration_batches, encode_decode
from fcodec.models import FocalCodec, configs
from fcodec.models.testing import speechlike


def utterances(count: int, seed: int = 0) -> List[torch.Tensor]:
    """``count`` speech-like signals of 2-15 s (seeded)."""
    rng = np.random.default_rng(seed)
    return [speechlike(1, int(rng.uniform(2.0, 15.0) * 16000), seed=seed + i)[0] for i in range(count)]


def batches(model: FocalCodec, sigs: List[torch.Tensor], max_duration: float) -> List[List[torch.Tensor]]:
    groups = duration_batches(model, [s.shape[-1] for s in sigs], max_duration, max_batch_size=1 << 30)
    return [[sigs[i] for i in group] for group in groups]


def run(model: FocalCodec, groups: List[List[torch.Tensor]], streaming: bool, device: str) -> float:
    start = time.perf_counter()
    for group in groups:
        encode_decode(model, group, streaming=streaming)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="named config (tiny, causal-2k, ...) with random weights")
    parser.add_argument("--codec", default=None, help="load a codec (folder, config path or repo id) instead")
    parser.add_argument("--utts", type=int, default=12)
    parser.add_argument("--max-duration", type=float, default=100.0, help="seconds of padded audio per batch")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = (
        (FocalCodec.from_pretrained(args.codec) if args.codec else FocalCodec(**configs.get_config(args.config)))
        .eval()
        .to(args.device)
    )
    sigs = utterances(args.utts)
    seconds = sum(s.shape[-1] for s in sigs) / 16000
    modes = {
        "one per call": (batches(model, sigs, 0.0), False),
        "batched": (batches(model, sigs, args.max_duration), False),
    }
    if model.causal:
        modes["batched streaming"] = (modes["batched"][0], True)
    print(
        f"{args.codec or args.config}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, "
        f"{args.utts} utterances, {seconds:.1f} s of audio, {len(modes['batched'][0])} batches of at most "
        f"{args.max_duration:g} s, device {args.device}"
    )
    figures: Dict[str, Dict[str, float]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rtf = {}
        for name, (groups, streaming) in modes.items():
            run(model, groups[:1], streaming, args.device)  # warm-up
            times = [run(model, groups, streaming, args.device) for _ in range(args.repeat)]
            rtf[name] = statistics.median(times) / seconds
        base = rtf["one per call"]
        for name, value in rtf.items():
            print(f"  threads {threads}  {name:18s} real-time factor {value:.5f}  speed-up x{base / value:.2f}")
        figures[f"threads={threads}"] = rtf
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
