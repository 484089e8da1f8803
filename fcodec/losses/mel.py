"""Multi-scale log-mel L1 loss (its mel filterbank is :func:`fcodec.utils.mel.mel_filterbank`, as a buffer)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from fcodec.losses.masking import masked_mean
from fcodec.losses.precision import float32_region
from fcodec.losses.spectral import ReconstructionTargetLoss, SpectrumCache, valid_frame_mask
from fcodec.utils.mel import mel_filterbank


class MultiScaleMelLoss(ReconstructionTargetLoss):
    """L1 between log-mel magnitude spectrograms of the reconstruction and the input, averaged over scales.

    Each scale is an STFT window (Hann, hop = window // 4 unless given) with its own number of mel bands; the log
    is ``log(mel + eps)`` on magnitude (power 1) mels, as in the predecessor's single-scale loss (window 1024, hop 256,
    80 mels), which is ``window_lengths=(1024,), n_mels=(80,)`` here. Unlike the predecessor, the filterbank uses the real
    output rate (the predecessor built it for 16 kHz and applied it to 24 kHz audio).

    ``forward(recon (B, N_out) at sample_rate, audio (B, N) at input_sample_rate, audio_lens (B,) or None)``.
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        input_sample_rate: int = 16000,
        window_lengths: Sequence[int] = (512, 1024, 2048),
        n_mels: Sequence[int] = (64, 80, 128),
        hop_lengths: Optional[Sequence[int]] = None,
        f_min: float = 0.0,
        f_max: Optional[float] = None,
        eps: float = 1e-5,
    ):
        super().__init__(sample_rate, input_sample_rate)
        hop_lengths = [w // 4 for w in window_lengths] if hop_lengths is None else list(hop_lengths)
        if not len(window_lengths) == len(n_mels) == len(hop_lengths) or not window_lengths:
            raise ValueError("window_lengths, n_mels and hop_lengths need one entry per scale")
        self.scales = [(int(w), int(h)) for w, h in zip(window_lengths, hop_lengths)]
        self.eps = eps
        for i, ((window, _), mels) in enumerate(zip(self.scales, n_mels)):
            self.register_buffer(f"window_{i}", torch.hann_window(window), persistent=False)
            filters = torch.tensor(mel_filterbank(sample_rate, window, int(mels), f_min, f_max))  # a copy
            self.register_buffer(f"filters_{i}", filters, persistent=False)

    def forward(
        self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor] = None, cache: Optional[SpectrumCache] = None
    ) -> Tensor:
        with float32_region(recon.device):  # spectra, logs and their gradients in float32
            both, lengths = self.prepare_stacked(recon, audio, audio_lens, cache)
            total = both.new_zeros(())
            for i, (window, hop) in enumerate(self.scales):
                mag = self.magnitude(both, window, hop, getattr(self, f"window_{i}"), cache)
                log_mel = torch.log(getattr(self, f"filters_{i}") @ mag + self.eps)
                pred, ref = log_mel.chunk(2)
                mask = valid_frame_mask(lengths, hop, pred.shape[-1])
                total = total + masked_mean((pred - ref).abs().transpose(1, 2), mask)
            return total / len(self.scales)
