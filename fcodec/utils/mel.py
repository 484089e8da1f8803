"""The mel scale and the mel filterbank (librosa's formulas, written out), in numpy.

One implementation for everything that needs mel bands: the multi-scale mel loss converts the filterbank to a
torch buffer (:mod:`fcodec.losses.mel`), the mel-distance metric uses it as is
(:mod:`fcodec.metrics.spectral_distance`). Only numpy is imported, so the scoring pool's worker processes, which
never import torch, can use it.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np

# Slaney's Auditory Toolbox scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freq, htk: bool = False) -> np.ndarray:
    """Frequencies (Hz) to mels, float64; ``htk=True`` for the HTK formula ``2595 log10(1 + f / 700)``."""
    freq = np.asarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    with np.errstate(divide="ignore"):  # log(0) in the branch np.where does not take
        return np.where(freq >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(freq / _MIN_LOG_HZ) / _LOGSTEP, freq / _F_SP)


def mel_to_hz(mels, htk: bool = False) -> np.ndarray:
    """Mels to frequencies (Hz), float64: the inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), _F_SP * mels)


@functools.lru_cache(maxsize=32)
def _filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float, htk: bool, norm: Optional[str]
) -> np.ndarray:
    # the DFT bins k * sr / n_fft (librosa.fft_frequencies); for an odd n_fft the last is below Nyquist
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    hz_points = mel_to_hz(np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2), htk)
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]  # constant energy per channel
    weights = weights.astype(np.float32)
    weights.flags.writeable = False  # cached and shared between callers
    return weights


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: Optional[float] = None,
    htk: bool = False,
    norm: Optional[str] = "slaney",
    allow_above_nyquist: bool = False,
) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, equal to ``librosa.filters.mel`` with the same arguments.

    Whisper's ``mel_filters.npz`` was made with librosa's defaults (Slaney scale and area normalisation); the tests
    check this function against it. The array is read-only (it is cached): copy it to change it.

    ``f_max`` above Nyquist is refused (bands past it would be empty, which is a mistake for a loss or a metric)
    unless ``allow_above_nyquist``: a model trained on a fixed mel layout at every rate (NISQA: 20 kHz) needs those
    bands to exist, as zeros, as librosa gives them.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    limit = float("inf") if allow_above_nyquist else sample_rate / 2
    if not 0 <= f_min < f_max <= limit:
        bound = "" if allow_above_nyquist else " <= sample_rate / 2"
        raise ValueError(f"need 0 <= f_min < f_max{bound}, got {f_min}, {f_max}, {sample_rate}")
    if norm not in ("slaney", None):
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return _filterbank(int(sample_rate), int(n_fft), int(n_mels), float(f_min), float(f_max), bool(htk), norm)
