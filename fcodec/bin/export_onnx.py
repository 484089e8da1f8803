"""Export a codec model folder as ONNX graphs (offline encode/decode; streaming steps for causal models).

    python -m fcodec.bin.export_onnx --codec exp/train_50hz/best --out exp/onnx/50hz [--int8] [--force]

Writes encode.onnx, decode.onnx, stream_encode.onnx, stream_decode.onnx (causal models), with --int8 also
*.int8.onnx, and onnx_codec.json describing inputs, outputs, rates, chunk size, state layout and the source
model's hash; with --card, a README.md model card beside them (docs/export.md). Run them with
``fcodec.export.onnx_runtime.OnnxCodec`` or ``python -m fcodec.bin.stream --backend onnx --codec OUT``.
"""

import argparse
import json
import sys

from fcodec.utils.cli import command_line
from fcodec.utils.logging import setup_logging


@command_line("python -m fcodec.bin.export_onnx")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", required=True, help="model folder (config.json + model.safetensors)")
    parser.add_argument("--out", required=True, help="export folder to create (atomically)")
    parser.add_argument("--int8", action="store_true", help="also int8 graphs (onnxruntime dynamic quantisation)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    stream = parser.add_mutually_exclusive_group()
    stream.add_argument(
        "--streaming", dest="streaming", action="store_true", default=None, help="require streaming graphs"
    )
    stream.add_argument("--no-streaming", dest="streaming", action="store_false", help="offline graphs only")
    parser.add_argument("--card", action="store_true", help="also write a model card (README.md) beside the graphs")
    parser.add_argument("--results", default=None, help="RESULTS.md whose rows go into the model card")
    args = parser.parse_args(argv)
    setup_logging()
    from fcodec.export.onnx_export import export_codec

    meta = export_codec(
        args.codec,
        args.out,
        streaming=args.streaming,
        int8=args.int8,
        force=args.force,
        card=args.card,
        results=args.results,
    )
    graphs = {name: [g["file"]] + ([g["int8_file"]] if "int8_file" in g else []) for name, g in meta["graphs"].items()}
    print(json.dumps({"out": args.out, "graphs": graphs, **meta["model"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
