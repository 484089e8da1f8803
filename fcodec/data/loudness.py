"""Loudness normalisation of cuts to a target integrated loudness (ITU-R BS.1770, measured with ``pyloudnorm``).

Stable Codec trains on audio normalised to -20 LUFS: a codec then sees one loudness instead of whatever each
corpus was recorded at (AISHELL-1 and LibriSpeech differ by several dB). Stage 2 of the recipe does it when asked
(``--loudness -20`` of ``fcodec.bin.make_cuts``, or ``loudness: -20`` in the data config), for every split.

Each cut's loudness is measured once, on the whole utterance, and the cut gets a fixed gain as a lhotse
``Volume`` transform (``cut.perturb_volume``): the gain is in the manifest, applied whenever the audio is loaded,
and the same for every random crop of the utterance (lhotse's own ``normalize_loudness`` transform would measure
each loaded crop anew). The gain is capped so the peak stays below ``PEAK`` (the decoder's output is clamped to
[-1, 1]). The record is ``cut.custom["loudness"]``: ``measured`` (LUFS), ``target``, ``gain`` and ``peak_limited``.
A cut too quiet to measure (silence: -inf LUFS) keeps its level and is logged; it is not an error.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

import numpy as np

PEAK = 0.99
DEFAULT_TARGET = -20.0


def measure_loudness(samples: np.ndarray, sampling_rate: int) -> float:
    """Integrated loudness in LUFS of a mono signal (-inf for silence); blocks of 400 ms, or the whole clip if
    shorter."""
    import pyloudnorm

    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    duration = samples.shape[0] / sampling_rate
    meter = pyloudnorm.Meter(sampling_rate, block_size=min(0.4, duration - 1e-6))
    return float(meter.integrated_loudness(samples))


def loudness_gain(samples: np.ndarray, sampling_rate: int, target: float) -> Dict[str, Any]:
    """What :func:`normalize_cut` records: the measured loudness, the target and the (peak-limited) gain."""
    measured = measure_loudness(samples, sampling_rate)
    if not math.isfinite(measured):
        return {"measured": None, "target": float(target), "gain": 1.0, "peak_limited": False}
    gain = 10.0 ** ((target - measured) / 20.0)
    peak = float(np.abs(samples).max())
    limited = peak * gain > PEAK
    if limited:
        gain = PEAK / peak
    return {"measured": round(measured, 3), "target": float(target), "gain": float(gain), "peak_limited": limited}


def normalize_cut(cut, target: float):
    """``cut`` with the gain that brings it to ``target`` LUFS (a lhotse transform) and the record in
    ``cut.custom["loudness"]``."""
    from lhotse.utils import fastcopy

    record = loudness_gain(cut.load_audio()[0], cut.sampling_rate, target)
    out = cut.perturb_volume(record["gain"], affix_id=False) if record["gain"] != 1.0 else cut
    custom = dict(out.custom or {})
    custom["loudness"] = record
    return fastcopy(out, custom=custom)


def normalize_cuts(cuts, target: Optional[float], num_workers: int = 4, desc: str = "cuts"):
    """Every cut of ``cuts`` normalised to ``target`` LUFS (None: ``cuts`` unchanged), in order."""
    from lhotse import CutSet

    if target is None:
        return cuts
    cut_list = list(cuts)
    with ThreadPoolExecutor(max(1, int(num_workers))) as pool:  # reading audio releases the GIL
        done = list(pool.map(lambda c: normalize_cut(c, target), cut_list))
    silent = [c.id for c in done if c.custom["loudness"]["measured"] is None]
    limited = sum(c.custom["loudness"]["peak_limited"] for c in done)
    if silent:
        logging.warning(
            f"{desc}: {len(silent)} cuts too quiet to measure their loudness keep their level (e.g. {silent[:3]})"
        )
    logging.info(f"{desc}: {len(done)} cuts normalised to {target} LUFS ({limited} peak-limited to {PEAK})")
    return CutSet.from_cuts(done)
