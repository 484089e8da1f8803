"""Inputs and weights for checking a codec implementation: used by the tests and by tools/parity (which compares
ours with the upstream package on the same random weights and signals)."""

import math

import torch

from fcodec.models.codec import FocalCodec


def perturb_constants(model: FocalCodec, seed: int = 1) -> FocalCodec:
    """Move the parameters that start as constants (Snake/DyT alphas, gammas, norms) so tests exercise them.

    Parameters
    ----------
    model : FocalCodec
        Changed in place: each such parameter p becomes ``p * (1 + 0.2 n1) + 0.05 n2`` (n1, n2 standard normal).
    seed : int, default 1
        Seed of a private generator (the global RNG is untouched).

    Returns
    -------
    FocalCodec
        ``model``.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("alpha", "gamma", "gru_rel_pos_const")) or ("norm" in name and name.endswith("weight")):
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=gen)).add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def speechlike(batch: int, num_samples: int, seed: int = 0) -> torch.Tensor:
    """Deterministic multi-sine plus noise at amplitude ~0.3.

    Parameters
    ----------
    batch : int
        Signals.
    num_samples : int
        Samples per signal (16 kHz).
    seed : int, default 0
        Seed of a private generator (the global RNG is untouched).

    Returns
    -------
    Tensor, shape (batch, num_samples), float32, 16 kHz
    """
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / 16000
    phases = torch.rand(batch, 4, 1, generator=gen) * 6.28
    freqs = torch.tensor([110.0, 440.0, 1234.0, 3100.0])[None, :, None]
    sines = torch.sin(2 * math.pi * freqs * t + phases).mean(dim=1)
    return (0.3 * sines + 0.05 * torch.randn(batch, num_samples, generator=gen)).float()
