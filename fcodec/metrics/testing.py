"""Scoring inputs made without the codec, for the tests and tools/benchmarks/bench_scoring.py: test cuts from
audio arrays, and a decode directory whose "reconstructions" are the originals (optionally noisy) at 24 kHz."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from fcodec.layout import decode_format

RECON_RATE = 24000


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) of a 1-D signal from ``rate_in`` to ``rate_out`` Hz;
    returns float32."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


def make_test_cuts(root: Path, items: Sequence[Tuple[str, np.ndarray, str, str]], rate: int = 16000):
    """items: (cut_id, audio, text, language) -> CutSet written to root/test.jsonl.gz (returned with its path).

    Parameters
    ----------
    root : Path
        Output folder; the audio goes to ``root/wav/<cut_id>.wav`` (float WAV).
    items : sequence of (str, numpy.ndarray, str, str)
        Cut id, mono audio at ``rate``, supervision text and language tag.
    rate : int, default 16000
        Sample rate of the audio in Hz.

    Returns
    -------
    cuts : lhotse.CutSet
        One cut per item, a supervision spanning the whole recording.
    path : Path
        ``root/test.jsonl.gz``.
    """
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

    cuts = []
    (root / "wav").mkdir(parents=True, exist_ok=True)
    for cut_id, audio, text, language in items:
        path = root / "wav" / f"{cut_id}.wav"
        sf.write(path, audio, rate, subtype="FLOAT")
        rec = Recording.from_file(path, recording_id=cut_id)
        sup = SupervisionSegment(
            id=cut_id, recording_id=cut_id, start=0.0, duration=rec.duration, text=text, language=language
        )
        cuts.append(MonoCut(id=cut_id, start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    cutset = CutSet.from_cuts(cuts)
    path = root / "test.jsonl.gz"
    cutset.to_file(path)
    return cutset, path


def make_decode_dir(
    decode_dir: Path,
    cuts,
    transform: Callable[[str, np.ndarray], Optional[np.ndarray]],
    failed: Optional[Dict[str, str]] = None,
    bitrate: float = 550.0,
    frame_rate: float = 50.0,
) -> Path:
    """Reconstruction of each cut = transform(cut_id, original 16 kHz audio) at 24 kHz; None leaves it out.

    Parameters
    ----------
    decode_dir : Path
        The decode directory to write (``fcodec.layout.decode_format`` layout, ``.done`` last).
    cuts : lhotse.CutSet
        The test cuts (16 kHz).
    transform : callable (str, numpy.ndarray) -> numpy.ndarray or None
        Cut id and original audio -> "reconstruction" at 16 kHz (resampled to 24 kHz before writing).
    failed : dict of str to str, optional
        Cut id -> reason: these cuts get no reconstruction and are listed in ``failed.tsv``.
    bitrate : float, default 550.0
        Written to ``summary.json`` (bits per second).
    frame_rate : float, default 50.0
        Written to ``summary.json`` (also as ``tokens_per_second``).

    Returns
    -------
    Path
        ``decode_dir``.
    """
    from lhotse import CutSet

    failed = dict(failed or {})
    recon = []
    for cut in cuts:
        if cut.id in failed:
            continue
        audio = transform(cut.id, cut.load_audio()[0])
        if audio is None:
            continue
        recon.append(
            decode_format.write_recon_cut(
                cut, resample(audio, 16000, RECON_RATE), RECON_RATE, decode_dir / decode_format.WAV_DIR
            )
        )
    CutSet.from_cuts(recon).to_file(decode_dir / decode_format.RECON_CUTS)
    decode_format.write_failed_tsv(decode_dir / decode_format.FAILED, failed)
    decode_format.write_decode_summary(
        decode_dir,
        {
            "frame_rate": frame_rate,
            "bitrate": bitrate,
            "tokens_per_second": frame_rate,
            "num_cuts": len(cuts),
            "num_failed": len(failed),
            "model": "test-transform",
        },
    )
    decode_format.mark_done(decode_dir)
    return decode_dir


def speechlike(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    """A voiced, syllable-rate modulated harmonic signal with a little noise: enough like speech for PESQ's and
    STOI's voice activity detection, and deterministic.

    Parameters
    ----------
    seconds : float
        Duration.
    seed : int
        Seed of the random pitch offset and noise.
    rate : int, default 16000
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray, shape (int(seconds * rate),), float32
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 40 * rng.random() + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t - np.pi / 2)) * np.minimum(1.0, t * 10)
    audio = 0.1 * voiced * envelope + 0.003 * rng.standard_normal(len(t))
    return audio.astype(np.float32)
