"""Check the recipe options that need Python, before any stage runs (egs/TEMPLATE/codec1/codec.sh calls it once).

    python -m fcodec.bin.recipe_options --asr-judges "small large-v3" --whisper-dir data/models/whisper \\
        [--data-config conf/data.yaml --hours "zh=100 en=100"] [--mos-judges "nisqa dnsmos" --nisqa-weights fetch]
        [--posthoc-presets "50hz_keep2_275bps 50hz_3bit_150bps"]

prints three lines: the data config's test sets (empty without --data-config), the judges' names (their score
folders, fcodec.layout.experiment.judge_label) and the judges' files (a published name: <whisper-dir>/<name>.pt,
which stage 3 fetches; a .pt file: itself). A bad value is one line on stderr naming the option, and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional


def check(args: argparse.Namespace) -> List[str]:
    from fcodec.layout.experiment import judge_label

    test_sets = ""
    if args.data_config is not None:
        from fcodec.data.cuts import parse_hours
        from fcodec.data.data_config import load_data_config

        if not Path(args.data_config).is_file():
            raise ValueError(f"data config {args.data_config} not found (see --data-config)")
        config = load_data_config(args.data_config)
        try:
            parse_hours(args.hours.split(), config.languages)
        except ValueError as exc:
            raise ValueError(f"--hours {args.hours!r}: {exc}") from None
        test_sets = " ".join(config.test_names)
    specs = args.asr_judges.split()
    if not specs:
        raise ValueError(f"--asr-judges must name at least one judge, got {args.asr_judges!r}")
    labels, files = [], []
    for spec in specs:
        is_file = "/" in spec or spec.endswith(".pt")
        if judge_label(spec) in labels:
            other = specs[labels.index(judge_label(spec))]
            raise ValueError(
                f"--asr-judges: '{other}' and '{spec}' would both score into score/{judge_label(spec)}/ "
                "(a judge is named after its published name or its file name without .pt)"
            )
        if is_file and not Path(spec).is_file():
            raise ValueError(
                f"--asr-judges: {spec} is not a file (a judge is a published Whisper name, or a .pt "
                "checkpoint in openai-whisper's format)"
            )
        labels.append(judge_label(spec))
        files.append(spec if is_file else str(Path(args.whisper_dir) / f"{spec}.pt"))
    from fcodec.metrics.mos import MOS_JUDGES

    unknown = [name for name in args.mos_judges.split() if name not in MOS_JUDGES]
    if unknown:
        raise ValueError(f"--mos-judges: unknown MOS judge(s) {' '.join(unknown)} (choose from {' '.join(MOS_JUDGES)})")
    if args.nisqa_weights not in ("fetch", "offline") and not Path(args.nisqa_weights).is_file():
        raise ValueError(f"--nisqa-weights: {args.nisqa_weights} is not a file (fetch, offline, or a local nisqa.tar)")
    from fcodec.models.posthoc_presets import parse_preset

    for name in args.posthoc_presets.split():
        try:
            parse_preset(name)
        except ValueError as exc:
            raise ValueError(f"--posthoc-presets: {exc}") from None
    return [test_sets, " ".join(labels), " ".join(files)]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fcodec.bin.recipe_options",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-config", default=None, help="the recipe's conf/data.yaml")
    parser.add_argument("--hours", default="", help="LANG=HOURS words, LANG among the data config's languages")
    parser.add_argument("--asr-judges", required=True, help="published Whisper names or .pt files, space-separated")
    parser.add_argument("--whisper-dir", required=True, help="where stage 3 fetches published Whispers")
    parser.add_argument("--mos-judges", default="", help="MOS judges of stage 8, space-separated")
    parser.add_argument("--nisqa-weights", default="fetch", help="fetch, offline, or a local nisqa.tar")
    parser.add_argument(
        "--posthoc-presets", default="", help="post-hoc bottleneck presets of stages 7-8, space-separated"
    )
    try:
        print("\n".join(check(parser.parse_args(argv))))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
