"""Put a Whisper checkpoint at ``<out-dir>/<name>.pt`` (the recipe's stage 3 model asset for the ASR loss).

    python -m fcodec.bin.fetch_whisper small --out-dir data/models/whisper        # -> data/models/whisper/small.pt
    python -m fcodec.bin.fetch_whisper tiny-random --out-dir data/models/whisper  # the mini recipe's random one

A published name is downloaded by openai-whisper (checksum verified) unless the file is already there; on a
machine without access, copy ``<name>.pt`` into the folder by hand. ``tiny-random`` writes a tiny random-weight
multilingual Whisper in the same format (``fcodec.utils.whisper.make_tiny_whisper``). The path is printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

TINY_RANDOM = "tiny-random"


def fetch_whisper(name: str, out_dir: Path, seed: int = 0) -> Path:
    from fcodec.utils.whisper import load_whisper, make_tiny_whisper

    out_dir = Path(out_dir)
    path = out_dir / f"{name}.pt"
    if name == TINY_RANDOM:
        return make_tiny_whisper(path, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_whisper(name, download_root=str(out_dir))  # downloads into out_dir/<name>.pt when missing, and loads it
    if not path.is_file():
        raise FileNotFoundError(f"openai-whisper did not leave {path} (is {name!r} a published model name?)")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fcodec.bin.fetch_whisper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"a published Whisper name (small, large-v3, ...) or {TINY_RANDOM}")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0, help=f"seed of the {TINY_RANDOM} weights")
    args = parser.parse_args(argv)
    try:
        print(fetch_whisper(args.name, args.out_dir, args.seed))
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"fetch_whisper: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
