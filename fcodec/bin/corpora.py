"""Stages 0 and 1 for the corpora fcodec knows (fcodec.data.corpora): check the layout on disk, download, write
lhotse manifests. A recipe's local/data.sh (and utils/prepare_manifests.sh) call it:

    python -m fcodec.bin.corpora fetch   --dl-dir download [--given aishell] [--base-url URL] \
                                         aishell=download/aishell librispeech=download/LibriSpeech
    python -m fcodec.bin.corpora prepare --output-dir data/manifests --librispeech-parts "dev-clean test-clean" \
                                         [--nj 4] [--keep-existing true] aishell=download/aishell
    python -m fcodec.bin.corpora check   aishell=/data/aishell

``prepare`` writes ``<corpus>_{recordings,supervisions}_<part>.jsonl.gz`` and ``<corpus>_excluded_<part>.tsv``
(what was left out, and why).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Tuple

from fcodec.data.corpora import CORPORA, OPENSLR, LayoutError, check, fetch, prepare
from fcodec.utils.logging import setup_logging


def _corpus_spec(text: str) -> Tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or name not in CORPORA or not folder:
        raise argparse.ArgumentTypeError(f"expected aishell=FOLDER or librispeech=FOLDER, got {text!r}")
    return name, Path(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fcodec.bin.corpora", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["check", "fetch", "prepare"])
    parser.add_argument(
        "corpora",
        nargs="+",
        type=_corpus_spec,
        metavar="CORPUS=FOLDER",
        help="aishell=<folder holding data_aishell/> and/or librispeech=<folder holding the parts>",
    )
    parser.add_argument(
        "--librispeech-parts", default="train-clean-100 dev-clean test-clean", help="LibriSpeech parts, space separated"
    )
    parser.add_argument("--dl-dir", type=Path, default=Path("download"), help="fetch: where lhotse downloads to")
    parser.add_argument("--base-url", default=OPENSLR, help="fetch: OpenSLR's resources URL, or a mirror's")
    parser.add_argument(
        "--given",
        default="",
        help="fetch: corpora (space separated) whose folder the user named: checked, never downloaded into",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("data/manifests"), help="prepare: manifest folder")
    parser.add_argument("--nj", type=int, default=4, help="parallel header probes and lhotse jobs")
    parser.add_argument(
        "--keep-existing",
        default="false",
        choices=["true", "false"],
        help="prepare: leave the parts whose manifests exist alone",
    )
    args = parser.parse_args(argv)
    setup_logging()
    parts = args.librispeech_parts.split()
    # A layout error is several lines (what was expected where, and the option to fix it): logged whole, not
    # squeezed into one line as fcodec.utils.cli does.
    try:
        for corpus, folder in args.corpora:
            if args.command == "check":
                check(corpus, folder, parts)
                logging.info(f"{corpus}: {folder} looks right")
            elif args.command == "fetch":
                fetch(corpus, folder, args.dl_dir, parts, given=corpus in args.given.split(), base_url=args.base_url)
            else:
                prepare(corpus, folder, args.output_dir, parts, args.nj, args.keep_existing == "true")
    except LayoutError as exc:
        logging.error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
