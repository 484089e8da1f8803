#!/usr/bin/env python3
"""Step time and peak memory of the Whisper ASR loss: Whisper's own 30 s windows against shorter ones, on CPU.

Each configuration runs in a fresh process (so one's allocator cache cannot hide another's peak): it builds
``WhisperASRLoss`` for a batch of ``--batch`` clips of ``--seconds`` at 24 kHz, runs one warm-up step, then
``--steps`` timed forward+backward steps. It reports the step's FLOPs (counted once; they do not depend on what else
runs on the machine), the fastest wall-clock step, and the ratios of both to pad-to-30 s. Peak memory is the highest resident set size sampled every 5 ms during
those steps, minus the resident size just before them. The loss value is printed too, with its difference from
the pad-to-30 s value on the same input: a faster window is only worth having if that difference is small.

Input: real speech from ../shared/audio when present (the clips' Whisper transcripts, computed once with the
first Whisper that is not the tiny random one, as targets), otherwise noise with a fixed text (timing only).

Usage (from the repository root):
    PYTHONPATH=$PWD python tools/benchmarks/bench_asr_loss.py            # tiny random Whisper + whisper-base
    PYTHONPATH=$PWD python tools/benchmarks/bench_asr_loss.py --whisper small --windows 30 batch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench_common import rss_mib  # noqa: E402  (beside this script)


class PeakRSS:
    """Highest resident set size seen by a 5 ms sampling thread while the block runs (torch ops drop the GIL)."""

    def __enter__(self):
        self.start = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())

    @property
    def increase_mib(self) -> float:
        return self.peak - self.start


def load_inputs(spec: dict) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    from fcodec.losses import resample, resampled_lengths

    clips = [torch.tensor(c) for c in spec["clips"]]
    lengths = torch.tensor([len(c) for c in clips])
    audio = torch.zeros(len(clips), int(lengths.max()))
    for i, clip in enumerate(clips):
        audio[i, : len(clip)] = clip
    return resample(audio, 16000, 24000), resampled_lengths(lengths, 16000, 24000), spec["languages"], spec["texts"]


def run_one(args) -> None:
    """Child process: one configuration; prints one JSON line."""
    from fcodec.losses import WhisperASRLoss
    from fcodec.utils.whisper import load_whisper

    torch.set_num_threads(args.threads)
    spec = json.loads(Path(args.inputs).read_text())
    recon, lengths, languages, texts = load_inputs(spec)
    window = args.window if args.window == "batch" else float(args.window)
    loss = WhisperASRLoss(
        load_whisper(args.model), 24000, encoder_window=window, sub_batch_size=args.sub_batch, format_text=False
    )
    recon = torch.nn.Parameter(recon)

    def step() -> float:
        recon.grad = None
        value = loss(recon, lengths, languages, texts)
        value.backward()
        return value.item()

    from torch.utils.flop_counter import FlopCounterMode
    from whisper.model import disable_sdpa

    wall = []
    with PeakRSS() as memory:
        value = step()  # warm-up: first calls initialise kernels and the allocator
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            wall.append(time.perf_counter() - start)
    # FLOPs of one step (matmuls, convolutions, and attention as explicit matmuls, which the counter sees, unlike
    # the fused kernel): the work, whatever else the machine is doing. Counted after the memory measurement, as
    # this path materialises the attention matrices.
    with FlopCounterMode(display=False) as counter, disable_sdpa():
        step()
    # the fastest wall-clock step is the least disturbed by other jobs on a shared machine
    print(
        json.dumps(
            {
                "gflop": counter.get_total_flops() / 1e9,
                "wall_s": min(wall),
                "peak_mib": memory.increase_mib,
                "loss": value,
            }
        ),
        flush=True,
    )


def prepare_inputs(args, folder: Path, judge: str | None) -> Path:
    """Clips (16 kHz), languages and target texts for every configuration; real speech when available."""
    from fcodec.utils.assets import shared_audio_dir

    clips, languages, texts = [], [], []
    audio_dir = shared_audio_dir()
    samples = int(args.seconds * 16000)
    if audio_dir is not None:
        import soundfile as sf

        files = sorted((audio_dir / "librispeech-dev-clean").rglob("*.wav"))
        files = [f for f in files if sf.info(f).frames >= samples][: args.batch - args.batch // 2]
        files += sorted((audio_dir / "magicdata-zh-dev-set").glob("*.wav"))[: args.batch // 2]
        for f in files:
            audio, _ = sf.read(f, dtype="float32")
            clips.append(audio[:samples])
            languages.append("zh" if "magicdata" in str(f) else "en")
    while len(clips) < args.batch:  # no real speech (or too little): noise, for timing only
        clips.append((0.1 * torch.randn(samples)).numpy())
        languages.append("en")
    if judge is not None and audio_dir is not None:
        from fcodec.losses.pseudo_labels import transcribe
        from fcodec.utils.whisper import load_whisper

        padded = torch.zeros(len(clips), samples)
        for i, clip in enumerate(clips):
            padded[i, : len(clip)] = torch.tensor(clip)
        labels = transcribe(load_whisper(judge), padded, torch.tensor([len(c) for c in clips]), languages)
        texts = [" " + label["text"] if label["language"] != "zh" else label["text"] for label in labels]
    else:
        texts = [" Hello world, this is a test." for _ in clips]
    path = folder / "inputs.json"
    path.write_text(json.dumps({"clips": [list(map(float, c)) for c in clips], "languages": languages, "texts": texts}))
    print(
        f"input: {len(clips)} clips x {args.seconds} s ({'real speech' if audio_dir else 'noise'}), "
        f"languages {languages}"
    )
    for language, text in zip(languages, texts):
        print(f"  target [{language}] {text}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--whisper",
        nargs="*",
        default=None,
        help="Whisper names or checkpoints (default: tiny random, and ../shared whisper-base)",
    )
    parser.add_argument(
        "--windows",
        nargs="*",
        default=["30", "20", "10", "batch"],
        help="encoder windows: seconds, or 'batch' (longest clip rounded up to 1 s)",
    )
    parser.add_argument(
        "--sub-batches",
        nargs="*",
        type=int,
        default=None,
        help="sub-batch sizes to time at the 30 s window (default: the batch size and 1)",
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--window", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--sub-batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args)
        return

    from fcodec.utils.assets import shared_whisper_checkpoint
    from fcodec.utils.whisper import make_tiny_whisper

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = args.whisper
        if models is None:
            tiny = make_tiny_whisper(folder / "tiny-random.pt")
            models = [str(tiny)] + ([str(shared_whisper_checkpoint())] if shared_whisper_checkpoint() else [])
        judge = next((m for m in models if "tiny-random" not in m), None)
        inputs = prepare_inputs(args, folder, judge)
        sub_batches = args.sub_batches or sorted({args.batch, 1}, reverse=True)
        print(
            f"CPU, {args.threads} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}; "
            f"{args.steps} timed steps after 1 warm-up\n"
        )
        print(
            f"{'whisper':<18} {'window':>7} {'sub-batch':>9} {'GFLOP':>8} {'x fewer':>8} {'wall s':>7} "
            f"{'x faster':>9} {'peak MiB':>9} {'loss':>8} {'vs pad-30':>10}"
        )
        for model in models:
            reference = None
            runs = [("30", s) for s in sub_batches] + [(w, args.batch) for w in args.windows if w not in ("30", "30.0")]
            for window, sub_batch in runs:
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--inputs",
                    str(inputs),
                    "--model",
                    model,
                    "--window",
                    window,
                    "--sub-batch",
                    str(sub_batch),
                    "--steps",
                    str(args.steps),
                    "--threads",
                    str(args.threads),
                ]
                result = subprocess.run(
                    command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
                )
                if result.returncode != 0:
                    print(f"{Path(model).name:<18} {window:>7} {sub_batch:>9} failed:\n{result.stderr[-2000:]}")
                    continue
                row = json.loads(result.stdout.strip().splitlines()[-1])
                if reference is None:
                    reference = row
                change = (row["loss"] - reference["loss"]) / reference["loss"] * 100
                print(
                    f"{Path(model).name:<18} {window:>7} {sub_batch:>9} {row['gflop']:>8.1f} "
                    f"{reference['gflop'] / row['gflop']:>8.2f} {row['wall_s']:>7.2f} "
                    f"{reference['wall_s'] / row['wall_s']:>9.2f} {row['peak_mib']:>9.0f} {row['loss']:>8.4f} "
                    f"{change:>+9.1f}%",
                    flush=True,
                )


if __name__ == "__main__":
    main()
