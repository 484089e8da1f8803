"""Multi-scale log-mel L1 loss, and the mel filterbank it uses (librosa's Slaney formula, written out)."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from fcodec.losses.masking import masked_mean
from fcodec.losses.precision import float32_region
from fcodec.losses.spectral import ReconstructionTargetLoss, stft_magnitude, valid_frame_mask


def hz_to_mel(freq: Tensor, htk: bool = False) -> Tensor:
    if htk:
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    # Slaney's Auditory Toolbox: linear below 1 kHz, logarithmic above (librosa's default)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(freq >= min_log_hz, min_log_mel + torch.log(freq.clamp(min=1e-10) / min_log_hz) / logstep,
                       freq / f_sp)


def mel_to_hz(mels: Tensor, htk: bool = False) -> Tensor:
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(mels >= min_log_mel, min_log_hz * torch.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: Optional[float] = None,
                   htk: bool = False, norm: Optional[str] = "slaney") -> Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, equal to ``librosa.filters.mel`` with the same arguments.

    Whisper's ``mel_filters.npz`` was made with librosa's defaults (Slaney scale and area normalisation); the tests
    check this function against it.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}, {sample_rate}")
    fft_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mel_points = torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=torch.float64), htk)),
                                float(hz_to_mel(torch.tensor(f_max, dtype=torch.float64), htk)),
                                n_mels + 2, dtype=torch.float64)
    hz_points = mel_to_hz(mel_points, htk)
    widths = torch.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]  # constant energy per channel
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return weights.float()


class MultiScaleMelLoss(ReconstructionTargetLoss):
    """L1 between log-mel magnitude spectrograms of the reconstruction and the input, averaged over scales.

    Each scale is an STFT window (Hann, hop = window // 4 unless given) with its own number of mel bands; the log
    is ``log(mel + eps)`` on magnitude (power 1) mels, as in the seed's single-scale loss (window 1024, hop 256,
    80 mels), which is ``window_lengths=(1024,), n_mels=(80,)`` here. Unlike the seed, the filterbank uses the real
    output rate (the seed built it for 16 kHz and applied it to 24 kHz audio).

    ``forward(recon (B, N_out) at sample_rate, audio (B, N) at input_sample_rate, audio_lens (B,) or None)``.
    """

    def __init__(self, sample_rate: int = 24000, input_sample_rate: int = 16000,
                 window_lengths: Sequence[int] = (512, 1024, 2048), n_mels: Sequence[int] = (64, 80, 128),
                 hop_lengths: Optional[Sequence[int]] = None, f_min: float = 0.0, f_max: Optional[float] = None,
                 eps: float = 1e-5):
        super().__init__(sample_rate, input_sample_rate)
        hop_lengths = [w // 4 for w in window_lengths] if hop_lengths is None else list(hop_lengths)
        if not len(window_lengths) == len(n_mels) == len(hop_lengths) or not window_lengths:
            raise ValueError("window_lengths, n_mels and hop_lengths need one entry per scale")
        self.scales = [(int(w), int(h)) for w, h in zip(window_lengths, hop_lengths)]
        self.eps = eps
        for i, ((window, _), mels) in enumerate(zip(self.scales, n_mels)):
            self.register_buffer(f"window_{i}", torch.hann_window(window), persistent=False)
            self.register_buffer(f"filters_{i}", mel_filterbank(sample_rate, window, int(mels), f_min, f_max),
                                 persistent=False)

    def forward(self, recon: Tensor, audio: Tensor, audio_lens: Optional[Tensor] = None) -> Tensor:
        with float32_region(recon.device):  # spectra, logs and their gradients in float32
            recon, target, lengths = self.prepare(recon, audio, audio_lens)
            both = torch.cat([recon, target])  # one STFT call per scale for both signals
            total = recon.new_zeros(())
            for i, (window, hop) in enumerate(self.scales):
                mag = stft_magnitude(both, window, hop, window, getattr(self, f"window_{i}"))
                log_mel = torch.log(getattr(self, f"filters_{i}") @ mag + self.eps)
                pred, ref = log_mel.chunk(2)
                mask = valid_frame_mask(lengths, hop, pred.shape[-1])
                total = total + masked_mean((pred - ref).abs().transpose(1, 2), mask)
            return total / len(self.scales)
