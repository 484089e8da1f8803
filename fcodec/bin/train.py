"""One training run of the codec (the recipe's stages 4-6 each run one).

    python -m fcodec.bin.train --config conf/train_50hz.yaml --exp-dir exp/train_50hz [key.sub=value ...]
    torchrun --nproc_per_node 4 -m fcodec.bin.train --config conf/train_25hz.yaml --exp-dir exp/train_25hz \\
        model.init_from=exp/train_50hz/best
    python -m fcodec.bin.train --config conf/train_25hz.yaml --config conf/train_12.5hz.yaml --print-config

--config may be given several times: the files are merged in order (each over the ones before it, section by
section), then the overrides; --print-config shows the result.

Overrides use the config's dotted keys (``optim.lr=1e-4``, ``losses.asr.weight=30``, ``train.max_steps=2000``).
Rerunning the same command continues from the newest checkpoint in ``<exp-dir>/checkpoints``; a finished run
only re-exports nothing and exits. ``--print-config`` checks the config and prints it resolved, without training.
See fcodec/train/run.py for what the exp dir holds.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import List, Optional

from fcodec.utils.cli import command_line


@command_line("python -m fcodec.bin.train")
def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fcodec.bin.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        action="append",
        help="training YAML (conf/train_<rate>.yaml); repeated: merged in order; omitted: the built-in defaults",
    )
    parser.add_argument("--exp-dir", help="the training run's output folder (required unless --print-config)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)

    from fcodec.train.config import dump_config, load_config
    from fcodec.train.preflight import check_values

    if args.print_config:
        cfg = load_config(args.config, args.overrides)
        check_values(cfg)  # unknown loss options and impossible values, as a run would refuse them
        print(dump_config(cfg), end="")
        return 0
    if not args.exp_dir:
        parser.error("--exp-dir is required")
    from fcodec.train.run import run_training

    command = shlex.join([sys.executable, "-m", "fcodec.bin.train", *(argv if argv is not None else sys.argv[1:])])
    run_training(args.config, args.exp_dir, args.overrides, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
