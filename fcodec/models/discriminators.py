"""Waveform discriminators for adversarial training of the decoder, at the decoder's output rate (24 kHz).

* :class:`PeriodDiscriminator` / the multi-period discriminator (HiFi-GAN, Kong et al. 2020): the waveform folded
  into a 2-D grid of ``period`` columns, strided convolutions along time, one discriminator per period
  (2, 3, 5, 7, 11 by default), so each judges the periodic structure (pitch harmonics) at its own period.
* :class:`ResolutionDiscriminator` / the multi-resolution STFT discriminator (UnivNet, Jang et al. 2021; Vocos):
  2-D convolutions over a linear magnitude spectrogram, one per STFT resolution, strided along frequency.

Every discriminator returns ``(logits, features)``: the per-position scores flattened to ``(B, L)`` and the
activation of every layer (the feature-matching loss compares them for real and generated audio).

Size knob: ``channels`` scales every layer (HiFi-GAN: 32 -> 128 -> 512 -> 1024 -> 1024 with ``max_channels``
1024; UnivNet: 32 throughout). The tests and the mini recipe use ``channels`` 4 and ``max_channels`` 16, a few
thousand parameters. Convolutions use weight normalisation, as both papers do.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = ["Discriminators", "PeriodDiscriminator", "ResolutionDiscriminator", "DEFAULT_PERIODS", "DEFAULT_RESOLUTIONS"]

DEFAULT_PERIODS = (2, 3, 5, 7, 11)
# (n_fft, hop, window) at 24 kHz, UnivNet's resolutions
DEFAULT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
LEAKY_SLOPE = 0.1

Judgement = Tuple[Tensor, List[Tensor]]  # (logits (B, L), per-layer features)


def _run(convs: nn.ModuleList, post: nn.Module, x: Tensor) -> Judgement:
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LEAKY_SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    def __init__(
        self, period: int, channels: int = 32, max_channels: int = 1024, kernel_size: int = 5, stride: int = 3
    ) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = int(period)
        widths = [min(channels * m, max_channels) for m in (1, 4, 16, 32, 32)]
        pad = (kernel_size - 1) // 2
        layers, previous = [], 1
        for i, width in enumerate(widths):
            step = stride if i < len(widths) - 1 else 1
            layers.append(weight_norm(nn.Conv2d(previous, width, (kernel_size, 1), (step, 1), (pad, 0))))
            previous = width
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(previous, 1, (3, 1), 1, (1, 0)))

    def forward(self, x: Tensor) -> Judgement:  # x: (B, N)
        batch, length = x.shape
        if length % self.period:
            extra = self.period - length % self.period
            # reflect needs more samples than it pads; a clip that short is padded with zeros instead
            x = F.pad(x[:, None], (0, extra), mode="reflect" if length > extra else "constant")[:, 0]
        return _run(self.convs, self.post, x.reshape(batch, 1, -1, self.period))


class ResolutionDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = int(n_fft), int(hop_length), int(win_length)
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))),
                *[weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))) for _ in range(3)],
                weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def spectrogram(self, x: Tensor) -> Tensor:
        """|STFT| as (B, 1, frames, bins), computed in float32 (no STFT in bfloat16)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.stft(
                x.float(),
                self.n_fft,
                self.hop_length,
                self.win_length,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
        return spec.abs().transpose(1, 2).contiguous()[:, None]  # contiguous: a strided input makes conv2d crawl

    def forward(self, x: Tensor) -> Judgement:  # x: (B, N)
        return _run(self.convs, self.post, self.spectrogram(x))


class Discriminators(nn.Module):
    """The multi-period and the multi-resolution discriminator together: ``forward(x)`` returns one
    :data:`Judgement` per sub-discriminator, in the order of :attr:`names` (``mpd2`` ... ``mrd512``)."""

    def __init__(
        self,
        periods: Sequence[int] = DEFAULT_PERIODS,
        period_channels: int = 32,
        period_max_channels: int = 1024,
        resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS,
        resolution_channels: int = 32,
    ) -> None:
        super().__init__()
        if not periods and not resolutions:
            raise ValueError("at least one period or one STFT resolution is needed")
        for r in resolutions:
            if len(r) != 3:
                raise ValueError(f"an STFT resolution is (n_fft, hop, window), got {list(r)}")
        self.mpd = nn.ModuleList(PeriodDiscriminator(p, period_channels, period_max_channels) for p in periods)
        self.mrd = nn.ModuleList(ResolutionDiscriminator(*r, channels=resolution_channels) for r in resolutions)
        self.names = [f"mpd{p}" for p in periods] + [f"mrd{r[0]}" for r in resolutions]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate periods or resolutions: {self.names}")

    def forward(self, x: Tensor) -> List[Judgement]:
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() != 2:
            raise ValueError(f"discriminators expect (B, N) waveforms, got shape {tuple(x.shape)}")
        return [d(x) for d in self.mpd] + [d(x) for d in self.mrd]
