"""TensorBoard for the trainer (rank 0 only; other ranks get a writer that does nothing).

Events go to ``<exp_dir>/tensorboard``. A resumed run opens the writer with ``purge_step`` at the step it resumes
from, so the curves of the steps it redoes replace the ones the interrupted run had written instead of doubling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import torch


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
