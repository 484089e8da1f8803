"""Mel distance and STFT distance, as in the Stable Codec (TAAE) and DAC evaluation tables.

The definitions follow DAC's evaluation (``descript-audio-codec`` ``scripts/evaluate.py`` with the default
``MelSpectrogramLoss`` / ``MultiScaleSTFTLoss`` of ``dac/nn/loss.py``), reimplemented in numpy so that the worker
processes of the scoring pool need neither torch nor audiotools:

* STFT per scale: periodic Hann window of ``w`` samples, hop ``w // 4``, ``n_fft = w``, the signal right-padded
  with zeros to a whole number of hops and then centre-padded by reflection (audiotools' padding);
* STFT distance = sum over scales w in (2048, 512) of
  ``mean|log10(max(|X|, 1e-5)^2) - log10(max(|Y|, 1e-5)^2)| + mean||X| - |Y||``;
* mel distance = the same on mel spectrograms (librosa's Slaney mel filters, area-normalised, 0 Hz to
  Nyquist), with 150 mel bands at w = 2048 and 80 at w = 512.

Lower is better; 0 for identical signals. Numbers depend on the sample rate: we compute at 16 kHz.
"""
from __future__ import annotations

import functools
from typing import Sequence, Tuple

import numpy as np

STFT_WINDOWS: Tuple[int, ...] = (2048, 512)
MEL_BANDS: Tuple[int, ...] = (150, 80)
CLAMP_EPS = 1e-5


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    log_region = freq >= min_log_hz
    mels[log_region] = min_log_mel + np.log(freq[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale, each normalised to unit area."""
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2.0]))[0],
                                   n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def stft_magnitude(signal: np.ndarray, window_length: int) -> np.ndarray:
    """(frequencies, frames) magnitude spectrogram with audiotools' padding (see the module docstring)."""
    hop = window_length // 4
    signal = np.asarray(signal, dtype=np.float32)
    right_pad = int(np.ceil(len(signal) / hop)) * hop - len(signal)
    signal = np.pad(signal, (0, right_pad))
    half = window_length // 2
    # reflection needs more samples than the pad; zero-pad very short signals instead of failing
    mode = "reflect" if len(signal) > half else "constant"
    signal = np.pad(signal, (half, half), mode=mode)
    window = np.hanning(window_length + 1)[:-1].astype(np.float32)  # periodic Hann
    n_frames = 1 + (len(signal) - window_length) // hop
    frames = np.lib.stride_tricks.sliding_window_view(signal, window_length)[::hop][:n_frames]
    return np.abs(np.fft.rfft(frames * window, axis=-1)).T


def _log_power(magnitude: np.ndarray) -> np.ndarray:
    return 2.0 * np.log10(np.maximum(magnitude, CLAMP_EPS))


def _distance(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(_log_power(x) - _log_power(y))) + np.mean(np.abs(x - y)))


def stft_distance(reference: np.ndarray, estimate: np.ndarray,
                  windows: Sequence[int] = STFT_WINDOWS) -> float:
    """Multi-scale log + linear STFT magnitude L1 distance; the signals must have equal length."""
    return sum(_distance(stft_magnitude(estimate, w), stft_magnitude(reference, w)) for w in windows)


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                 windows: Sequence[int] = STFT_WINDOWS, n_mels: Sequence[int] = MEL_BANDS) -> float:
    """Multi-scale log + linear mel magnitude L1 distance; the signals must have equal length."""
    total = 0.0
    for window, bands in zip(windows, n_mels):
        fbank = mel_filterbank(sample_rate, window, bands)
        total += _distance(fbank @ stft_magnitude(estimate, window), fbank @ stft_magnitude(reference, window))
    return total
