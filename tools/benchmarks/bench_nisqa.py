#!/usr/bin/env python3
"""NISQA throughput in utterances per second: ``NisqaPredictor.predict`` on ~5 s clips.

For each torch thread count (CPU) and batch size: one warm-up call, then the median of ``--repeats`` timed calls
over ``--utts`` clips. The front end (log-mel and segmenting, always on CPU) is also timed alone, so the network's
share is the difference. With a CUDA device the network is timed there too (the front end stays on CPU).

Input: real speech from ../shared/audio (LibriSpeech clips of at least 5 s, cut to 5 s) and the published weights
when present; otherwise synthetic speech-like clips and a randomly initialised network (same cost).
Figures depend on the machine and its load: compare ratios within one run, and name the CPU.

Usage (from the repository root):
    PYTHONPATH=$PWD python tools/benchmarks/bench_nisqa.py
    PYTHONPATH=$PWD python tools/benchmarks/bench_nisqa.py --threads 1 2 --batch-sizes 1 16 --utts 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def five_second_clips(count: int, seconds: float = 5.0, rate: int = 16000) -> Tuple[List[np.ndarray], str]:
    """(clips, description): real LibriSpeech cut to ``seconds`` when present, else synthetic speech-like audio."""
    import soundfile as sf

    from fcodec.utils.assets import shared_audio_dir

    length = int(seconds * rate)
    root = shared_audio_dir()
    if root is not None:
        audios = [sf.read(p, dtype="float32")[0] for p in sorted((root / "librispeech-dev-clean").rglob("*.wav"))]
        long_enough = [a[:length] for a in audios if len(a) >= length]
        if long_enough:
            return [long_enough[i % len(long_enough)] for i in range(count)], f"real speech, {seconds:g} s clips"
    from fcodec.models.testing import speechlike

    return (
        [speechlike(1, length, seed=i)[0].numpy() for i in range(count)],
        f"synthetic speech-like, {seconds:g} s clips",
    )


def load_predictor(device: str):
    from fcodec.metrics.nisqa import NisqaPredictor
    from fcodec.metrics.nisqa_model import NisqaConfig, NisqaDimModel
    from fcodec.utils.assets import shared_nisqa_checkpoint

    path = shared_nisqa_checkpoint()
    if path is not None:
        return NisqaPredictor.from_checkpoint(path, device=device), "published weights"
    return NisqaPredictor(NisqaDimModel(NisqaConfig()), device=device), "random weights (no ../shared)"


def median_seconds(call: Callable[[], object], repeats: int, synchronize: Callable[[], None]) -> float:
    call()  # warm-up
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def nisqa_utterances_per_second(
    predictor, clips: Sequence[np.ndarray], rate: int, batch_size: int, repeats: int = 3
) -> float:
    """Utterances per second of ``predictor.predict(clips, rate, batch_size)`` (median of ``repeats``)."""
    import torch

    sync = torch.cuda.synchronize if predictor.device.type == "cuda" else (lambda: None)
    seconds = median_seconds(lambda: predictor.predict(clips, rate, batch_size=batch_size), repeats, sync)
    return len(clips) / seconds


def front_end_utterances_per_second(predictor, clips: Sequence[np.ndarray], rate: int, repeats: int = 3) -> float:
    """Utterances per second of the CPU front end alone (log-mel and segments)."""
    import torch

    from fcodec.metrics.nisqa_features import waveform_segments

    seconds = median_seconds(
        lambda: [waveform_segments(torch.from_numpy(c), rate, predictor.config) for c in clips], repeats, lambda: None
    )
    return len(clips) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utts", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sample-rate", type=int, default=16000, help="rate the clips are resampled to")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    clips, what = five_second_clips(args.utts, args.seconds)
    if args.sample_rate != 16000:
        from fcodec.metrics.testing import resample

        clips = [resample(c, 16000, args.sample_rate) for c in clips]
    predictor, weights = load_predictor("cpu")
    print(f"NISQA: {args.utts} x {what} at {args.sample_rate} Hz, {weights}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        front = front_end_utterances_per_second(predictor, clips, args.sample_rate, args.repeats)
        line = [f"cpu {threads} thread(s): front end alone {front:7.1f} utt/s"]
        for batch_size in args.batch_sizes:
            rate = nisqa_utterances_per_second(predictor, clips, args.sample_rate, batch_size, args.repeats)
            line.append(f"predict bs={batch_size} {rate:7.1f} utt/s")
        print("  " + " | ".join(line))
    if torch.cuda.is_available():
        gpu_predictor, _ = load_predictor("cuda")
        line = [f"cuda ({torch.cuda.get_device_name()}), front end on {torch.get_num_threads()} CPU thread(s)"]
        for batch_size in args.batch_sizes:
            rate = nisqa_utterances_per_second(gpu_predictor, clips, args.sample_rate, batch_size, args.repeats)
            line.append(f"predict bs={batch_size} {rate:7.1f} utt/s")
        print("  " + " | ".join(line))


if __name__ == "__main__":
    main()
