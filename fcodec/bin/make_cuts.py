"""Stage 2: lhotse manifests -> checked, normalised, language-tagged train / dev / test cuts.

    python -m fcodec.bin.make_cuts --config conf/data.yaml --manifest-dir data/manifests --out-dir data/cuts \
        --hours zh=100 en=100 --dev-utts 200 --num-test-utts 2000 --min-duration 0.5 --max-duration 20 --nj 4

See fcodec/data/cuts.py for what is written; bad_input.tsv lists every utterance left out and why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fcodec.data.cuts import CutsBuilder, CutsOptions, parse_hours
from fcodec.data.data_config import load_data_config
from fcodec.utils.cli import command_line
from fcodec.utils.logging import setup_logging


def _count(text: str):
    return None if text.lower() == "all" else int(text)


def _seconds(text: str):
    return None if text.lower() in ("none", "inf", "all") else float(text)


def _lufs(text: str):
    """'config' (take the data config's key), 'none' (off) or a target in LUFS."""
    if text.lower() in ("config", "none"):
        return text.lower()
    value = float(text)
    if not -70 <= value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: a loudness target is in LUFS between -70 and 0, e.g. -20")
    return value


@command_line("python -m fcodec.bin.make_cuts")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="data config (which manifests make which split)")
    parser.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    parser.add_argument("--out-dir", type=Path, default=Path("data/cuts"))
    parser.add_argument(
        "--hours",
        nargs="*",
        default=[],
        metavar="LANG=HOURS",
        help="training hours per language (a number or 'all'; default all)",
    )
    parser.add_argument("--dev-utts", type=_count, default=200, help="dev utterances per language, or 'all'")
    parser.add_argument("--num-test-utts", type=_count, default=2000, help="utterances per test set, or 'all'")
    # utterance lengths (the batch sizes elsewhere, --max-duration of training and decoding, are seconds per batch);
    # the names before that distinction are still read
    parser.add_argument(
        "--min-utt-duration",
        "--min-duration",
        dest="min_utt_duration",
        type=float,
        default=0.5,
        help="shorter utterances are bad input (seconds)",
    )
    parser.add_argument(
        "--max-utt-duration",
        "--max-duration",
        dest="max_utt_duration",
        type=_seconds,
        default=20.0,
        help="longer utterances are left out of train and dev (seconds, or 'none')",
    )
    parser.add_argument(
        "--audio-check",
        choices=["full", "header"],
        default="full",
        help="full: decode every sample (finds NaN/inf and damaged files); header: open only",
    )
    parser.add_argument(
        "--loudness",
        type=_lufs,
        default="config",
        metavar="LUFS",
        help="normalise every split to this integrated loudness (ITU-R BS.1770, e.g. -20), or "
        "'none'; default: the data config's loudness key (absent: off)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nj", type=int, default=4, help="parallel audio readers")
    parser.add_argument(
        "--keep-existing",
        choices=["true", "false"],
        default="false",
        help="true: only rebuild the outputs that are missing",
    )
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)

    try:
        config = load_data_config(args.config)
        options = CutsOptions(
            hours=parse_hours(args.hours, config.languages),
            dev_utts=args.dev_utts,
            num_test_utts=args.num_test_utts,
            min_utt_duration=args.min_utt_duration,
            max_utt_duration=args.max_utt_duration,
            full_audio_check=args.audio_check == "full",
            seed=args.seed,
            num_workers=args.nj,
            keep_existing=args.keep_existing == "true",
            loudness={"config": config.loudness, "none": None}.get(args.loudness, args.loudness),
        )
        builder = CutsBuilder(config, args.manifest_dir, args.out_dir, options)
        builder.run()
    except (FileNotFoundError, ValueError) as exc:
        logging.error(str(exc))
        return 1
    logging.info(f"rebuilt: {', '.join(builder.rebuilt) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
