"""NISQA's input: a log-mel spectrogram of the waveform at its own sample rate, cut into overlapping segments.

The reference computes it with librosa (``librosa.load(path, sr=None)``, i.e. no resampling, then
``librosa.feature.melspectrogram`` and ``amplitude_to_db``); this is the same computation in torch:
  - STFT: ``n_fft`` 4096, hop ``int(sr * 0.01)``, periodic Hann window of ``int(sr * 0.02)`` samples centred in
    the FFT frame, ``center=True`` with reflect padding, magnitude (power 1);
  - mel: 48 Slaney-scale, area-normalised triangles from 0 Hz to 20 kHz (librosa keeps the bands above Nyquist for
    low-rate input: they are all zero, hence at the dB floor);
  - dB: ``20 log10(max(S, 1e-4))``, then floored at the utterance's maximum minus 80 dB;
  - segments: ``seg_length`` (15) consecutive frames starting every ``seg_hop`` (4) frames, shaped
    (segments, 1, n_mels, seg_length) for the CNN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fcodec.metrics.nisqa_model import NisqaConfig
from fcodec.utils.mel import mel_filterbank

AMPLITUDE_FLOOR = 1e-4  # librosa amplitude_to_db(amin=1e-4): -80 dB
TOP_DB = 80.0


def frame_parameters(config: NisqaConfig, sample_rate: int) -> tuple[int, int]:
    """(hop, window) in samples at this rate, truncated as the reference does (``int(sr * seconds)``)."""
    hop, win = int(sample_rate * config.hop_seconds), int(sample_rate * config.win_seconds)
    if hop < 1 or win > config.n_fft:
        raise ValueError(
            f"NISQA cannot analyse audio at {sample_rate} Hz (hop {hop}, window {win}, FFT {config.n_fft})"
        )
    return hop, win


def min_samples(config: NisqaConfig, sample_rate: int) -> int:
    """The shortest waveform that yields one segment: ``seg_length`` STFT frames (1 + len // hop of them)."""
    hop, _ = frame_parameters(config, sample_rate)
    return (config.seg_length - 1) * hop


def log_mel(waveform: Tensor, sample_rate: int, config: NisqaConfig) -> Tensor:
    """1-D float waveform -> (n_mels, frames) log-mel spectrogram in dB (on the waveform's device)."""
    hop, win = frame_parameters(config, sample_rate)
    window = torch.hann_window(win, periodic=True, dtype=waveform.dtype, device=waveform.device)
    # torch.stft centres a window shorter than n_fft in the frame, as librosa's pad_center does
    spectrum = torch.stft(
        waveform,
        config.n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    # NISQA asks for 20 kHz at every rate (as librosa allows): the bands above Nyquist must exist (as zeros)
    # because the CNN sees all 48 of them
    bank = mel_filterbank(sample_rate, config.n_fft, config.n_mels, f_max=config.f_max, allow_above_nyquist=True)
    filters = torch.from_numpy(bank.copy())
    mel = filters.to(device=waveform.device, dtype=waveform.dtype) @ spectrum
    db = 20.0 * torch.log10(torch.clamp(mel, min=AMPLITUDE_FLOOR))
    return torch.maximum(db, db.max() - TOP_DB)


def segments(spectrogram: Tensor, config: NisqaConfig) -> Tensor:
    """(n_mels, frames) -> (segments, 1, n_mels, seg_length): windows of seg_length frames every seg_hop frames."""
    if spectrogram.shape[1] < config.seg_length:
        raise ValueError(f"{spectrogram.shape[1]} frames, NISQA needs at least {config.seg_length}")
    windows = spectrogram.unfold(1, config.seg_length, config.seg_hop)  # (n_mels, segments, seg_length)
    return windows.permute(1, 0, 2).unsqueeze(1).contiguous()


def waveform_segments(waveform: Tensor, sample_rate: int, config: NisqaConfig) -> Tensor:
    """1-D waveform -> its CNN input segments (see :func:`segments`)."""
    return segments(log_mel(waveform, sample_rate, config), config)
