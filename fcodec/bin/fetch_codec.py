"""Resolve a codec (Hugging Face repo id, local folder or config path) and write a local copy.

    python -m fcodec.bin.fetch_codec lucadellalib/focalcodec_50hz_2k_causal --out exp/models/focalcodec_50hz_2k_causal

The copy holds config.json + model.safetensors (loadable by fcodec and by upstream ``focalcodec``). Without a
connection to the Hub the command fails with a message saying how to place the files by hand.
"""

import argparse
import json
import sys

from fcodec.models import CheckpointError, FocalCodec
from fcodec.models.configs import DEFAULT_REPO
from fcodec.utils.cli import command_line


@command_line("python -m fcodec.bin.fetch_codec")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "src", nargs="?", default=DEFAULT_REPO, help=f"repo id, folder or config path (default {DEFAULT_REPO})"
    )
    parser.add_argument("--out", required=True, help="folder to write the local copy into")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    parser.add_argument("--cache-dir", default=None, help="Hugging Face cache folder")
    args = parser.parse_args(argv)
    hub_kwargs = {k: v for k, v in (("revision", args.revision), ("cache_dir", args.cache_dir)) if v is not None}
    try:
        model = FocalCodec.from_pretrained(args.src, **hub_kwargs)
    except CheckpointError as exc:
        print(f"fetch_codec: {exc}", file=sys.stderr)
        return 1
    model.save_pretrained(args.out)
    print(json.dumps({"src": args.src, "out": args.out, **model.info()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
