"""Codebook statistics: how many entries the tokens use, and the perplexity of their distribution.

A token histogram is additive, so it is summed over dev batches and ranks before the figures are taken.
Usage near 1 and perplexity near the codebook size mean the codebook is fully and evenly used; a collapse shows
as both falling.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch


def token_histogram(toks: torch.Tensor, tok_lens: Optional[torch.Tensor], codebook_size: int) -> torch.Tensor:
    """Counts (codebook_size,) of the valid tokens of a (B, L) batch, as float64 (sums stay exact)."""
    if tok_lens is not None:
        mask = torch.arange(toks.shape[1], device=toks.device)[None, :] < tok_lens[:, None]
        toks = toks[mask]
    return torch.bincount(toks.reshape(-1).long(), minlength=codebook_size).to(torch.float64)


def codebook_stats(histogram: torch.Tensor) -> Dict[str, float]:
    total = histogram.sum()
    if total <= 0:
        return {"codebook_usage": 0.0, "codebook_perplexity": 0.0}
    p = histogram / total
    nonzero = p[p > 0]
    entropy = -(nonzero * nonzero.log()).sum()
    return {"codebook_usage": float((histogram > 0).double().mean()), "codebook_perplexity": float(entropy.exp())}
