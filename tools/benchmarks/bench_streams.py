"""Concurrent real-time streams: the per-chunk step of ``MultiStreamCodec`` (encode + decode) for N streams.

    PYTHONPATH=$PWD python tools/benchmarks/bench_streams.py --config tiny --threads 1
    PYTHONPATH=$PWD python tools/benchmarks/bench_streams.py --streams 1,4,8 --threads 2 --sequential
    PYTHONPATH=$PWD python tools/benchmarks/bench_streams.py --device cuda --cuda-graphs   # 1 .. 1024 streams

For each N, N streams are opened and every step brings one 80 ms chunk of each (the streams read one signal at
different offsets); the step's wall-clock time is taken over ``--steps`` steps after ``--warmup`` (synchronising
CUDA before reading the clock). The streams are real time while a step takes at most one chunk (80 ms): the
last line names the most streams whose p95 step stayed within it, and the one-stream step is the compute
latency a single stream adds to the 80 ms algorithmic latency. ``--sequential`` also times the same N streams
one at a time through ``encode_step`` / ``decode_step`` (what a server without batching does) for the ratio,
from a state past the attention window (its key/value cache full, as the batched step's always is); the two
take turns at every step, so that load changes on a shared machine hit both alike.
The shapes of a step do not depend on the streams' positions (fixed-size attention cache), so the figures hold
for streams of any age. The first lines name the CPU / GPU and torch: figures only compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

from fcodec.infer.multistream import MultiStreamCodec
from fcodec.infer.streaming import decode_step, encode_step
from fcodec.models import FocalCodec, configs
from fcodec.models.testing import speechlike
from fcodec.utils.environment import cpu_info

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_STREAMS = {"cpu": "1,4,16,64", "cuda": "1,4,16,64,128,256,512,1024"}


def p95(values: List[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def timed_steps(
    steps: Dict[str, Callable[[int], object]], count: int, warmup: int, device: torch.device
) -> Dict[str, List[float]]:
    """Seconds of each ``steps[name](i)`` for i in warmup .. warmup + count, after ``warmup`` untimed ones;
    the implementations take turns at every step, so that load changes on a shared machine hit all alike."""
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for i in range(warmup + count):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            step(i)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def chunk_of(sig: torch.Tensor, stream: int, step: int, size: int) -> torch.Tensor:
    """Chunk ``step`` of stream ``stream``: the signal read from an offset of its own, wrapping around."""
    start = (stream * 7 * size + step * size) % (sig.shape[0] - size)
    return sig[start : start + size]


def batched_step(model: FocalCodec, sig: torch.Tensor, num: int, args) -> Callable[[int], object]:
    """One ``MultiStreamCodec`` step of ``num`` open streams."""
    codec = MultiStreamCodec(model, max_streams=num, cuda_graphs=args.cuda_graphs)
    ids = [codec.open() for _ in range(num)]
    size = model.chunk_size
    return lambda i: codec.step({sid: chunk_of(sig, k, i, size) for k, sid in enumerate(ids)})


@torch.no_grad()
def sequential_step(model: FocalCodec, sig: torch.Tensor, num: int) -> Callable[[int], object]:
    """``num`` streams one at a time through encode_step / decode_step."""
    size = model.chunk_size
    # streams past the attention window, as the batched step's fixed-size cache costs: 11 s in one call each
    history = sig[: size * 138][None]
    toks, enc = encode_step(model, history)
    _, dec = decode_step(model, toks)
    states = [(enc, dec)] * num  # states are never modified in place, so the streams may start from one

    @torch.no_grad()
    def step(i: int) -> None:
        for k in range(num):
            toks, enc = encode_step(model, chunk_of(sig, k, i, size), states[k][0])
            _, dec = decode_step(model, toks, states[k][1])
            states[k] = (enc, dec)

    return step


def summary(times: List[float]) -> Dict[str, float]:
    return {
        "ms_median": round(1000 * statistics.median(times), 2),
        "ms_p95": round(1000 * p95(times), 2),
        "ms_min": round(1000 * min(times), 2),
    }


def describe_device(device: torch.device, threads: int) -> Dict[str, str]:
    cpu = cpu_info()
    info = {"cpu": cpu["model"], "isa": cpu["isa"], "threads": str(threads), "torch": torch.__version__}
    line = (
        f"CPU: {cpu['model']} ({os.cpu_count()} cores visible; ISA: {cpu['isa']}); {threads} threads, "
        f"torch {torch.__version__}"
    )
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        line += f"; GPU: {info['gpu']} (CUDA {torch.version.cuda})"
    print(line)
    return info


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="causal-2k", help="named config: causal-2k (full size), tiny, ...")
    parser.add_argument("--codec", default=None, help="load a codec (folder, config path or repo id) instead")
    parser.add_argument("--streams", default=None, help="comma-separated stream counts (default by device)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--cuda-graphs", action="store_true", help="capture the step as CUDA graphs (CUDA only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per stream count")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sequential", action="store_true", help="also time the streams one at a time")
    parser.add_argument("--sequential-max", type=int, default=64, help="... up to this many streams")
    parser.add_argument("--int8", action="store_true", help="quantise the codec to int8 first (CPU only)")
    parser.add_argument(
        "--dtype", default="float32", choices=sorted(DTYPES), help="the codec's weights and states (bfloat16 for GPUs)"
    )
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_streams: --device {args.device}: CUDA is not available here; use --device cpu")
    if args.cuda_graphs and device.type != "cuda":
        sys.exit("bench_streams: --cuda-graphs needs --device cuda")
    try:
        counts = [int(n) for n in (args.streams or DEFAULT_STREAMS.get(device.type, "1,4")).split(",")]
    except ValueError:
        sys.exit(f"bench_streams: --streams {args.streams!r}: give stream counts separated by commas, e.g. 1,4,16")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FocalCodec.from_pretrained(args.codec) if args.codec else FocalCodec(**configs.get_config(args.config))
    if args.int8 and args.dtype != "float32":
        sys.exit("bench_streams: --int8 quantises a float32 codec; drop --dtype")
    model = model.eval().to(device, DTYPES[args.dtype])
    if not model.causal:
        sys.exit("bench_streams: streaming needs a causal codec; pick a causal config")
    params = sum(p.numel() for p in model.parameters())
    if args.int8:
        if device.type != "cpu":
            sys.exit("bench_streams: --int8 runs on the CPU (PyTorch's quantised kernels); drop --device")
        model.quantize("int8")
    chunk_ms = 1000.0 * model.chunk_size / model.sample_rate_input
    info = describe_device(device, args.threads)
    print(
        f"config {args.codec or args.config}: {params / 1e6:.1f} M params, "
        f"{model.frame_rate:g} Hz, {chunk_ms:.0f} ms chunks, {'int8' if args.int8 else args.dtype}; device {device}, "
        "CUDA graphs "
        f"{'on' if args.cuda_graphs else 'off'}"
    )
    sig = speechlike(1, 16000 * 20)[0].to(device, DTYPES[args.dtype])
    rows = []
    for num in counts:
        try:
            steps = {"batched": batched_step(model, sig, num, args)}
            if args.sequential and num <= args.sequential_max:
                steps["sequential"] = sequential_step(model, sig, num)
            times = timed_steps(steps, args.steps, args.warmup, device)
        except torch.cuda.OutOfMemoryError:
            print(f"{num:5d} streams: out of GPU memory; stopping", flush=True)
            break
        finally:
            steps = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
        row = {"streams": num, **summary(times["batched"])}
        row["ms_per_stream"] = round(row["ms_median"] / num, 3)
        row["real_time"] = row["ms_p95"] <= chunk_ms
        line = (
            f"{num:5d} streams: step {row['ms_median']:8.2f} ms median / {row['ms_p95']:8.2f} p95 / "
            f"{row['ms_min']:8.2f} min ({row['ms_per_stream']:.2f} ms per stream); "
            f"{'real time' if row['real_time'] else 'NOT real time'} (<= {chunk_ms:.0f} ms)"
        )
        if "sequential" in times:
            seq = summary(times["sequential"])
            row["sequential"] = seq
            row["speedup"] = round(seq["ms_median"] / row["ms_median"], 2)
            line += f"; one at a time {seq['ms_median']:.2f} ms median: batching speed-up {row['speedup']}x"
        if device.type == "cuda":
            row["max_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
            line += f"; peak GPU memory {row['max_memory_mib']} MiB"
        print(line, flush=True)
        rows.append(row)
    real_time = [row["streams"] for row in rows if row["real_time"]]
    single = next((row for row in rows if row["streams"] == 1), None)
    print(
        f"most concurrent real-time streams measured: {max(real_time) if real_time else 0} "
        f"(p95 step <= {chunk_ms:.0f} ms)"
        + (
            f"; one stream: {single['ms_median']:.1f} ms compute per chunk, latency {chunk_ms:.0f} + "
            f"{single['ms_median']:.1f} ms"
            if single
            else ""
        )
    )
    if args.json:
        with open(args.json, "w") as f:
            head = {**info, "config": args.codec or args.config, "device": str(device), "dtype": args.dtype}
            json.dump([head, *rows], f, indent=2)


if __name__ == "__main__":
    main()
