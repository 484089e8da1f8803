"""Mel distance and STFT distance, as in the Stable Codec (TAAE) and DAC evaluation tables.

The definitions follow DAC's evaluation (``descript-audio-codec`` ``scripts/evaluate.py`` with the default
``MelSpectrogramLoss`` / ``MultiScaleSTFTLoss`` of ``dac/nn/loss.py``), reimplemented in numpy so that the worker
processes of the scoring pool need neither torch nor audiotools:

* STFT per scale: periodic Hann window of ``w`` samples, hop ``w // 4``, ``n_fft = w``, the signal right-padded
  with zeros to a whole number of hops and then centre-padded by reflection (audiotools' padding);
* STFT distance = sum over scales w in (2048, 512) of
  ``mean|log10(max(|X|, 1e-5)^2) - log10(max(|Y|, 1e-5)^2)| + mean||X| - |Y||``;
* mel distance = the same on mel spectrograms (librosa's Slaney mel filters, area-normalised, 0 Hz to
  Nyquist: :func:`fcodec.utils.mel.mel_filterbank`), with 150 mel bands at w = 2048 and 80 at w = 512.

Lower is better; 0 for identical signals. Numbers depend on the sample rate: we compute at 16 kHz.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from fcodec.utils.mel import mel_filterbank

STFT_WINDOWS: Tuple[int, ...] = (2048, 512)
MEL_BANDS: Tuple[int, ...] = (150, 80)
CLAMP_EPS = 1e-5


def stft_magnitude(signal: np.ndarray, window_length: int) -> np.ndarray:
    """(frequencies, frames) magnitude spectrogram with audiotools' padding (see the module docstring).

    Parameters
    ----------
    signal : numpy.ndarray, shape (N,), float
        A mono signal.
    window_length : int
        Window and FFT size in samples; hop ``window_length // 4``.

    Returns
    -------
    numpy.ndarray, shape (window_length // 2 + 1, frames), float
    """
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


def stft_distance(reference: np.ndarray, estimate: np.ndarray, windows: Sequence[int] = STFT_WINDOWS) -> float:
    """Multi-scale log + linear STFT magnitude L1 distance; the signals must have equal length.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,), float
        The original and the reconstruction, same sample rate (we score at 16 kHz).
    windows : sequence of int, default (2048, 512)
        Window lengths of the scales, in samples.

    Returns
    -------
    float
        Sum over scales; lower is better, 0 for identical signals.
    """
    return sum(_distance(stft_magnitude(estimate, w), stft_magnitude(reference, w)) for w in windows)


def mel_distance(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    windows: Sequence[int] = STFT_WINDOWS,
    n_mels: Sequence[int] = MEL_BANDS,
) -> float:
    """Multi-scale log + linear mel magnitude L1 distance; the signals must have equal length.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,), float
        The original and the reconstruction.
    sample_rate : int
        Their sample rate in Hz (sets the mel filters; we score at 16000).
    windows : sequence of int, default (2048, 512)
        Window lengths of the scales, in samples.
    n_mels : sequence of int, default (150, 80)
        Mel bands per scale.

    Returns
    -------
    float
        Sum over scales; lower is better, 0 for identical signals.
    """
    total = 0.0
    for window, bands in zip(windows, n_mels):
        fbank = mel_filterbank(sample_rate, window, bands)
        total += _distance(fbank @ stft_magnitude(estimate, window), fbank @ stft_magnitude(reference, window))
    return total
