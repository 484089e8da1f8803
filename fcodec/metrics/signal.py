"""Signal metrics of one (original, reconstruction) pair at 16 kHz: PESQ (wide band), STOI, SI-SDR, mel distance
and STFT distance.

Pure numpy/scipy (plus the ``pesq`` and ``pystoi`` packages): this module runs in the worker processes of the
scoring pool, which never import torch.

Before scoring, the reconstruction is aligned to the original: a constant delay (a causal decoder's latency)
is found by cross-correlation within +-``max_delay`` samples and removed, and both signals are trimmed to the
shorter length. Without this, PESQ and STOI of a delayed but otherwise perfect signal collapse.

A metric that cannot be computed for a pair (PESQ on a too-short or silent signal, STOI with fewer than 30
speech frames) is reported as a failure with its reason, never as a made-up value: the caller lists the
utterance and counts it as failed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from fcodec.metrics.spectral_distance import mel_distance, stft_distance

SAMPLE_RATE = 16000
METRICS = ("pesq", "stoi", "si_sdr", "mel_distance", "stft_distance")
MAX_SI_SDR_DB = 100.0


@dataclass
class SignalScores:
    """The signal metrics of one pair.

    Parameters
    ----------
    values : dict of str to float
        Metric name (``pesq``, ``stoi``, ``si_sdr``, ``mel_distance``, ``stft_distance``) -> finite value.
    failures : dict of str to str
        Metric name -> why it could not be computed (a metric is in exactly one of the two dicts).
    delay_samples : int, default 0
        The delay removed before scoring (samples at 16 kHz; positive: the reconstruction lagged).
    """

    values: Dict[str, float] = field(default_factory=dict)
    failures: Dict[str, str] = field(default_factory=dict)  # metric -> reason
    delay_samples: int = 0


def estimate_delay(reference: np.ndarray, estimate: np.ndarray, max_delay: int) -> int:
    """Samples by which ``estimate`` lags ``reference`` (negative: it leads), searched within +-max_delay.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,) and (M,), float
        The original and the reconstruction, same sample rate.
    max_delay : int
        Largest lag searched, in samples; <= 0 disables the search.

    Returns
    -------
    int
        The lag of the cross-correlation maximum; 0 when the search is disabled or a signal is empty.
    """
    if max_delay <= 0 or len(reference) == 0 or len(estimate) == 0:
        return 0
    from scipy.signal import correlate, correlation_lags

    corr = correlate(estimate, reference, mode="full", method="fft")
    lags = correlation_lags(len(estimate), len(reference), mode="full")
    window = np.abs(lags) <= max_delay
    return int(lags[window][np.argmax(corr[window])])


def align(reference: np.ndarray, estimate: np.ndarray, max_delay: int = 0) -> Tuple[np.ndarray, np.ndarray, int]:
    """Remove the delay of ``estimate`` and trim both signals to the same length.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,) and (M,), float
        The original and the reconstruction, same sample rate.
    max_delay : int, default 0
        Largest delay searched, in samples (0: only trim).

    Returns
    -------
    reference, estimate : numpy.ndarray, shape (K,)
        Aligned and trimmed to the shorter length.
    delay : int
        The removed delay (see ``estimate_delay``).
    """
    delay = estimate_delay(reference, estimate, max_delay)
    if delay > 0:
        estimate = estimate[delay:]
    elif delay < 0:
        reference = reference[-delay:]
    length = min(len(reference), len(estimate))
    return reference[:length], estimate[:length], delay


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), both signals zero-mean, clipped to +-MAX_SI_SDR_DB.

    The clip keeps the two degenerate cases finite without dropping them: an exact copy (no noise: +100 dB)
    and a silent or orthogonal reconstruction (no target: -100 dB).

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,), float, 16 kHz
        The original and the aligned reconstruction, equal length.

    Returns
    -------
    float
        SI-SDR in dB, in [-100, 100].

    Raises
    ------
    ValueError
        The original is silent (constant).
    """
    reference = reference.astype(np.float64) - reference.mean()
    estimate = estimate.astype(np.float64) - estimate.mean()
    ref_energy = float(np.dot(reference, reference))
    if ref_energy == 0.0:
        raise ValueError("the original is silent")
    target = (np.dot(estimate, reference) / ref_energy) * reference
    noise = estimate - target
    target_energy, noise_energy = float(np.dot(target, target)), float(np.dot(noise, noise))
    if target_energy == 0.0:
        return -MAX_SI_SDR_DB
    if noise_energy == 0.0:
        return MAX_SI_SDR_DB
    return float(np.clip(10.0 * np.log10(target_energy / noise_energy), -MAX_SI_SDR_DB, MAX_SI_SDR_DB))


