"""Binary spherical quantizer: sign quantisation of unit-norm latents, no learned weights (docs/architecture.md,
Quantiser).

A latent of dimension ``D = log2(codebook_size)`` maps to the code ``±1/sqrt(D)`` per component (an exact 0 maps
to the negative value) and to the token whose bit ``k`` (most significant first) is set where component ``k``
is positive. All buffers are non-persistent, so the state dict has no ``quantizer.*`` keys.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor, nn

__all__ = ["BinarySphericalQuantizer"]


class BinarySphericalQuantizer(nn.Module):
    """Sign quantiser of unit-norm latents with ``codebook_size = 2**D`` implicit codes (no learned weights).

    Parameters
    ----------
    codebook_size : int, default 4096
        Number of tokens; must be a power of two >= 2. The latent dimension is ``D = log2(codebook_size)``
        (11 for 2048, 12 for 4096, 13 for 8192, 16 for 65536).

    Raises
    ------
    ValueError
        ``codebook_size`` is not a power of two >= 2.
    """

    def __init__(self, codebook_size: int = 4096) -> None:
        super().__init__()
        dim = int(math.log2(codebook_size))
        if codebook_size < 2 or 2**dim != codebook_size:
            raise ValueError(f"codebook_size must be a power of two >= 2, got {codebook_size}")
        self.codebook_size = codebook_size
        self.dim = dim
        self.register_buffer("codebook_value", torch.tensor(1 / math.sqrt(dim)), persistent=False)
        # bit weights, most significant first: [2^(D-1), ..., 2, 1]
        self.register_buffer("mask", 2 ** torch.arange(dim - 1, -1, -1), persistent=False)
        self.register_buffer("codebook", self.toks_to_codes(torch.arange(codebook_size)), persistent=False)

    def forward(self, lats: Tensor) -> Tuple[Tensor, Tensor]:
        """``(toks, codes)`` of latents (the wrapper calls the conversion methods directly instead).

        Parameters
        ----------
        lats : Tensor, shape (..., D), float
            Latents (only their signs count).

        Returns
        -------
        toks : Tensor, shape (...), int64
            Tokens in ``[0, codebook_size)``.
        codes : Tensor, shape (..., D), float
            ``+-1/sqrt(D)`` per component.
        """
        toks = self.lats_to_toks(lats)
        return toks, self.toks_to_codes(toks)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """Codes of latents, shape (..., D) -> (..., D): ``+1/sqrt(D)`` where > 0, else ``-1/sqrt(D)``.

        The result has the buffers' dtype (float32 unless the module was cast).
        """
        return torch.where(lats > 0, self.codebook_value, -self.codebook_value)

    def lats_to_toks(self, lats: Tensor) -> Tensor:
        """Tokens of latents, shape (..., D) float -> (...) int64 (same as ``codes_to_toks``)."""
        return self.codes_to_toks(lats)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """Tokens of codes, shape (..., D) float -> (...) int64: bit k (most significant first) set where
        component k is > 0."""
        return ((codes > 0) * self.mask).sum(dim=-1)

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """Codes of tokens, shape (...) int64 in ``[0, codebook_size)`` -> (..., D) float ``+-1/sqrt(D)``."""
        dtype = self.codebook_value.dtype
        bits = torch.remainder(torch.div(toks[..., None], self.mask, rounding_mode="floor"), 2).to(dtype)
        return (bits * 2 - 1) * self.codebook_value

    def straight_through(self, lats: Tensor) -> Tuple[Tensor, Tensor]:
        """Training-time quantisation: ``(codes, toks)`` where codes carry the latents' gradient (STE).

        Parameters
        ----------
        lats : Tensor, shape (..., D), float
            L2-normalised compressor outputs.

        Returns
        -------
        codes : Tensor, shape (..., D), dtype of ``lats``
            Values ``+-1/sqrt(D)``; the gradient passes to ``lats`` unchanged.
        toks : Tensor, shape (...), int64
            Tokens of the codes.
        """
        quantized = self.lats_to_codes(lats).to(lats.dtype)
        return lats + (quantized - lats).detach(), self.codes_to_toks(quantized)

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}"
