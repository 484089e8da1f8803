"""NaN/inf guard: a non-finite loss or gradient skips the optimizer step; K in a row stop the run.

The guard never touches the optimizer: a skipped step only drops the gradients, so AdamW's moments and step
counts stay as they were. When the run stops, the batch that broke it is saved beside the checkpoints so the
failure can be reproduced.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from fcodec.utils.cli import UserError
from fcodec.utils.io import atomic_torch_save

log = logging.getLogger(__name__)


class NonFiniteError(UserError, RuntimeError):
    """Too many consecutive non-finite steps."""

    exit_code = 1  # not a bad option: the state of the folder or the run


def batch_cut_ids(batch: Any) -> List[str]:
    if isinstance(batch, dict) and "cut_id" in batch:
        return [str(c) for c in batch["cut_id"]]
    return []


def saveable_batch(batch: Any) -> Any:
    """The batch with tensors moved to CPU (and cut objects dropped), loadable with weights_only=True."""
    if isinstance(batch, torch.Tensor):
        return batch.detach().cpu()
    if isinstance(batch, dict):
        return {k: saveable_batch(v) for k, v in batch.items() if k != "cuts"}
    if isinstance(batch, (list, tuple)):
        return [saveable_batch(v) for v in batch]
    if isinstance(batch, (str, int, float, bool)) or batch is None:
        return batch
    return repr(batch)


class NonFiniteGuard:
    def __init__(self, max_consecutive: int, exp_dir: Path, rank: int = 0):
        self.max_consecutive = max(1, int(max_consecutive))
        self.exp_dir = Path(exp_dir)
        self.rank = rank
        self.streak = 0
        self.total = 0

    def state_dict(self) -> Dict[str, int]:
        return {"streak": self.streak, "total": self.total}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.streak = int(state["streak"])
        self.total = int(state["total"])

    def ok(self) -> None:
        self.streak = 0

    def skip(self, step: int, batch: Any, terms: Dict[str, float], grad_norm: Optional[float]) -> None:
        """Record a skipped step; raises :class:`NonFiniteError` (after saving the batch) at the K-th in a row."""
        self.streak += 1
        self.total += 1
        log.warning(
            "step %d: non-finite loss or gradient (terms %s, grad norm %s), step skipped "
            "(%d in a row, %d in total); cut ids: %s",
            step,
            terms,
            grad_norm,
            self.streak,
            self.total,
            batch_cut_ids(batch) or "<none>",
        )
        if self.streak >= self.max_consecutive:
            path = self.exp_dir / f"bad-batch-step{step}-rank{self.rank}.pt"
            atomic_torch_save(saveable_batch(batch), path)
            raise NonFiniteError(
                f"{self.streak} consecutive non-finite training steps (last at step {step}); the offending batch "
                f"is saved in {path}. Lower optim.lr or optim.grad_clip, check the data (cut ids in the log), or "
                f"raise train.max_nonfinite."
            )
