"""Stream a wav file through a causal codec chunk by chunk (80 ms) and write the reconstruction.

    python -m fcodec.bin.stream --codec exp/models/tiny_codec in.wav out.wav [--tokens toks.npy]
    python -m fcodec.bin.stream --backend onnx --codec exp/onnx/50hz in.wav out.wav [--quantize int8]

Input of any rate/channels is mixed to mono and resampled to 16 kHz; the output is written at the codec's
output rate (24 kHz for FocalCodec-Stream). Prints a JSON summary with per-chunk compute time.
"""

import argparse
import json
import sys

import torch

from fcodec.infer.stream_run import stream_file
from fcodec.models import CheckpointError, FocalCodec
from fcodec.models.configs import DEFAULT_REPO
from fcodec.utils.cli import command_line
from fcodec.utils.logging import setup_logging


@command_line("python -m fcodec.bin.stream")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="wav (or any soundfile-readable) file")
    parser.add_argument("output", help="reconstruction to write (.wav)")
    parser.add_argument("--codec", default=DEFAULT_REPO, help="codec folder, config path or repo id")
    parser.add_argument("--tokens", default=None, help="also write the tokens as a .npy file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8 CPU inference: about 4x fewer weight bytes read per chunk (FocalCodec.quantize)",
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="onnx: --codec is a folder of fcodec.bin.export_onnx, run by onnxruntime (--quantize int8: its int8 graphs)",
    )
    args = parser.parse_args(argv)
    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.backend == "onnx":
            from fcodec.export.onnx_runtime import OnnxCodec

            model = OnnxCodec(args.codec, int8=args.quantize == "int8", threads=args.threads)
        else:
            model = FocalCodec.from_pretrained(args.codec).eval()
            if args.quantize:
                model.quantize(args.quantize)
        summary = stream_file(model, args.input, args.output, args.tokens)
        summary["quantization"] = args.quantize
        summary["backend"] = args.backend
    except (CheckpointError, ValueError) as exc:
        print(f"stream: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
