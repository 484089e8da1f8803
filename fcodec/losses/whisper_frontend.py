"""Whisper's input side, differentiable and batched: log-mel features and the audio encoder.

``whisper.audio.log_mel_spectrogram`` is itself differentiable on a tensor (STFT, matmul, log10, clamp, max), but
it takes one ``max`` over everything it is given: on a batch, the loudest clip sets the floor (max - 8) of every
other clip, which the predecessor did by calling it on whole batches. :func:`log_mel` computes the same thing with the
floor per clip (what Whisper sees when it transcribes that clip alone) and reuses Whisper's own filterbank and
constants; the tests check it against ``log_mel_spectrogram`` clip by clip.

:func:`encode` runs Whisper's audio encoder on a mel window of any even number of frames up to 3000 (30 s).
Whisper was trained on 30 s windows only; a shorter window drops the padding frames and uses the first rows of
the sinusoidal positional embedding. That is faster but not the same computation (attention no longer sees the
padding), so whether it gives the same loss is a measured question (tools/benchmarks/bench_asr_loss.py and the
real-Whisper tests), not an assumption.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.audio import HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES, SAMPLE_RATE, mel_filters

__all__ = [
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "N_FFT",
    "N_FRAMES",
    "N_SAMPLES",
    "log_mel",
    "encode",
    "encode_window",
    "window_frames",
]


def window_frames(seconds: float) -> int:
    """Mel frames in a window of ``seconds``, rounded up to an even count (the encoder's conv has stride 2)."""
    frames = -(-int(round(seconds * SAMPLE_RATE)) // HOP_LENGTH)
    return min(N_FRAMES, frames + frames % 2)


def log_mel(audio: Tensor, n_mels: int = 80, num_frames: int = N_FRAMES, filters: Optional[Tensor] = None) -> Tensor:
    """Whisper's log-mel (B, n_mels, num_frames) of 16 kHz audio (B, N), zero-padded or trimmed to the window.

    Frame ``t`` equals frame ``t`` of ``log_mel_spectrogram(pad_or_trim(clip))`` for every clip that fits in the
    window: the audio is padded with zeros past the window by half an FFT, so even the last frames see the same
    samples as in a 30 s window. ``filters``: Whisper's ``mel_filters(device, n_mels)``, looked up here when not
    given (a compiled caller passes it: the lookup reads a file).
    """
    if audio.dim() != 2:
        raise ValueError(f"expected (B, N) audio, got {tuple(audio.shape)}")
    samples = num_frames * HOP_LENGTH
    audio = audio[:, :samples]
    audio = F.pad(audio, (0, samples + N_FFT - audio.shape[1]))
    window = torch.hann_window(N_FFT, device=audio.device, dtype=audio.dtype)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)[..., :num_frames]
    power = stft.real**2 + stft.imag**2  # = |stft| ** 2, without abs()'s square root in the backward pass
    if filters is None:
        filters = mel_filters(audio.device, n_mels)
    mel = filters.to(power.dtype) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (log_spec + 4.0) / 4.0


def encode(encoder: torch.nn.Module, mel: Tensor) -> Tensor:
    """Whisper ``AudioEncoder`` output (B, frames / 2, d) for a mel window of up to the model's 30 s."""
    if mel.shape[-1] == 2 * encoder.positional_embedding.shape[0]:
        return encoder(mel)  # the model's own forward: exactly what Whisper computes
    return encode_window(encoder, mel)


def encode_window(encoder: torch.nn.Module, mel: Tensor) -> Tensor:
    """``AudioEncoder.forward`` with the positional embedding cut to the window instead of asserting 30 s."""
    positions = encoder.positional_embedding
    if mel.shape[-1] % 2 or mel.shape[-1] > 2 * positions.shape[0]:
        raise ValueError(
            f"mel window must be an even number of frames <= {2 * positions.shape[0]}, got {mel.shape[-1]}"
        )
    x = F.gelu(encoder.conv1(mel))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = (x + positions[: x.shape[1]]).to(x.dtype)
    for block in encoder.blocks:
        x = block(x)
    return encoder.ln_post(x)
