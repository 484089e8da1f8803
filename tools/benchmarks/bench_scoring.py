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
  and 2 CPU threads (torch for NISQA and Resemblyzer, onnxruntime for DNSMOS), and on CUDA when available
  (DNSMOS stays on the CPU unless onnxruntime-gpu is installed). One warm-up batch precedes each timing.
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


def bench_transcription(name: str, path: Path, audios, languages, batch_size: int) -> None:
    import torch

    from fcodec.metrics.transcribe import WhisperJudge

    judge = WhisperJudge(path, batch_size=batch_size)
    all_threads = torch.get_num_threads()
    for threads in sorted({1, all_threads}):
        torch.set_num_threads(threads)
        judge.transcribe(audios[:2], languages[:2])  # warm-up
        start = time.perf_counter()
        judge.transcribe(audios, languages)
        elapsed = time.perf_counter() - start
        audio_seconds = sum(len(a) for a in audios) / 16000
        print(
            f"transcribe  {name:<22} threads={threads}  {len(audios) / elapsed:7.2f} utt/s  "
            f"(RTF {elapsed / audio_seconds:.3f}, {elapsed:.1f} s)"
        )
    torch.set_num_threads(all_threads)


def bench_signal(audios, nj: int) -> None:
    from fcodec.metrics.scoring import signal_pool
    from fcodec.metrics.signal import score_pair_job

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


def bench_score_judges(audios, languages, batch_size: int) -> None:
    from fcodec.metrics.scoring import ScoreConfig, score
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


def bench_quality(audios, batch_size: int) -> None:
    import torch

    from fcodec.metrics.mos import load_mos_judges
    from fcodec.metrics.speaker_similarity import SpeakerEncoder

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    saved = torch.get_num_threads()
    for device in devices:
        for threads in (1, 2) if device == "cpu" else (saved,):
            torch.set_num_threads(threads)
            judges, skipped = load_mos_judges(["nisqa", "dnsmos"], device=device, num_threads=threads)
            for name, reason in skipped.items():
                print(f"mos         {name:<22} skipped: {reason}")
            runners = [(f"{j.name}", lambda batch, j=j: j.predict(batch, 16000, batch_size=batch_size)) for j in judges]
            speaker = SpeakerEncoder(device=device)
            runners.append(("resemblyzer", lambda batch, s=speaker: s.embed(batch, 16000, batch_size=batch_size)))
            for name, run in runners:
                run(audios[:batch_size])  # warm-up
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                run(audios)
                if device == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - start
                audio_seconds = sum(len(a) for a in audios) / 16000
                where = f"{device} threads={threads}" if device == "cpu" else device
                print(
                    f"mos         {name:<12} {where:<20} {len(audios) / elapsed:7.2f} utt/s  "
                    f"(RTF {elapsed / audio_seconds:.4f}, {elapsed:.1f} s)"
                )
    torch.set_num_threads(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-base", action="store_true", help="do not time whisper-base even when present")
    parser.add_argument("--only-mos", action="store_true", help="time only the MOS judges and the speaker encoder")
    args = parser.parse_args()

    from fcodec.utils.assets import shared_whisper_checkpoint
    from fcodec.utils.whisper import make_tiny_whisper

    audios, languages, description = load_utterances(args.utts)
    print(f"input: {description}")
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
