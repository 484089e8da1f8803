"""Entry point for subprocess tests of the generic trainer (SIGKILL resume, two gloo processes).

    python tests/train/toy_train.py EXP_DIR DATA_DIR [key=value ...]
    torchrun --nproc_per_node 2 tests/train/toy_train.py EXP_DIR DATA_DIR [key=value ...]
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from fcodec.train.config import load_config  # noqa: E402
from fcodec.train.distributed import cleanup_distributed, init_distributed  # noqa: E402
from fcodec.train.params import build_param_plan  # noqa: E402
from fcodec.train.rng import seed_everything  # noqa: E402
from fcodec.train.trainer import Trainer  # noqa: E402
from fcodec.utils.logging import setup_logging  # noqa: E402
from tests.train.toy import ToyCodec, ToyObjective, export_state, make_cuts, make_loader  # noqa: E402


def main() -> None:
    exp_dir, data_dir, overrides = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    cfg = load_config(None, overrides)
    dist = init_distributed(cfg.train.device)
    suffix = f"-rank{dist.rank}" if dist.rank else ""
    setup_logging(exp_dir / "log" / f"log-train{suffix}", rank=dist.rank)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    seed_everything(cfg.train.seed)
    model = ToyCodec()
    seed_everything(cfg.train.seed + dist.rank)
    cuts = make_cuts(data_dir / f"rank{dist.rank}", num=16)  # the same synthetic files, no write race
    plan = build_param_plan(model, ["compressor.", "decompressor."])
    trainer = Trainer(cfg, exp_dir, model, ToyObjective(float(os.environ.get("TOY_STEP_SLEEP", "0"))), plan,
                      make_loader(cuts, True, seed=cfg.train.seed, num_workers=cfg.data.num_workers),
                      make_loader(cuts, False), dist, export_state)
    trainer.fit()
    cleanup_distributed()


if __name__ == "__main__":
    main()
