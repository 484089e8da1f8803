"""Codec speed: offline encode/decode of N seconds, and streaming compute per 80 ms chunk (CPU, or a GPU).

    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py                # full-size 50 Hz causal, random weights
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --config tiny --threads 1
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --codec exp/models/focalcodec_50hz_2k_causal
    PYTHONPATH=$PWD:/path/to/upstream python tools/benchmarks/bench_codec.py --upstream   # ratio vs upstream
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --int8 --plain   # + int8, + FCODEC_FAST_KERNELS=0
    PYTHONPATH=$PWD python tools/benchmarks/bench_codec.py --int8 --onnx    # + the ONNX graphs, fp32 and int8
    PYTHONPATH=$PWD:/path/to/upstream python tools/benchmarks/bench_codec.py --device cuda --batch 64 \
        --precision bf16-autocast --upstream                               # offline on a GPU, vs upstream

Offline: ``sig_to_toks`` on one signal of ``--seconds`` seconds, then ``toks_to_sig`` on its tokens (median of
``--repeat`` runs after a warm-up). Streaming: ``encode_step`` + ``decode_step`` on consecutive 80 ms chunks
(median, p95 and min over ``--chunks`` chunks after ``--warmup`` chunks); real time means at most 80 ms per chunk.
On a shared machine, other processes make multi-threaded timings noisy (OpenMP waits for descheduled threads
at every parallel op): compare implementations by the ratios of one run, and look at the min for the speed of
an unloaded machine.
With ``--upstream`` the installed upstream ``focalcodec`` package (if importable) gets the same weights and is
timed in the same run, interleaved with ours, and its outputs are compared with ours. ``--plain`` times our
model with the fast kernels off (``FCODEC_FAST_KERNELS=0``: PyTorch's own ops), ``--int8`` a copy quantised
with ``FocalCodec.quantize("int8")``; speed-ups are printed against the baseline (upstream, else plain).
``--onnx`` exports the model (``fcodec.export``, fp32 and int8 graphs, into a temporary folder; ``--onnx-dir``
reuses an export of the same model) and times it on onnxruntime with ``--threads`` intra-op threads: rows
``onnx`` and ``onnx-int8``, the streaming step being the ``stream_encode`` + ``stream_decode`` graphs.
The first lines name the CPU (model and vector extensions), the GPU and torch: figures only compare within one
run. ``--batch B`` encodes and decodes B signals at once offline (streaming stays one stream: for many streams see
``bench_streams.py``). ``--precision``: ``fp32``; ``bf16-autocast`` (float32 weights, matrix products in bfloat16
under ``torch.autocast``; the one to compare with ``--upstream``); ``bf16`` (our model cast to bfloat16, without
upstream). On CUDA the clock is read after ``torch.cuda.synchronize``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

from fcodec.infer.streaming import decode_step, encode_step
from fcodec.models import FocalCodec, configs
from fcodec.models.testing import speechlike
from fcodec.utils.environment import cpu_info

PRECISIONS = ("fp32", "bf16-autocast", "bf16")
_device = torch.device("cpu")  # where the timed work runs (set by main)
_autocast = False  # bfloat16 autocast around every timed call (set by main)


def _sync() -> None:
    if _device.type == "cuda":
        torch.cuda.synchronize(_device)


def _precision():
    return torch.autocast(_device.type, dtype=torch.bfloat16) if _autocast else contextlib.nullcontext()


def timed(fn: Callable[[], object]) -> float:
    _sync()
    start = time.perf_counter()
    with _precision():
        fn()
    _sync()
    return time.perf_counter() - start


def p95(values: List[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


@torch.no_grad()
def offline_times(model, sig: torch.Tensor) -> Dict[str, float]:
    """One timed encode and decode of ``sig`` (warm the model up first)."""
    with _precision():
        toks = model.sig_to_toks(sig)
    return {"encode": timed(lambda: model.sig_to_toks(sig)), "decode": timed(lambda: model.toks_to_sig(toks))}


# One streaming step of each implementation: (chunk or tokens, state) -> (output, state).
Step = Callable[[torch.Tensor, object], tuple]
OURS = (lambda m, chunk, state: encode_step(m, chunk, state), lambda m, toks, state: decode_step(m, toks, state))
UPSTREAM = (  # upstream's API: explicit state tuples with return_state=True
    lambda m, chunk, state: (lambda toks, *s: (toks, s))(
        *m.sig_to_toks(chunk, *(state or ((), ())), return_state=True)
    ),
    lambda m, toks, state: (lambda sig, *s: (sig, s))(*m.toks_to_sig(toks, *(state or ((), ())), return_state=True)),
)


@torch.no_grad()
def streaming_times(model, steps, sig: torch.Tensor, chunks: int, warmup: int) -> Dict[str, List[float]]:
    encode, decode = steps
    size = model.chunk_size
    enc_state = dec_state = None
    out = {"encode": [], "decode": [], "total": []}
    for i in range(warmup + chunks):
        chunk = sig[:1, (i * size) % (sig.shape[1] - size) :][:, :size]  # one stream
        _sync()
        start = time.perf_counter()
        with _precision():
            toks, enc_state = encode(model, chunk, enc_state)
            _sync()
            mid = time.perf_counter()
            _, dec_state = decode(model, toks, dec_state)
            _sync()
        end = time.perf_counter()
        if i >= warmup:
            out["encode"].append(mid - start)
            out["decode"].append(end - mid)
            out["total"].append(end - start)
    return out


class OnnxImpl:
    """An ONNX export timed like a model: ``sig_to_toks`` / ``toks_to_sig`` run the offline graphs."""

    def __init__(self, codec) -> None:
        self.codec = codec
        self.chunk_size = codec.chunk_size

    def sig_to_toks(self, sig: torch.Tensor):
        return self.codec.encode(sig)[0]

    def toks_to_sig(self, toks):
        return self.codec.decode(toks)


# an ONNX stream's state is its OnnxStreamingCodec (the graphs' state tensors inside)
ONNX = (
    lambda m, chunk, state: (lambda s: (s.encode_chunk(chunk.numpy()), s))(state or m.codec.stream()),
    lambda m, toks, state: (lambda s: (s.decode_chunk(toks), s))(state or m.codec.stream()),
)


def onnx_impls(args, model: FocalCodec) -> Dict[str, tuple]:
    """``onnx`` and ``onnx-int8`` rows: the model exported (or ``--onnx-dir``) and run by onnxruntime."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from fcodec.export.onnx_export import export_codec
    from fcodec.export.onnx_runtime import OnnxCodec

    folder = args.onnx_dir
    if folder is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # about 2.5 GB for the full-size model
        source = args.codec or model.save_pretrained(tmp / "model")
        started = time.perf_counter()
        export_codec(source, tmp / "onnx", int8=True)
        print(f"exported {source} to ONNX (fp32 + int8) in {time.perf_counter() - started:.0f} s: {tmp / 'onnx'}")
        folder = tmp / "onnx"
    return {
        "onnx": (OnnxImpl(OnnxCodec(folder, threads=args.threads)), ONNX, None),
        "onnx-int8": (OnnxImpl(OnnxCodec(folder, int8=True, threads=args.threads)), ONNX, None),
    }


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
    print(
        f"{name:>9}: encode {enc:.3f} s, decode {dec:.3f} s for {seconds:g} s of audio; streaming "
        f"{row['stream_ms_median']:.1f} ms median / {row['stream_ms_p95']:.1f} ms p95 / {row['stream_ms_min']:.1f} ms min "
        "per 80 ms chunk "
        f"(encode {row['stream_encode_ms_median']:.1f} + decode {row['stream_decode_ms_median']:.1f} ms)"
    )
    return row