def pesq_wb(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Wide-band PESQ (the ``pesq`` package's ``"wb"`` mode) at 16 kHz.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,), float, 16 kHz
        The original and the aligned reconstruction, equal length.

    Returns
    -------
    float
        MOS-LQO score (higher is better).

    Raises
    ------
    ValueError
        The reconstruction is silent; the ``pesq`` package's own errors (e.g. no utterance detected) pass
        through.
    """
    from pesq import pesq

    if not np.any(estimate):
        raise ValueError("the reconstruction is silent")  # pesq itself fails with a NaN conversion error
    return float(pesq(SAMPLE_RATE, reference.astype(np.float32), estimate.astype(np.float32), "wb"))


def stoi(reference: np.ndarray, estimate: np.ndarray) -> float:
    """STOI (``pystoi``, not the extended variant) at 16 kHz.

    Parameters
    ----------
    reference, estimate : numpy.ndarray, shape (N,), float, 16 kHz
        The original and the aligned reconstruction, equal length.

    Returns
    -------
    float
        Intelligibility index (higher is better).

    Raises
    ------
    ValueError
        Fewer than 30 STFT frames survive pystoi's silence removal (it would return a meaningless 1e-5).
    """
    from pystoi import stoi as pystoi_stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = pystoi_stoi(reference.astype(np.float64), estimate.astype(np.float64), SAMPLE_RATE, extended=False)
    # pystoi warns and returns 1e-5 when fewer than 30 frames survive its silence removal: not a score
    for warning in caught:
        if "Not enough STFT frames" in str(warning.message):
            raise ValueError("too short for STOI (fewer than 30 speech frames of 25.6 ms)")
    return float(value)


def _compute(name: str, reference: np.ndarray, estimate: np.ndarray) -> float:
    if name == "pesq":
        return pesq_wb(reference, estimate)
    if name == "stoi":
        return stoi(reference, estimate)
    if name == "si_sdr":
        return si_sdr(reference, estimate)
    if name == "mel_distance":
        return mel_distance(reference, estimate, SAMPLE_RATE)
    if name == "stft_distance":
        return stft_distance(reference, estimate)
    raise KeyError(name)


def score_pair(
    reference: np.ndarray, estimate: np.ndarray, max_delay: int = 0, metrics: Tuple[str, ...] = METRICS
) -> SignalScores:
    """All signal metrics of one pair of 16 kHz mono signals (the original first).

    Parameters
    ----------
    reference : numpy.ndarray, float, 16 kHz
        The original (flattened to 1-D).
    estimate : numpy.ndarray, float, 16 kHz
        The reconstruction, resampled to 16 kHz (flattened to 1-D).
    max_delay : int, default 0
        Largest delay of the reconstruction searched and removed, in samples (see ``align``).
    metrics : tuple of str, default ``METRICS``
        Which metrics to compute.

    Returns
    -------
    SignalScores
        Every requested metric either in ``values`` or, with its reason, in ``failures`` (all failed when a
        signal holds NaN or Inf). Never raises for a metric that cannot be computed.
    """
    scores = SignalScores()
    reference = np.asarray(reference, dtype=np.float32).reshape(-1)
    estimate = np.asarray(estimate, dtype=np.float32).reshape(-1)
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(estimate))):
        for name in metrics:
            scores.failures[name] = "non-finite samples (NaN or Inf) in the audio"
        return scores
    reference, estimate, scores.delay_samples = align(reference, estimate, max_delay)
    for name in metrics:
        try:
            value = _compute(name, reference, estimate)
        except Exception as exc:  # pesq raises its own error classes; report the reason, keep going
            scores.failures[name] = _reason(name, exc)
            continue
        if not np.isfinite(value):
            scores.failures[name] = f"{name} is not finite ({value})"
        else:
            scores.values[name] = value
    return scores


def _reason(name: str, exc: Exception) -> str:
    arg = exc.args[0] if len(exc.args) == 1 else None
    message = arg.decode(errors="replace") if isinstance(arg, bytes) else str(exc)  # pesq's errors carry bytes
    message = message.strip() or type(exc).__name__
    return f"{name}: {message}" if not message.startswith(name) else message


def score_pair_job(job: Tuple[str, np.ndarray, np.ndarray, int]) -> Tuple[str, SignalScores]:
    """Pool entry point: (cut_id, original, reconstruction, max_delay) -> (cut_id, scores).

    Parameters
    ----------
    job : tuple of (str, numpy.ndarray, numpy.ndarray, int)
        The arguments of ``score_pair`` (default metrics) after the cut id.

    Returns
    -------
    cut_id : str
    scores : SignalScores
    """
    cut_id, reference, estimate, max_delay = job
    return cut_id, score_pair(reference, estimate, max_delay)


@contextlib.contextmanager
def signal_pool(nj: int) -> Iterator[Optional[ProcessPoolExecutor]]:
    """A spawn pool of single-threaded workers (no torch in them), or None for in-process scoring.

    A worker that dies (a crash in pesq, a script without a ``__main__`` guard) breaks the pool with an error
    instead of being restarted for ever."""
    if nj <= 0:
        yield None
        return
    saved = {var: os.environ.get(var) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    # workers are started on demand and inherit these: the pool, not BLAS, provides the parallelism
    os.environ.update({var: "1" for var in saved})
    try:
        with ProcessPoolExecutor(max_workers=nj, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                yield pool
            except BaseException:  # interrupted (Ctrl-C, SIGTERM) or failed: no queued job keeps the workers alive
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
