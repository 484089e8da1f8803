"""Vocos decoder (docs/architecture.md, Pipeline): ConvNeXt backbone and an inverse-STFT head. The decoder of the
non-causal FocalCodec checkpoints (n_fft 1024, hop 320: 16 kHz output)."""

from __future__ import annotations

import warnings
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models.common import apply_linear
from fcodec.models.convnext import ConvNeXtBackbone

__all__ = ["Vocos"]


class ISTFT(nn.Module):
    """Inverse STFT of per-frame spectra. Non-causal: windowed overlap-add normalised by the summed squared
    window, cropped to ``T * hop`` samples. Causal: the last ``hop`` samples of each frame's inverse FFT."""

    def __init__(self, n_fft: int, hop_length: int, causal: bool) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.causal = causal
        self.crop = (n_fft - hop_length) // 2
        window = torch.hann_window(n_fft)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("window_sq", window**2, persistent=False)

    def _overlap_add(self, frames: Tensor) -> Tensor:
        """Sum of frames ``(B, n_fft, T)`` placed every ``hop`` samples -> ``(B, (T-1)*hop + n_fft)``."""
        num_frames = frames.shape[-1]
        length = (num_frames - 1) * self.hop_length + self.n_fft
        out = F.fold(frames, output_size=(1, length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        return out[:, 0, 0]

    def forward(self, spec: Tensor) -> Tensor:  # (B, T, n_fft // 2 + 1) complex
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1, norm="backward")  # (B, T, n_fft)
        if self.causal:
            return frames[..., -self.hop_length :].reshape(frames.shape[0], -1)
        num_frames = frames.shape[1]
        signal = self._overlap_add((frames * self.window).transpose(1, 2))
        envelope = self._overlap_add(self.window_sq[None, :, None].expand(1, -1, num_frames))[0]
        end = signal.shape[-1] - self.crop
        return signal[:, self.crop : end] / envelope[self.crop : end]


class ISTFTHead(nn.Module):
    def __init__(self, dim: int, n_fft: int, hop_length: int, causal: bool) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length, causal)

    def forward(self, x: Tensor) -> Tensor:
        y = apply_linear(self.proj, x)
        log_mag, phase = y.chunk(2, dim=-1)
        mag = log_mag.exp().clamp(max=1e2)  # guard against huge magnitudes
        return self.istft(mag * torch.complex(phase.cos(), phase.sin()))


class Vocos(nn.Module):
    """Vocos decoder: features -> waveform through a ConvNeXt backbone and an inverse-STFT head.

    ``upsample_factor = hop_length`` output samples per frame (320 at 50 Hz: 16 kHz). Defaults are upstream
    v0.0.2's.

    Parameters
    ----------
    input_dim : int, default 1024
        Channels of the input features.
    num_layers : int, default 8
        ConvNeXt blocks.
    dim : int, default 512
        Backbone width.
    ffn_dim : int, default 1536
        Pointwise feed-forward width of each block.
    kernel_size : int, default 7
        Depthwise conv kernel (frames).
    layerscale_init : float, optional
        Initial block scale; None means ``1 / num_layers``.
    n_fft : int, default 1024
        FFT size (and Hann window length) of the inverse STFT.
    hop_length : int, default 320
        Output samples per input frame.
    causal : bool, default False
        Causal convs (first call padded by repeating the first frame) and a non-overlapping head (the last
        ``hop_length`` samples of each frame's inverse FFT).
    **kwargs
        Upstream's extra keywords: ``input_channels`` (deprecated alias of ``input_dim``, warns) and ``padding``
        (deprecated, ignored, warns); other keywords are ignored, as upstream does.
    """

    def __init__(
        self,
        input_dim: int = 1024,
        num_layers: int = 8,
        dim: int = 512,
        ffn_dim: int = 1536,
        kernel_size: int = 7,
        layerscale_init: Optional[float] = None,
        n_fft: int = 1024,
        hop_length: int = 320,
        causal: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        # upstream accepts (and ignores, or aliases) extra keywords here; published configs may use them
        if kwargs.get("input_channels") is not None:
            warnings.warn("`input_channels` is deprecated, use `input_dim`", DeprecationWarning)
            input_dim = kwargs["input_channels"]
        if kwargs.get("padding") is not None:
            warnings.warn("`padding` is deprecated and ignored (derived from `causal`)", DeprecationWarning)
        self.input_dim = input_dim
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.causal = causal
        self.upsample_factor = hop_length
        self.chunk_size = 1
        # a causal Vocos pads the first call by repeating the first frame
        self.backbone = ConvNeXtBackbone(
            input_dim, num_layers, dim, ffn_dim, kernel_size, layerscale_init, causal, pad_mode="replicate"
        )
        self.head = ISTFTHead(dim, n_fft, hop_length, causal)

    def forward(self, x: Tensor, state: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Synthesise waveforms.

        Parameters
        ----------
        x : Tensor, shape (B, T, input_dim), float
            Features.
        state : list of Tensor, optional
            Causal only: the state returned by the previous call of this stream; None starts one.

        Returns
        -------
        sig : Tensor, shape (B, T * hop_length), float
        state : list
            The new state.
        """
        x, state = self.backbone(x, state)
        return self.head(x), state
