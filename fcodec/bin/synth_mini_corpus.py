"""Synthesise the mini bilingual corpus with eSpeak NG, in the real AISHELL-1 and LibriSpeech layouts.

    python -m fcodec.bin.synth_mini_corpus --out-dir download [--seed 0] [--nj 2]

Writes <out-dir>/aishell/data_aishell/..., <out-dir>/LibriSpeech/{train-clean-100,dev-clean,test-clean}/... and
<out-dir>/mini_corpus_broken.tsv (the utterances broken on purpose, and the reason stage 1 or 2 must give).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from fcodec.data.synth.mini_corpus import MiniCorpusSpec, build_mini_corpus
from fcodec.utils.cli import command_line
from fcodec.utils.logging import setup_logging


@command_line("python -m fcodec.bin.synth_mini_corpus")
def main(argv=None) -> int:
    defaults = MiniCorpusSpec()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--train-speakers", type=int, default=defaults.train_speakers, help="per language")
    parser.add_argument(
        "--eval-speakers", type=int, default=defaults.eval_speakers, help="per language, in dev and in test each"
    )
    parser.add_argument("--train-utts", type=int, default=defaults.train_utts_per_speaker, help="per speaker")
    parser.add_argument("--eval-utts", type=int, default=defaults.eval_utts_per_speaker, help="per speaker")
    parser.add_argument("--nj", type=int, default=1, help="parallel synthesis processes")
    args = parser.parse_args(argv)
    setup_logging()
    spec = MiniCorpusSpec(
        seed=args.seed,
        train_speakers=args.train_speakers,
        eval_speakers=args.eval_speakers,
        train_utts_per_speaker=args.train_utts,
        eval_utts_per_speaker=args.eval_utts,
    )
    try:
        spec.validate()
    except ValueError as exc:
        logging.error(str(exc))
        return 1
    start = time.time()
    summary = build_mini_corpus(args.out_dir, spec, num_workers=args.nj)
    logging.info(f"mini corpus in {args.out_dir} ({time.time() - start:.1f} s): {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