@contextlib.contextmanager
def environment(overrides: Optional[Dict[str, str]]):
    """Set environment variables for the duration (the kernel choice reads FCODEC_FAST_KERNELS on every call)."""
    saved = {key: os.environ.get(key) for key in overrides or {}}
    os.environ.update(overrides or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="causal-2k", help="named config (causal-2k, tiny, a published repo id)")
    parser.add_argument("--codec", default=None, help="load a codec (folder, config path or repo id) instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1, help="signals encoded and decoded at once offline")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--upstream", action="store_true", help="also time the installed upstream package")
    parser.add_argument("--plain", action="store_true", help="also time our model with FCODEC_FAST_KERNELS=0")
    parser.add_argument("--int8", action="store_true", help="also time an int8-quantised copy of the model")
    parser.add_argument("--onnx", action="store_true", help="also time the ONNX export (fp32 and int8 graphs)")
    parser.add_argument("--onnx-dir", default=None, help="with --onnx: an existing export of this model")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args(argv)

    global _device, _autocast
    _device = torch.device(args.device)
    if _device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_codec: --device {args.device}: CUDA is not available here; use --device cpu")
    if args.int8 and _device.type != "cpu":
        sys.exit("bench_codec: --int8 runs on the CPU (PyTorch's quantised kernels); drop --device")
    if args.batch < 1:
        sys.exit(f"bench_codec: --batch {args.batch}: give at least 1")
    _autocast = args.precision == "bf16-autocast"
    torch.set_num_threads(args.threads)
    model = build(args)
    if not model.causal:
        raise SystemExit("streaming needs a causal codec; pick a causal config")
    if args.upstream and args.precision == "bf16":
        sys.exit("bench_codec: upstream runs bfloat16 under autocast: use --precision bf16-autocast with --upstream")
    if args.int8 and args.precision != "fp32":
        sys.exit("bench_codec: --int8 quantises a float32 model; drop --precision")
    model = model.to(_device, torch.bfloat16 if args.precision == "bf16" else torch.float32)
    sig = speechlike(args.batch, int(args.seconds * 16000)).to(_device, next(model.parameters()).dtype)
    cpu = cpu_info()
    gpu = f"; GPU: {torch.cuda.get_device_name(_device)} (CUDA {torch.version.cuda})" if _device.type == "cuda" else ""
    print(
        f"CPU: {cpu['model']} ({os.cpu_count()} cores visible; ISA: {cpu['isa']}); {args.threads} threads, "
        f"torch {torch.__version__}{gpu}"
    )
    print(
        f"config {args.codec or args.config}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params, "
        f"{model.frame_rate:g} Hz, {model.bitrate:g} bps; device {_device}, {args.precision}, offline batch "
        f"{args.batch} x {args.seconds:g} s"
    )

    # name -> (model, streaming steps, environment while it runs)
    impls = {"fcodec": (model, OURS, None)}
    if args.int8:
        impls["int8"] = (copy.deepcopy(model).quantize("int8"), OURS, None)
    if args.plain:
        impls["plain"] = (model, OURS, {"FCODEC_FAST_KERNELS": "0"})
    if args.onnx:
        if _device.type != "cpu" or args.precision != "fp32" or args.batch != 1:
            sys.exit("bench_codec: --onnx times onnxruntime on the CPU in fp32 with --batch 1")
        impls.update(onnx_impls(args, model))
    if args.upstream:
        try:
            import focalcodec  # the upstream package, if the user has it on the path
        except ImportError:
            sys.exit(
                "bench_codec: --upstream needs the upstream focalcodec package (v0.0.2; not on PyPI): put a "
                "clone's folder on PYTHONPATH, or compare with our plain kernels (--plain)"
            )

        upstream = focalcodec.FocalCodec(**copy.deepcopy(model.config)).eval()
        upstream.load_state_dict(model.state_dict(), strict=True)
        upstream = upstream.to(_device)
        with torch.no_grad(), _precision():
            # latents in float, then tokens (a latent within rounding of 0 may flip its sign bit), then the
            # waveform decoded from the same tokens
            lats = model.feats_to_lats(model.sig_to_feats(sig))
            lat_diff = (upstream.feats_to_lats(upstream.sig_to_feats(sig)) - lats).abs().max().item()
            toks = upstream.sig_to_toks(sig)
            agree = (toks == model.sig_to_toks(sig)).float().mean().item()
            wave = (upstream.toks_to_sig(toks) - model.toks_to_sig(toks)).abs().max().item()
        print(
            f"upstream {getattr(focalcodec, '__file__', '?')}: max latent diff {lat_diff:.2e}, tokens identical "
            f"{100 * agree:.1f}% (smallest |latent| {lats.abs().min().item():.1e}), max waveform diff from the "
            f"same tokens {wave:.2e}"
        )
        impls["upstream"] = (upstream, UPSTREAM, None)

    offline = {name: {"encode": [], "decode": []} for name in impls}
    for name, (impl, _, env) in impls.items():  # warm-up (and the kernel measurements of a first run)
        with environment(env):
            offline_times(impl, sig)
            streaming_times(impl, impls[name][1], sig, 2, 0)
    for _ in range(args.repeat):  # interleave implementations so that load changes hit all alike
        for name, (impl, _, env) in impls.items():
            with environment(env):
                for key, seconds in offline_times(impl, sig).items():
                    offline[name][key].append(seconds)
    stream = {}
    for name, (impl, steps, env) in impls.items():
        with environment(env):
            stream[name] = streaming_times(impl, steps, sig, args.chunks, args.warmup)
    rows = {name: summarize(name, offline[name], stream[name], args.seconds * args.batch) for name in impls}
    baseline = "upstream" if args.upstream else "plain" if args.plain else None
    if baseline:
        for name in impls:
            if name == baseline:
                continue
            ratios = {
                k: round(rows[baseline][k] / rows[name][k], 2)
                for k in ("encode_s", "decode_s", "stream_ms_median", "stream_ms_p95")
            }
            print(
                f"{name} vs {baseline}: encode {ratios['encode_s']}x, decode {ratios['decode_s']}x, "
                f"streaming {ratios['stream_ms_median']}x (p95 {ratios['stream_ms_p95']}x) faster"
            )
            rows[f"{name}_vs_{baseline}"] = {"impl": f"speedup {name} vs {baseline}", **ratios}
    rows = [
        {
            "cpu": cpu["model"],
            "isa": cpu["isa"],
            "threads": args.threads,
            "torch": torch.__version__,
            "device": str(_device),
            "gpu": torch.cuda.get_device_name(_device) if _device.type == "cuda" else "",
            "precision": args.precision,
            "batch": args.batch,
        },
        *rows.values(),
    ]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
