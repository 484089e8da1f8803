"""What the generic trainer asks of a task: compute the loss of a batch, and optionally summarise and illustrate.

The trainer owns the loop (optimizer, validation, checkpoints, DDP, the NaN guard); an :class:`Objective` owns
what a batch means. ``compute`` receives the model to call, which is the DDP wrapper under torchrun and the
plain module otherwise, so the forward pass always goes through DDP's hooks when it must.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import torch
import torch.nn as nn


@dataclass
class StepResult:
    # Scalar to backpropagate (the weighted sum of the terms).
    loss: torch.Tensor
    # Unweighted loss terms, detached, for logging ("feature", "mel", ...).
    terms: Dict[str, torch.Tensor] = field(default_factory=dict)
    # Items in the batch: validation averages are weighted by it.
    num_items: int = 1
    # Additive statistics (summed over dev batches and ranks, then given to Objective.summarize).
    stats: Dict[str, torch.Tensor] = field(default_factory=dict)
    # The model's output (e.g. the codec's reconstruction), for a step that follows the model's (the
    # discriminators'); None when the task has none.
    output: Any = None


def move_to(batch: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch on ``device``; everything else untouched."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, list):
        return [move_to(v, device) for v in batch]
    if isinstance(batch, tuple):
        return tuple(move_to(v, device) for v in batch)
    return batch


class Objective:
    def compute(self, model: nn.Module, batch: Any, step: int, train: bool) -> StepResult:
        raise NotImplementedError

    def summarize(self, stats: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """Dev metrics from the summed ``StepResult.stats`` (e.g. codebook usage and perplexity)."""
        return {}

    def scalars(self, step: int) -> Dict[str, float]:
        """Extra training scalars for TensorBoard at ``step`` (e.g. the scheduled ASR weight)."""
        return {}

    def audio_examples(self, model: nn.Module, batch: Any, max_items: int) -> List[Tuple[str, torch.Tensor, int]]:
        """(name, waveform, sample_rate) triples to listen to in TensorBoard, from a dev batch."""
        return []
