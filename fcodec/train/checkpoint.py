"""Resumable training checkpoints: ``<exp_dir>/checkpoints/checkpoint-<step>.pt``, the last K kept.

A checkpoint holds everything a rerun needs to continue as if never stopped: model, optimizer and scheduler
state, the training sampler's position, every rank's RNG states, the loop counters, and the resolved config.
Files are written atomically (temporary file, fsync, rename: ``fcodec.utils.io``), so a run killed at any
moment leaves either the old or the new file, never half of one. They contain only tensors and plain Python
values and load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from fcodec.utils.io import atomic_torch_save

log = logging.getLogger(__name__)

_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


def sampler_position(sampler: Any, epoch: int, batches_consumed: int) -> Dict[str, Any]:
    """Where the trainer is in the data: the epoch and how many batches of it it has consumed.

    lhotse's own ``state_dict()`` is stored beside it for reference, but resuming does not trust its counters:
    with DataLoader workers the sampler runs ahead of the trainer by the prefetched batches.
    """
    return {"epoch": int(epoch), "batches_consumed": int(batches_consumed), "lhotse": sampler.state_dict()}


def restore_sampler_position(sampler: Any, position: Dict[str, Any]) -> None:
    """Put a lhotse sampler at ``position`` so that the next ``iter()`` continues from there.

    The sampler replays the epoch's first batches (metadata only, no audio is read), then its own state_dict is
    loaded back, which is lhotse's public way to make the next ``iter()`` keep the position instead of starting
    the epoch over. The sampler's shuffling is seeded by (seed, epoch), so the replay is exactly the original.
    """
    epoch, consumed = int(position["epoch"]), int(position["batches_consumed"])
    sampler.set_epoch(epoch)
    if consumed == 0:
        return
    sampler.allow_iter_to_reset_state()
    iter(sampler)
    for index in range(consumed):
        try:
            next(sampler)
        except StopIteration:
            raise RuntimeError(f"cannot resume: the training data has only {index} batches in epoch {epoch}, the "
                               f"checkpoint was written after {consumed}. Were the cuts or data.max_duration "
                               f"changed?") from None
    sampler.load_state_dict(sampler.state_dict())


class CheckpointManager:
    def __init__(self, exp_dir: Path, keep_last_k: int = 3):
        self.dir = Path(exp_dir) / "checkpoints"
        self.keep_last_k = max(1, int(keep_last_k))

    def list(self) -> List[Tuple[int, Path]]:
        """(step, path) of every checkpoint, oldest first."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in self.dir.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def path_for(self, step: int) -> Path:
        return self.dir / f"checkpoint-{step}.pt"

    def save(self, state: Dict[str, Any], step: int) -> Path:
        path = atomic_torch_save(state, self.path_for(step))
        for _, old in self.list()[:-self.keep_last_k]:
            old.unlink(missing_ok=True)
        return path

    def remove_partial_writes(self) -> None:
        """Temporary files of writes interrupted by a kill (the atomic write never renamed them)."""
        if self.dir.is_dir():
            for tmp in self.dir.glob(".checkpoint-*.tmp"):
                tmp.unlink(missing_ok=True)

    def load_latest(self, map_location: Any = "cpu") -> Optional[Tuple[Path, Dict[str, Any]]]:
        """The newest checkpoint that loads; an unreadable one is reported and the one before it tried."""
        for step, path in reversed(self.list()):
            try:
                return path, torch.load(path, map_location=map_location, weights_only=True)
            except Exception as exc:  # a file damaged outside our atomic writes (disk full, copied badly)
                log.warning("cannot load checkpoint %s (%s: %s); trying the previous one",
                            path, type(exc).__name__, exc)
        return None
