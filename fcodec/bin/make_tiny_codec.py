"""Write a random-weight tiny causal FocalCodec in the published format (config.json + model.safetensors).

It has the real rates of ``lucadellalib/focalcodec_50hz_2k_causal`` (16 kHz in, 50 Hz tokens from a 2048-entry
codebook = 550 bps, 80 ms chunks, WaveNeXt 24 kHz out) with tiny widths, so tests and the mini recipe run the
real loading, training and streaming code on a CPU in seconds.

    python -m fcodec.bin.make_tiny_codec --out exp/models/tiny_codec
"""

import argparse
import json
import sys

import torch

from fcodec.models import FocalCodec, configs
from fcodec.utils.cli import command_line


def make_tiny_codec(out, seed: int = 0, codebook_size: int = 2048, width: int = 32) -> FocalCodec:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FocalCodec(**configs.tiny_causal_config(codebook_size=codebook_size, width=width))
    model.save_pretrained(out)
    return model


@command_line("python -m fcodec.bin.make_tiny_codec")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write config.json and model.safetensors into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--codebook-size", type=int, default=2048, help="BSQ codebook size (a power of two)")
    parser.add_argument("--width", type=int, default=32, help="base channel width of the tiny model")
    args = parser.parse_args(argv)
    model = make_tiny_codec(args.out, args.seed, args.codebook_size, args.width)
    print(json.dumps({"out": args.out, **model.info()}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
