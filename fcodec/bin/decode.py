"""Decode test cut sets with codec models (stage 7): tokens attached to the cuts, reconstructions as wavs.

    python -m fcodec.bin.decode --model exp/train_50hz/best \\
        --cuts data/cuts/test_aishell.jsonl.gz data/cuts/test_librispeech.jsonl.gz \\
        --out-dir exp/train_50hz/decode

writes exp/train_50hz/decode/test_aishell/ and exp/train_50hz/decode/test_librispeech/ (the decode directory that
fcodec.bin.score reads: recon_cuts.jsonl.gz, wav/, token_cuts.jsonl.gz, tokens/, failed.tsv, summary.json,
.done). Several models: --model A B --out-dir A_dir B_dir (one --out-dir per model).

Cuts are batched by duration (--max-duration seconds of padded audio per batch). A causal codec sees each cut
completed with zeros to whole 80 ms chunks, as a live stream closes its last chunk, so its batched result equals
decoding each cut alone; tokens are kept for every frame that overlaps the cut (ceil(samples / hop)), audio for
ceil(samples * sr_out / sr_in) samples. --streaming runs a causal codec chunk by chunk (80 ms), as live
streaming would; the tokens equal the offline ones. A rerun skips cuts already written and continues a killed
run; a finished directory is left alone (--overwrite starts afresh). Cuts that cannot be decoded are listed
with the reason in failed.tsv. Exits with status 1 when a model cannot be loaded or every cut of a set failed.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from fcodec.utils.cli import UserError, command_line

PROG = "python -m fcodec.bin.decode"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        help="exported model folder(s) (config.json + model.safetensors), config path(s) or Hugging Face repo id(s)",
    )
    parser.add_argument(
        "--cuts",
        nargs="+",
        type=Path,
        required=True,
        help="test CutSet(s); each is written to <out-dir>/<name>, name = the file name without .jsonl.gz",
    )
    parser.add_argument(
        "--out-dir",
        nargs="+",
        type=Path,
        required=True,
        help="one folder per --model (the recipe uses <exp_dir>/<model>/decode)",
    )
    parser.add_argument("--streaming", action="store_true", help="chunk-by-chunk decoding of a causal codec")
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8 CPU inference (FocalCodec.quantize; tools/benchmarks/int8_cost.sh measures what it costs)",
    )
    parser.add_argument(
        "--posthoc",
        default=None,
        metavar="PRESET",
        help="decode through a post-hoc bottleneck (fcodec.models.posthoc), e.g. 50hz_keep2_275bps, "
        "50hz_6bit_300bps: the recipe puts it in <exp_dir>/<model>+posthoc_<preset>/decode",
    )
    parser.add_argument(
        "--posthoc-calibration-cuts",
        type=Path,
        default=None,
        help="training cuts the bit choice of a bit-subset preset is calibrated on (saved as <out-dir>/posthoc.json)",
    )
    parser.add_argument(
        "--posthoc-calibration-max-cuts",
        type=int,
        default=200,
        help="cuts of --posthoc-calibration-cuts used at most, spread over the manifest (default: %(default)s)",
    )
    parser.add_argument(
        "--max-duration", type=float, default=100.0, help="seconds of padded audio per batch (default: %(default)s)"
    )
    parser.add_argument("--max-batch-size", type=int, default=64, help="cuts per batch at most (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument(
        "--num-threads",
        type=int,
        default=0,
        help="torch CPU threads; 0 = auto: 1 beside a GPU, half the cores on a CPU (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="delete what the output folders hold first")
    parser.add_argument(
        "--restart-on-change",
        action="store_true",
        help="an output folder holding another model's or other settings' decode is started afresh (default: an error)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--log-file", type=Path, default=None)
    return parser


def check_options(args) -> None:
    """Every option a run would fail on, before a model is loaded or a folder written."""
    import torch

    from fcodec.data.manifest_io import load_cuts

    if not args.max_duration > 0:
        raise UserError(f"--max-duration {args.max_duration}: give the seconds of audio per batch, a positive number")
    if args.max_batch_size < 1:
        raise UserError(f"--max-batch-size {args.max_batch_size}: give a positive number of cuts per batch")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu")
    if args.device.startswith("cuda:") and int(args.device.split(":", 1)[1] or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    check_posthoc_options(args)
    for out_dir in args.out_dir:
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"--out-dir {out_dir} is a file; give a folder (the recipe uses <exp_dir>/<model>/decode)")
    for path in args.cuts:
        if not path.is_file():
            raise FileNotFoundError(f"--cuts {path} not found (stage 2 writes data/cuts/<test_set>.jsonl.gz)")
        try:
            cuts = load_cuts(path)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"--cuts {path} cannot be read as a lhotse CutSet ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]})"
            ) from None
        if len(cuts) == 0:
            raise UserError(f"--cuts {path} holds no cuts: nothing to decode (see stage 2's bad_input.tsv)")


def check_posthoc_options(args) -> None:
    """A preset name that parses, and the calibration cuts a bit-subset preset needs (before any model loads)."""
    if args.posthoc is None:
        if args.posthoc_calibration_cuts is not None:
            raise UserError("--posthoc-calibration-cuts without --posthoc: give the preset it calibrates")
        return
    from fcodec.models.posthoc_presets import parse_preset

    preset = parse_preset(args.posthoc)  # a PosthocError (a UserError) names the grammar
    if args.posthoc_calibration_max_cuts < 1:
        raise UserError(f"--posthoc-calibration-max-cuts {args.posthoc_calibration_max_cuts}: give a positive number")
    if preset.bits is not None:
        if args.posthoc_calibration_cuts is None:
            raise UserError(
                f"--posthoc {args.posthoc} keeps {preset.bits} bits: give --posthoc-calibration-cuts (training cuts, "
                "e.g. data/cuts/train.jsonl.gz) to choose them on"
            )
        if not args.posthoc_calibration_cuts.is_file():
            raise UserError(f"--posthoc-calibration-cuts {args.posthoc_calibration_cuts} not found")


@command_line(PROG)
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    import torch

    from fcodec.infer.decode import DecodeOptions, decode_cuts
    from fcodec.infer.runtime import load_codec, resolve_num_threads
    from fcodec.layout.experiment import test_set_name
    from fcodec.models import CheckpointError
    from fcodec.utils.logging import setup_logging

    setup_logging(args.log_file)
    if len(args.out_dir) != len(args.model):
        print(
            f"decode: give one --out-dir per --model ({len(args.model)} models, {len(args.out_dir)} folders)",
            file=sys.stderr,
        )
        return 2
    names = [test_set_name(path) for path in args.cuts]
    if len(set(names)) != len(names):
        print(f"decode: the test sets' names must differ, got {names}", file=sys.stderr)
        return 2
    check_options(args)
    threads = resolve_num_threads(args.num_threads, args.device)
    torch.set_num_threads(threads)
    command = "python -m fcodec.bin.decode " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    options = DecodeOptions(
        max_duration=args.max_duration,
        max_batch_size=args.max_batch_size,
        streaming=args.streaming,
        progress=not args.no_progress,
    )
    status = 0
    for source, out_dir in zip(args.model, args.out_dir):
        try:
            model = load_codec(source, args.device)
            if args.quantize:
                model.quantize(args.quantize)
        except (CheckpointError, OSError, ValueError) as exc:
            print(f"decode: cannot load the codec {source}: {exc}", file=sys.stderr)
            return 1
        extra = {}
        if args.posthoc:
            model = posthoc_codec(model, source, out_dir, args)  # a PosthocError is one line (a UserError)
            extra["posthoc"] = model.describe()
        logging.info(
            "codec %s: %.1f Hz, %.1f bps, %s, %d -> %d Hz; %d torch threads on %s",
            source,
            model.frame_rate,
            model.bitrate,
            "causal" if model.causal else "non-causal",
            model.sample_rate_input,
            model.sample_rate_output,
            threads,
            args.device,
        )
        for cuts_path, name in zip(args.cuts, names):
            try:
                summary = decode_cuts(
                    model,
                    cuts_path,
                    out_dir / name,
                    source,
                    options,
                    overwrite=args.overwrite,
                    restart_on_change=args.restart_on_change,
                    extra_summary={
                        "command": command,
                        "device": args.device,
                        "num_threads": threads,
                        "cuts": str(cuts_path),
                        **extra,
                    },
                )
            except (RuntimeError, ValueError) as exc:
                print(f"decode: {exc}", file=sys.stderr)
                return 1
            if summary["num_cuts"] and summary["num_failed"] == summary["num_cuts"]:
                status = 1
    return status


def posthoc_codec(model, source: str, out_dir: Path, args):
    """``model`` behind ``--posthoc``, a bit choice calibrated (or read back) in ``out_dir``."""
    from fcodec.infer.posthoc import prepare_posthoc

    return prepare_posthoc(
        model, args.posthoc, out_dir, args.posthoc_calibration_cuts, args.posthoc_calibration_max_cuts, source
    )


if __name__ == "__main__":
    sys.exit(main())
