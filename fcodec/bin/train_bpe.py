"""Stage 3: train the sentencepiece BPE model over the bilingual training text.

    python -m fcodec.bin.train_bpe --cuts data/cuts/train.jsonl.gz --lang-dir data/lang_bpe_500 --vocab-size 500

Writes <lang-dir>/{train_text.txt, bpe.model, bpe.vocab}; id 0 is <blk> (CTC blank), 1 <sos/eos>, 2 <unk>.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fcodec.data.bpe import load_bpe, train_bpe
from fcodec.data.manifest_io import require_file
from fcodec.utils.cli import command_line
from fcodec.utils.logging import setup_logging


@command_line("python -m fcodec.bin.train_bpe")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cuts", type=Path, required=True, help="training cuts (their supervision texts)")
    parser.add_argument("--lang-dir", type=Path, required=True)
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--model-type", choices=["bpe", "unigram"], default="bpe")
    parser.add_argument(
        "--character-coverage",
        type=float,
        default=1.0,
        help="share of character occurrences that get their own piece (rarer ones: bytes)",
    )
    parser.add_argument("--byte-fallback", choices=["true", "false"], default="true")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)
    setup_logging(args.log_file)

    from lhotse import load_manifest_lazy

    try:
        cuts = load_manifest_lazy(require_file(args.cuts, "training cuts", "written by stage 2"))
        texts = (s.text for cut in cuts for s in cut.supervisions if s.text)
        model = train_bpe(
            texts,
            args.lang_dir,
            args.vocab_size,
            args.model_type,
            args.character_coverage,
            args.byte_fallback == "true",
            args.nj,
        )
    except (FileNotFoundError, ValueError) as exc:
        logging.error(str(exc))
        return 1
    sp = load_bpe(model)
    lines = (args.lang_dir / "train_text.txt").read_text(encoding="utf-8").splitlines()
    logging.info(f"{model}: {sp.get_piece_size()} pieces from {len(lines)} lines")
    for line in lines[:2]:
        logging.info(f"  {line} -> {' '.join(sp.encode(line, out_type=str))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
