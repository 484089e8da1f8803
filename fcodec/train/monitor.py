"""What the trainer reports: the averages of each logging interval, and TensorBoard.

:class:`IntervalLog` sums the values of the steps since the last log line and averages them over steps and
ranks (a skipped step counts in ``skipped`` only). :class:`Monitor` writes TensorBoard events (rank 0 only;
other ranks get a writer that does nothing).

Events go to ``<exp_dir>/tensorboard``. A resumed run opens the writer with ``purge_step`` at the step it resumes
from, so the curves of the steps it redoes replace the ones the interrupted run had written instead of doubling.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Optional

import torch

from fcodec.train.distributed import DistInfo, all_gather_objects, all_reduce_sum


class Monitor:
    def __init__(self, exp_dir: Path, enabled: bool, purge_step: Optional[int] = None):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(
                log_dir=str(Path(exp_dir) / "tensorboard"), purge_step=purge_step if purge_step else None
            )

    def scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def audio(self, tag: str, wave: torch.Tensor, sample_rate: int, step: int) -> None:
        if self.writer is None:
            return
        wave = wave.detach().float().cpu().flatten()
        peak = wave.abs().max()
        if peak > 1.0:  # add_audio expects [-1, 1]
            wave = wave / peak
        self.writer.add_audio(tag, wave, step, sample_rate=int(sample_rate))

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class IntervalLog:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.totals: Dict[str, float] = {}
        self.count = 0  # steps, skipped ones included
        self.start = time.perf_counter()
        self.data_time = 0.0  # seconds spent waiting for batches

    def add(self, values: Dict[str, float]) -> None:
        """One step's values."""
        for key, value in values.items():
            self.totals[key] = self.totals.get(key, 0.0) + value
        self.count += 1

    def average(self, dist: DistInfo) -> Dict[str, float]:
        """The interval's averages over steps and ranks, with the data wait and the wall time per step (every
        rank must call it: it is a collective)."""
        keys = sorted(self.totals)
        # ranks can disagree on keys only if one had no successful step; pad by agreeing on a key set first
        key_lists = all_gather_objects(keys, dist)
        if any(k != keys for k in key_lists):
            keys = sorted(set().union(*key_lists))
        totals = torch.tensor(
            [self.totals.get(k, 0.0) for k in keys] + [float(self.count)], dtype=torch.float64, device=dist.device
        )
        all_reduce_sum(totals, dist)
        count = totals[-1].item()
        sums = dict(zip(keys, totals[:-1].tolist()))
        good = max(count - sums.get("skipped", 0.0), 1.0)
        values = {key: total / (count if key == "skipped" else good) for key, total in sums.items()}
        elapsed = time.perf_counter() - self.start
        values["data_time"] = self.data_time / max(self.count, 1)
        values["wall_per_step"] = elapsed / max(self.count, 1)
        return values
