"""Regenerate RESULTS.md and the bitrate plot from the score summaries of an experiment (stage 8).

    python -m fcodec.bin.report --exp-dir exp/<tag> --out RESULTS.md --plot exp/<tag>/results.png

Rows come from <exp-dir>/<model>/score/<judge>/<test_set>/summary.json (written by fcodec.bin.score): one table
per test set, language and ASR judge (the paper-comparable Whisper-small first), one row per model (pretrained, train_50hz, ...), and a table
of the judges side by side when there are two or more.

With --inputs-digest it writes nothing and prints a digest of the summaries it would read (--compare-with's
included): stage 8's up-to-date check, so that rescoring either run redoes the report.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from fcodec.utils.cli import command_line


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp-dir", type=Path, required=True, help="experiment folder holding <model>/score/")
    parser.add_argument("--out", type=Path, default=Path("RESULTS.md"), help="the markdown file to write")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG of error and quality against bitrate (default: results.png beside --out)",
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--judges",
        nargs="+",
        default=None,
        metavar="JUDGE",
        help="only the summaries of these judges (<model>/score/<judge>/; default: every judge found)",
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        default=None,
        metavar="EXP_DIR",
        help="another experiment folder (a --tag variant's main run): a table per test set puts both runs side by side",
    )
    parser.add_argument(
        "--inputs-digest",
        action="store_true",
        help="write nothing: print a digest of the content of every summary the report would read (stage 8's "
        "up-to-date check)",
    )
    return parser


@command_line("python -m fcodec.bin.report")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    from fcodec.metrics.report import write_results
    from fcodec.metrics.summaries import inputs_digest
    from fcodec.utils.logging import setup_logging

    setup_logging()
    if not args.exp_dir.is_dir():
        raise FileNotFoundError(f"--exp-dir {args.exp_dir} not found: give the recipe's exp/<tag> folder")
    plot = None if args.no_plot else (args.plot or args.out.with_name("results.png"))
    command = "python -m fcodec.bin.report " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    if args.compare_with is not None and not args.compare_with.is_dir():
        raise FileNotFoundError(f"--compare-with {args.compare_with} not found: give the main run's exp folder")
    if args.inputs_digest:
        print(inputs_digest(args.exp_dir, args.judges, args.compare_with))
        return 0
    scores = write_results(args.exp_dir, args.out, plot, command, judges=args.judges, compare_with=args.compare_with)
    if not scores:
        logging.warning(
            "no score summaries under %s/<model>/score/<judge>/<test_set>/: %s lists none", args.exp_dir, args.out
        )
    else:
        logging.info(
            "wrote %s (%d model/judge/test-set summaries)%s", args.out, len(scores), f" and {plot}" if plot else ""
        )


if __name__ == "__main__":
    sys.exit(main())
