"""Write a tiny random-weight Whisper checkpoint (openai-whisper format) for tests and the mini recipe.

python -m fcodec.bin.make_tiny_whisper --out exp/models/whisper-tiny-random.pt
"""

import argparse
import sys

from fcodec.utils.cli import command_line
from fcodec.utils.whisper import make_tiny_whisper


@command_line("python -m fcodec.bin.make_tiny_whisper")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(make_tiny_whisper(args.out, seed=args.seed))


if __name__ == "__main__":
    sys.exit(main())
