"""Codec speed on CPU: offline encode/decode of N seconds, and streaming compute per 80 ms chunk.

    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py                # full-size 50 Hz causal, random weights
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --config tiny --threads 1
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --codec exp/models/focalcodec_50hz_2k_causal
    PYTHONPATH=$PWD:/path/to/upstream python tools/benchmarks/bench_codec.py --upstream   # ratio vs upstream

Offline: ``sig_to_toks`` on one signal of ``--seconds`` seconds, then ``toks_to_sig`` on its tokens (median of
``--repeat`` runs after a warm-up). Streaming: ``encode_step`` + ``decode_step`` on consecutive 80 ms chunks
(median, p95 and min over ``--chunks`` chunks after ``--warmup`` chunks); real time means at most 80 ms per chunk.
On a shared machine, other processes make multi-threaded timings noisy (OpenMP waits for descheduled threads
at every parallel op): compare implementations by the ratios of one run, and look at the min for the speed of
an unloaded machine.
With ``--upstream`` the installed upstream ``focalcodec`` package (if importable) gets the same weights and is
timed in the same run, interleaved with ours, and its outputs are compared with ours.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import time
from typing import Callable, Dict, List

import torch

from fcodec.infer.streaming import decode_step, encode_step
from fcodec.models import FocalCodec, configs


def test_signal(seconds: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    n = int(seconds * 16000)
    t = torch.arange(n) / 16000
    sines = sum(torch.sin(2 * math.pi * f * t) for f in (110.0, 440.0, 1234.0)) / 3
    return (0.3 * sines + 0.05 * torch.randn(n, generator=gen))[None].float()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p95(values: List[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(math.ceil(0.95 * len(values))) - 1)]


@torch.no_grad()
def offline_times(model, sig: torch.Tensor, repeat: int) -> Dict[str, List[float]]:
    toks = model.sig_to_toks(sig)  # warm-up
    model.toks_to_sig(toks)
    out = {"encode": [], "decode": []}
    for _ in range(repeat):
        out["encode"].append(timed(lambda: model.sig_to_toks(sig)))
        out["decode"].append(timed(lambda: model.toks_to_sig(toks)))
    return out


@torch.no_grad()
def streaming_times_ours(model: FocalCodec, sig: torch.Tensor, chunks: int, warmup: int) -> Dict[str, List[float]]:
    size = model.chunk_size
    enc_state = dec_state = None
    out = {"encode": [], "decode": [], "total": []}
    for i in range(warmup + chunks):
        chunk = sig[:, (i * size) % (sig.shape[1] - size):][:, :size]
        start = time.perf_counter()
        toks, enc_state = encode_step(model, chunk, enc_state)
        mid = time.perf_counter()
        _, dec_state = decode_step(model, toks, dec_state)
        end = time.perf_counter()
        if i >= warmup:
            out["encode"].append(mid - start)
            out["decode"].append(end - mid)
            out["total"].append(end - start)
    return out


@torch.no_grad()
def streaming_times_upstream(model, sig: torch.Tensor, chunks: int, warmup: int) -> Dict[str, List[float]]:
    size = model.chunk_size
    enc, dec = [(), ()], [(), ()]
    out = {"encode": [], "decode": [], "total": []}
    for i in range(warmup + chunks):
        chunk = sig[:, (i * size) % (sig.shape[1] - size):][:, :size]
        start = time.perf_counter()
        toks, *enc = model.sig_to_toks(chunk, *enc, return_state=True)
        mid = time.perf_counter()
        _, *dec = model.toks_to_sig(toks, *dec, return_state=True)
        end = time.perf_counter()
        if i >= warmup:
            out["encode"].append(mid - start)
            out["decode"].append(end - mid)
            out["total"].append(end - start)
    return out


def build(args) -> FocalCodec:
    if args.codec:
        return FocalCodec.from_pretrained(args.codec).eval()
    torch.manual_seed(0)
    return FocalCodec(**configs.get_config(args.config)).eval()


def summarize(name: str, offline: Dict[str, List[float]], stream: Dict[str, List[float]], seconds: float) -> Dict:
    enc, dec = statistics.median(offline["encode"]), statistics.median(offline["decode"])
    row = {
        "impl": name,
        "encode_s": round(enc, 4),
        "decode_s": round(dec, 4),
        "encode_rtf": round(enc / seconds, 4),
        "decode_rtf": round(dec / seconds, 4),
        "stream_ms_median": round(1000 * statistics.median(stream["total"]), 2),
        "stream_ms_p95": round(1000 * p95(stream["total"]), 2),
        "stream_ms_min": round(1000 * min(stream["total"]), 2),
        "stream_encode_ms_median": round(1000 * statistics.median(stream["encode"]), 2),
        "stream_decode_ms_median": round(1000 * statistics.median(stream["decode"]), 2),
    }
    print(f"{name:>9}: encode {enc:.3f} s, decode {dec:.3f} s for {seconds:g} s of audio; streaming "
          f"{row['stream_ms_median']:.1f} ms median / {row['stream_ms_p95']:.1f} ms p95 / {row['stream_ms_min']:.1f} ms min "
          "per 80 ms chunk "
          f"(encode {row['stream_encode_ms_median']:.1f} + decode {row['stream_decode_ms_median']:.1f} ms)")
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="causal-2k", help="named config (causal-2k, tiny, a published repo id)")
    parser.add_argument("--codec", default=None, help="load a codec (folder, config path or repo id) instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--upstream", action="store_true", help="also time the installed upstream package")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = build(args)
    if not model.causal:
        raise SystemExit("streaming needs a causal codec; pick a causal config")
    sig = test_signal(args.seconds)
    print(f"config {args.codec or args.config}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params, "
          f"{model.frame_rate:g} Hz, {model.bitrate:g} bps; {args.threads} threads, torch {torch.__version__}")

    impls = {"fcodec": (model, streaming_times_ours)}
    if args.upstream:
        import focalcodec  # the upstream package, if the user has it on the path

        upstream = focalcodec.FocalCodec(**copy.deepcopy(model.config)).eval()
        upstream.load_state_dict(model.state_dict(), strict=True)
        with torch.no_grad():
            same = torch.equal(upstream.sig_to_toks(sig), model.sig_to_toks(sig))
            wave = (upstream(sig)[2] - model(sig)[2]).abs().max().item()
        print(f"upstream {getattr(focalcodec, '__file__', '?')}: tokens identical: {same}, max waveform diff {wave:.2e}")
        impls["upstream"] = (upstream, streaming_times_upstream)

    offline = {name: {"encode": [], "decode": []} for name in impls}
    for _ in range(args.repeat):  # interleave implementations so that load changes hit both alike
        for name, (impl, _) in impls.items():
            times = offline_times(impl, sig, 1)
            offline[name]["encode"] += times["encode"]
            offline[name]["decode"] += times["decode"]
    stream = {name: fn(impl, sig, args.chunks, args.warmup) for name, (impl, fn) in impls.items()}
    rows = [summarize(name, offline[name], stream[name], args.seconds) for name in impls]
    if args.upstream:
        ours, theirs = rows
        ratios = {k: round(theirs[k] / ours[k], 2) for k in ("encode_s", "decode_s", "stream_ms_median")}
        print(f"speed-up vs upstream: encode {ratios['encode_s']}x, decode {ratios['decode_s']}x, "
              f"streaming {ratios['stream_ms_median']}x")
        rows.append({"impl": "speedup", **ratios})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
