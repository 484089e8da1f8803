#!/usr/bin/env python3
"""Scoring throughput in utterances per second: the Whisper judge, the signal metrics with 1 vs 2 processes, and
the MOS judges and the speaker encoder with 1 vs 2 threads (and on CUDA when there is a GPU).

* Transcription: ``WhisperJudge.transcribe`` on ``--utts`` utterances (batches of ``--batch-size``), for the tiny
  random Whisper (always; its transcripts run to the length cap, so it measures the decoding loop, not a
  realistic transcript) and for ../shared/models/whisper-base.pt when present, with 1 and with all torch threads.
  One warm-up call precedes each timing.
* Signal metrics (PESQ, STOI, SI-SDR, mel and STFT distance on 16 kHz pairs): in this process, and in a spawn
  pool of 1 and of 2 worker processes (the pool is started and warmed before the clock starts; its start-up time
  is printed separately).
* MOS judges (NISQA when its weights are in ../shared, DNSMOS) and the Resemblyzer speaker encoder, as scoring
  calls them (``predict`` / ``embed`` on batches of ``--batch-size``): utterances (waveforms) per second with 1
  and 2 CPU threads (torch; DNSMOS also with its onnxruntime fallback), and on CUDA when available (the onnx
  fallback stays on the CPU unless onnxruntime-gpu is installed). One warm-up batch precedes each timing.
* ``--project``: stage 8's time per component (each quality judge, each ASR judge, the signal metrics in a pool of
  one process per CPU) at the recipe's scale (2 test sets x ``--utterances``, 4 models + the originals), from the
  clips/s measured here on ``--device`` with torch's threads; DNSMOS's torch default against its onnx fallback.
  Scoring runs each judge on the original (once per test set: cached) and on every reconstruction.
* Whole scoring runs (``fcodec.metrics.scoring.score``: reading, both judges' transcripts, signal metrics in a pool
  of 1, the files; no MOS judges, to compare ASR judges alone) with one and with two tiny random judges (capped at 3 tokens/s, fresh transcript caches): the
  signal metrics are computed once whatever the number of judges, so a second judge should add only its
  transcription time.

Input: real speech from ../shared/audio when present (original vs original plus noise), otherwise a synthetic
speech-like signal. Figures depend on the machine and its load: compare ratios within one run.

Usage (from the repository root):
    PYTHONPATH=$PWD python tools/benchmarks/bench_scoring.py
    PYTHONPATH=$PWD python tools/benchmarks/bench_scoring.py --utts 32 --skip-base
    PYTHONPATH=$PWD python tools/benchmarks/bench_scoring.py --project [--utterances N] [--device cuda]
        [--asr-judges ../shared/models/whisper-base.pt small large-v3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def load_utterances(count: int) -> Tuple[List[np.ndarray], List[str], str]:
    """(16 kHz audios, languages, description): real clips cycled to ``count``, else synthetic ones."""
    import soundfile as sf

    from fcodec.utils.assets import shared_audio_dir

    root = shared_audio_dir()
    if root is not None:
        paths = sorted((root / "librispeech-dev-clean").rglob("*.wav"))[:8] + sorted(
            (root / "magicdata-zh-dev-set").glob("*.wav")
        )
        clips = [(sf.read(p, dtype="float32")[0], "zh" if "magicdata" in str(p) else "en") for p in paths]
        clips = [(audio, language) for audio, language in clips if len(audio) <= 30 * 16000]
        chosen = [clips[i % len(clips)] for i in range(count)]
        seconds = sum(len(a) for a, _ in chosen) / 16000
        return (
            [a for a, _ in chosen],
            [language for _, language in chosen],
            f"real speech ({seconds:.0f} s in {count} utts)",
        )
    from fcodec.models.testing import speechlike

    audios = [speechlike(1, int((2.0 + (i % 5) * 0.5) * 16000), seed=i)[0].numpy() for i in range(count)]
    return audios, ["zh" if i % 2 else "en" for i in range(count)], f"synthetic speech-like ({count} utts)"


def bench_transcription(name: str, path: Path, audios, languages, batch_size: int, device: str = "cpu") -> float:
    import torch

    from fcodec.metrics.transcribe import WhisperJudge

    judge = WhisperJudge(path, batch_size=batch_size, device=device)
    all_threads = torch.get_num_threads()
    for threads in sorted({1, all_threads}) if device == "cpu" else [all_threads]:
        torch.set_num_threads(threads)
        judge.transcribe(audios[:2], languages[:2])  # warm-up
        start = time.perf_counter()
        judge.transcribe(audios, languages)
        elapsed = time.perf_counter() - start
        audio_seconds = sum(len(a) for a in audios) / 16000
        where = f"threads={threads}" if device == "cpu" else device
        print(
            f"transcribe  {name:<22} {where:<10} {len(audios) / elapsed:7.2f} utt/s  "
            f"(RTF {elapsed / audio_seconds:.3f}, {elapsed:.1f} s)"
        )
    torch.set_num_threads(all_threads)
    return len(audios) / elapsed


def bench_signal(audios, nj: int) -> float:
    from fcodec.metrics.signal import score_pair_job, signal_pool

    rng = np.random.default_rng(0)
    jobs = [(f"u{i}", a, a + 0.01 * rng.standard_normal(len(a)).astype(np.float32), 1600) for i, a in enumerate(audios)]
    started = time.perf_counter()
    with signal_pool(nj) as pool:
        if pool is None:
            run = lambda batch: [score_pair_job(job) for job in batch]  # noqa: E731
        else:
            run = lambda batch: list(pool.map(score_pair_job, batch))  # noqa: E731
        run(jobs[: max(nj, 1)])  # start and warm every worker
        ready = time.perf_counter()
        run(jobs)
        elapsed = time.perf_counter() - ready
    label = "in-process" if nj == 0 else f"pool of {nj}"
    print(
        f"signal      {label:<22}            {len(jobs) / elapsed:7.2f} utt/s  ({elapsed:.1f} s; "
        f"pool start-up {ready - started:.1f} s)"
    )
    return len(jobs) / elapsed


def bench_score_judges(audios, languages, batch_size: int) -> None:
    from fcodec.metrics.score_inputs import ScoreConfig
    from fcodec.metrics.scoring import score
    from fcodec.metrics.testing import make_decode_dir, make_test_cuts
    from fcodec.utils.whisper import make_tiny_whisper

    rng = np.random.default_rng(1)
    texts = {"en": "THE CAT SAT ON THE MAT", "zh": "今天天气很好"}  # the timings do not depend on the texts
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cuts, cuts_path = make_test_cuts(
            root / "data",
            [(f"{lang}_{i}", audio, texts[lang], lang) for i, (audio, lang) in enumerate(zip(audios, languages))],
        )
        decode_dir = make_decode_dir(
            root / "decode" / "bench", cuts, lambda _, a: a + 0.01 * rng.standard_normal(len(a)).astype(np.float32)
        )
        judges = [str(make_tiny_whisper(root / "judges" / f"tiny-random-seed{seed}.pt", seed=seed)) for seed in (0, 1)]
        for count in (1, 2):
            config = ScoreConfig(
                ref_cuts=cuts_path,
                decode_dir=decode_dir,
                out_dir=root / f"score{count}",
                asr_models=judges[:count],
                cache_dir=root / f"cache{count}",
                nj=1,
                batch_size=batch_size,
                max_tokens_per_second=3.0,
                mos_judges=(),
                speaker_model="none",
            )
            start = time.perf_counter()
            score(config)
            elapsed = time.perf_counter() - start
            print(
                f"score       {count} tiny judge{'s' if count > 1 else ' '}, pool of 1      "
                f"{len(audios) / elapsed:7.2f} utt/s  ({elapsed:.1f} s)"
            )


def quality_runners(device: str, threads: int, batch_size: int, onnx: bool = False):
    """[(name, run(batch))]: the MOS judges that load and the speaker encoder, as scoring calls them (DNSMOS with its
    default backend for ``device``); with ``onnx``, DNSMOS's other backend beside it, for the comparison."""
    from fcodec.metrics.dnsmos import DnsmosPredictor
    from fcodec.metrics.mos import load_mos_judges
    from fcodec.metrics.speaker_similarity import SpeakerEncoder

    judges, skipped = load_mos_judges(["nisqa", "dnsmos"], device=device, num_threads=threads)
    for name, reason in skipped.items():
        print(f"mos         {name:<22} skipped: {reason}")
    runners = [(j.name, lambda batch, j=j: j.predict(batch, 16000, batch_size=batch_size)) for j in judges]
    default = next((j.backend for j in judges if j.name == "dnsmos"), None)
    if onnx and default is not None:
        other = "onnx" if default == "torch" else "torch"
        fallback = DnsmosPredictor(num_threads=threads, device=device, backend=other)
        runners.append((f"dnsmos-{other}", lambda batch: fallback.predict(batch, 16000, batch_size=batch_size)))
    speaker = SpeakerEncoder(device=device)
    runners.append(("resemblyzer", lambda batch: speaker.embed(batch, 16000, batch_size=batch_size)))
    return runners


