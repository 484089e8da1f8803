"""Length masks for padded batches: every loss averages over valid positions only."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Boolean (B, max_len): True where the position is inside the item's valid length."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths.to(torch.long)[:, None]


def full_lengths(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """``lengths`` clipped to ``x``'s time axis (dim 1), or every item full length when ``lengths`` is None."""
    size = x.shape[1]
    if lengths is None:
        return torch.full((x.shape[0],), size, dtype=torch.long, device=x.device)
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
    return lengths.to(device=x.device, dtype=torch.long).clamp(max=size)


def zero_beyond(x: Tensor, lengths: Tensor) -> Tensor:
    """Zero the samples of (B, T) ``x`` past each item's length (padding must not leak into a loss)."""
    return x * lengths_to_mask(lengths, x.shape[1]).to(x.dtype)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` (B, T, ...) over positions where ``mask`` (B, T) is True (all trailing dims count)."""
    weights = mask.to(values.dtype).reshape(*mask.shape, *([1] * (values.dim() - mask.dim())))
    count = weights.sum() * (values[0, 0].numel() if values.dim() > 2 else 1)
    return (values * weights).sum() / count.clamp(min=1)
