"""Put a Whisper checkpoint at ``<out-dir>/<name>.pt`` (stage 3: the ASR loss's Whisper; stage 8: the judges).

    python -m fcodec.bin.fetch_whisper small --out-dir data/models/whisper        # -> data/models/whisper/small.pt
    python -m fcodec.bin.fetch_whisper tiny-random --out-dir data/models/whisper  # the mini recipe's random one
    python -m fcodec.bin.fetch_whisper tiny-random-seed1 --out-dir data/models/whisper  # another random one

A published name is downloaded by openai-whisper into a temporary folder inside --out-dir, its sha256 checked
against the published one, and only then renamed to ``<name>.pt``: a killed or failed download never leaves a
``<name>.pt`` that looks fetched. A ``<name>.pt`` already there is kept when its sha256 is the published one (and
fetched again otherwise). On a machine without access, copy ``<name>.pt`` into the folder by hand.
``tiny-random`` writes a tiny random-weight multilingual Whisper in the same format
(``fcodec.utils.whisper.make_tiny_whisper``; ``--seed`` picks its weights), ``tiny-random-seed<N>`` the one of
seed N under that name (two random judges need two names); they are cheap and byte-reproducible, so they are
simply written again. The path is printed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fcodec.utils.cli import command_line

TINY_RANDOM = "tiny-random"
TINY_RANDOM_SEEDED = re.compile(r"tiny-random-seed(\d+)")


def fetch_whisper(name: str, out_dir: Path) -> Path:
    """``<out_dir>/<name>.pt``: a published Whisper (downloaded, checked, atomically), or a random tiny one whose
    seed is in its name (``tiny-random`` = seed 0, ``tiny-random-seed<N>``), so a file name always says which
    weights it holds."""
    from fcodec.utils.whisper import download_whisper, make_tiny_whisper

    out_dir = Path(out_dir)
    seeded = TINY_RANDOM_SEEDED.fullmatch(name)
    if name == TINY_RANDOM or seeded:
        return make_tiny_whisper(out_dir / f"{name}.pt", seed=int(seeded.group(1)) if seeded else 0)
    return download_whisper(name, out_dir, filename=f"{name}.pt")


@command_line("python -m fcodec.bin.fetch_whisper")
def main(argv=None) -> int:
    from fcodec.utils.logging import setup_logging

    parser = argparse.ArgumentParser(
        prog="python -m fcodec.bin.fetch_whisper",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "name", help=f"a published Whisper name (small, large-v3, ...), {TINY_RANDOM} or {TINY_RANDOM}-seed<N>"
    )
    parser.add_argument("--out-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        print(fetch_whisper(args.name, args.out_dir))
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"fetch_whisper: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
