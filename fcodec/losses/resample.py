"""Differentiable rational-ratio resampling (windowed-sinc polyphase FIR), in torch only.

The filter is the one ``scipy.signal.resample_poly`` designs by default: a Kaiser-windowed sinc (beta 5.0) with its
cutoff at the lower of the two Nyquist frequencies and 10 zero crossings each side, normalised to unit gain at DC.
With the default arguments :func:`resample` therefore reproduces ``resample_poly(x, up, down)`` to float rounding,
including its output length ``ceil(n * up / down)`` and its zero-phase alignment (output sample ``k`` sits at input
time ``k * down / up``); the tests check this. ``rolloff`` < 1 moves the cutoff below Nyquist (less aliasing, a
little less top band), ``zero_crossings`` and ``beta`` trade sharpness against cost.

The work is one strided ``conv1d`` with ``up`` output channels (one per polyphase branch), so gradients flow to the
input like through any convolution. 16 kHz <-> 24 kHz is the ratio 2:3 after reducing by the gcd: a 22- or
32-tap kernel, cheap next to anything else in a training step.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _reduced_ratio(orig_sr: int, new_sr: int) -> tuple[int, int]:
    if int(orig_sr) != orig_sr or int(new_sr) != new_sr or orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr} -> {new_sr}")
    g = math.gcd(int(orig_sr), int(new_sr))
    return int(new_sr) // g, int(orig_sr) // g  # (up, down)


def resampled_length(length: int, orig_sr: int, new_sr: int) -> int:
    """Samples in the output for ``length`` input samples: ``ceil(length * up / down)``, as resample_poly."""
    up, down = _reduced_ratio(orig_sr, new_sr)
    return -(-int(length) * up // down)


def resampled_lengths(lengths: Tensor, orig_sr: int, new_sr: int) -> Tensor:
    """:func:`resampled_length` for a tensor of lengths (integer arithmetic, no rounding error)."""
    up, down = _reduced_ratio(orig_sr, new_sr)
    return torch.div(lengths.long() * up + down - 1, down, rounding_mode="floor")


@lru_cache(maxsize=32)
def _polyphase_kernel(up: int, down: int, zero_crossings: int, rolloff: float, beta: float) -> tuple[Tensor, int]:
    """Return ``(kernel (up, 1, K) float64, left_pad)`` for a strided conv1d computing the polyphase filter."""
    max_rate = max(up, down)
    half_len = zero_crossings * max_rate  # filter half length in samples of the up-sampled grid
    cutoff = rolloff / max_rate  # relative to the up-sampled grid's Nyquist frequency
    m = torch.arange(-half_len, half_len + 1, dtype=torch.float64)
    # Kaiser window of length 2 * half_len + 1 (scipy.signal.get_window(("kaiser", beta), ..., fftbins=False))
    window = torch.special.i0(beta * torch.sqrt(torch.clamp(1 - (m / half_len) ** 2, min=0.0))) / torch.special.i0(
        torch.tensor(beta, dtype=torch.float64)
    )
    taps = cutoff * torch.sinc(cutoff * m) * window
    taps = taps / taps.sum() * up  # unit DC gain of the up-sampled filter, times up (firwin scale=True, as scipy)

    # Output k = j * up + p sits at input time (j * down) + p * down / up. With the input left-padded by W,
    # conv1d's window for block j starts at input sample j * down - W, so tap i of branch p multiplies
    # x[j * down + i - W] and needs h[k * down - n * up] = h[p * down + (W - i) * up].
    left = -(-half_len // up)
    last = (up - 1) * down + left * up + half_len
    size = last // up + 1
    kernel = torch.zeros(up, 1, size, dtype=torch.float64)
    for p in range(up):
        index = p * down + (left - torch.arange(size)) * up  # offsets into h, centred at 0
        valid = index.abs() <= half_len
        kernel[p, 0, valid] = taps[index[valid] + half_len]
    return kernel, left


def resample(
    x: Tensor,
    orig_sr: int,
    new_sr: int,
    *,
    zero_crossings: int = 10,
    rolloff: float = 1.0,
    beta: float = 5.0,
    kernel: Optional[Tensor] = None,
) -> Tensor:
    """Resample ``x`` (..., time) from ``orig_sr`` to ``new_sr``; differentiable with respect to ``x``.

    The input is treated as zero outside its span (``resample_poly``'s default ``padtype="constant"``). Output
    length is ``ceil(time * new / orig)`` in reduced terms. ``kernel`` lets :class:`Resample` pass its cached copy.
    """
    up, down = _reduced_ratio(orig_sr, new_sr)
    if up == down:
        return x
    if not 0 < rolloff <= 1:
        raise ValueError(f"rolloff must be in (0, 1], got {rolloff}")
    base, left = _polyphase_kernel(up, down, int(zero_crossings), float(rolloff), float(beta))
    if kernel is None:
        kernel = base.to(device=x.device, dtype=x.dtype)
    shape = x.shape
    n = shape[-1]
    out_len = -(-n * up // down)
    blocks = -(-out_len // up)
    size = kernel.shape[-1]
    right = max(0, (blocks - 1) * down + size - n - left)
    flat = F.pad(x.reshape(-1, 1, n), (left, right))
    y = F.conv1d(flat, kernel, stride=down)[..., :blocks]  # (batch, up, blocks): one row per polyphase branch
    y = y.transpose(1, 2).reshape(flat.shape[0], blocks * up)[:, :out_len]
    return y.reshape(*shape[:-1], out_len)


class Resample(nn.Module):
    """:func:`resample` with the kernel kept as a (non-persistent) buffer, so ``.to(device)`` moves it once."""

    def __init__(self, orig_sr: int, new_sr: int, *, zero_crossings: int = 10, rolloff: float = 1.0, beta: float = 5.0):
        super().__init__()
        self.orig_sr, self.new_sr = int(orig_sr), int(new_sr)
        self.options = dict(zero_crossings=int(zero_crossings), rolloff=float(rolloff), beta=float(beta))
        up, down = _reduced_ratio(orig_sr, new_sr)
        kernel = _polyphase_kernel(up, down, **self.options)[0] if up != down else torch.zeros(0)
        self.register_buffer("kernel", kernel.float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.kernel.to(dtype=x.dtype) if self.kernel.numel() else None
        return resample(x, self.orig_sr, self.new_sr, kernel=kernel, **self.options)

    def lengths(self, lengths: Tensor) -> Tensor:
        return resampled_lengths(lengths, self.orig_sr, self.new_sr)

    def extra_repr(self) -> str:
        return f"{self.orig_sr} -> {self.new_sr}, " + ", ".join(f"{k}={v}" for k, v in self.options.items())