def timed(run, audios, batch_size: int, device: str) -> float:
    """Seconds for ``run(audios)`` after a warm-up batch (CUDA synchronised)."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    run(audios[:batch_size])
    sync()
    start = time.perf_counter()
    run(audios)
    sync()
    return time.perf_counter() - start


def bench_quality(audios, batch_size: int) -> None:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    saved = torch.get_num_threads()
    audio_seconds = sum(len(a) for a in audios) / 16000
    for device in devices:
        for threads in (1, 2) if device == "cpu" else (saved,):
            torch.set_num_threads(threads)
            for name, run in quality_runners(device, threads, batch_size, onnx=True):
                elapsed = timed(run, audios, batch_size, device)
                where = f"{device} threads={threads}" if device == "cpu" else device
                print(
                    f"mos         {name:<12} {where:<20} {len(audios) / elapsed:7.2f} utt/s  "
                    f"(RTF {elapsed / audio_seconds:.4f}, {elapsed:.1f} s)"
                )
    torch.set_num_threads(saved)


# Stage 8 at the recipe's defaults (egs/TEMPLATE/codec1/codec.sh): num_test_utts=2000 per test set, two test sets
# (test_aishell, test_librispeech), four decoded models (pretrained, 50, 25 and 12.5 Hz); the originals are judged
# once per test set (cached), so each judge sees (models + 1) clips per utterance and the signal metrics one pair
# per model.
RECIPE_TEST_SETS, RECIPE_MODELS, RECIPE_UTTERANCES = 2, 4, 2000


def asr_checkpoints(names, folder: Path, tokens_per_second: float):
    """[(label, checkpoint, token cap)]: a file as is (real transcripts: the usual cap); a published size
    (small, large-v3...) as random weights of that size, transcripts capped at ``tokens_per_second`` (random
    weights never stop early: the cap stands in for the length of real speech's transcript)."""
    from fcodec.metrics.transcribe import MAX_TOKENS_PER_SECOND
    from fcodec.utils.whisper import PUBLISHED_DIMS, make_tiny_whisper

    found = []
    for name in names:
        if Path(name).is_file():
            found.append((Path(name).stem, Path(name), MAX_TOKENS_PER_SECOND))
        elif name in PUBLISHED_DIMS:
            path = make_tiny_whisper(folder / f"whisper-{name}-random.pt", **PUBLISHED_DIMS[name])
            found.append((f"{name} (random, {tokens_per_second:g} tok/s)", path, tokens_per_second))
        else:
            print(
                f"project     ASR judge {name}: skipped (neither a checkpoint nor a size of {sorted(PUBLISHED_DIMS)})"
            )
    return found


def project(args, audios, languages) -> None:
    """Measure each stage-8 component's clips/s on ``audios`` on this machine (``args.device``, torch's threads)
    and print the time it would take at the recipe's scale."""
    import os

    import torch

    from fcodec.metrics.transcribe import WhisperJudge

    clips = RECIPE_TEST_SETS * args.utterances * (RECIPE_MODELS + 1)
    pairs = RECIPE_TEST_SETS * args.utterances * RECIPE_MODELS
    threads = torch.get_num_threads()
    rates = {}
    for name, run in quality_runners(args.device, threads, args.batch_size, onnx=not args.skip_onnx):
        rates[name] = len(audios) / timed(run, audios, args.batch_size, args.device)
    rates["signal"] = bench_signal(audios, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        for label, path, cap in asr_checkpoints(args.asr_judges, Path(tmp), args.asr_tokens_per_second):
            judge = WhisperJudge(path, device=args.device, batch_size=args.batch_size, max_tokens_per_second=cap)
            run = lambda batch, j=judge: j.transcribe(batch, languages[: len(batch)])  # noqa: E731
            rates[f"asr {label}"] = len(audios) / timed(run, audios, args.batch_size, args.device)
            del judge
    print(
        f"\nprojected stage 8: {RECIPE_TEST_SETS} test sets x {args.utterances} utterances, {RECIPE_MODELS} models "
        f"+ originals = {clips} clips per judge, {pairs} signal pairs; device {args.device}, torch threads {threads}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    quality = ("nisqa", "dnsmos", "resemblyzer")
    total = 0.0
    for name, rate in rates.items():
        count = pairs if name == "signal" else clips
        hours = count / rate / 3600
        note = " (the other backend: not in the total)" if name in ("dnsmos-onnx", "dnsmos-torch") else ""
        total += 0.0 if note else hours
        print(f"project     {name:<36} {rate:8.2f} clips/s  {count:6d} clips  {hours:6.2f} h{note}")
    for other in ("onnx", "torch"):
        if f"dnsmos-{other}" in rates and "dnsmos" in rates:
            print(f"project     DNSMOS default / {other}: {rates['dnsmos'] / rates[f'dnsmos-{other}']:.2f}x")
    present = [name for name in quality if name in rates]
    together = 1.0 / sum(1.0 / rates[name] for name in present)
    print(
        f"project     quality judges together ({' + '.join(present)}): {together:.2f} clips/s, "
        f"{clips / together / 3600:.2f} h"
    )
    print(f"project     all components one after another: {total:.2f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-base", action="store_true", help="do not time whisper-base even when present")
    parser.add_argument("--only-mos", action="store_true", help="time only the MOS judges and the speaker encoder")
    parser.add_argument(
        "--project", action="store_true", help="project stage 8's time per component at the recipe's scale"
    )
    parser.add_argument("--utterances", type=int, default=RECIPE_UTTERANCES, help="--project: utterances per test set")
    parser.add_argument("--device", default="cpu", help="--project: the scoring device (cpu, cuda)")
    parser.add_argument(
        "--asr-judges",
        nargs="*",
        default=None,
        help="--project: Whisper checkpoints, or published sizes timed with random weights (default: "
        "../shared/models/whisper-base.pt when present)",
    )
    parser.add_argument("--asr-tokens-per-second", type=float, default=4.0, help="--project: random judges' cap")
    parser.add_argument("--skip-onnx", action="store_true", help="--project: do not time DNSMOS's onnx fallback")
    args = parser.parse_args()

    from fcodec.utils.assets import shared_whisper_checkpoint
    from fcodec.utils.whisper import make_tiny_whisper

    audios, languages, description = load_utterances(args.utts)
    print(f"input: {description}")
    if args.project:
        if args.asr_judges is None:
            args.asr_judges = [str(p) for p in [shared_whisper_checkpoint()] if p is not None]
        project(args, audios, languages)
        return
    bench_quality(audios, args.batch_size)
    if args.only_mos:
        return
    for nj in (0, 1, 2):
        bench_signal(audios, nj)
    bench_score_judges(audios, languages, args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        bench_transcription(
            "tiny random Whisper", make_tiny_whisper(Path(tmp) / "tiny.pt"), audios, languages, args.batch_size
        )
    base = shared_whisper_checkpoint()
    if base is not None and not args.skip_base:
        bench_transcription("whisper-base", base, audios, languages, args.batch_size)
    elif base is None:
        print("transcribe  whisper-base           skipped: ../shared/models/whisper-base.pt not present")


if __name__ == "__main__":
    main()
