"""Reading one recording as mono float32 samples at a given rate: the one reader of decoding, scoring and streaming.

lhotse reads and resamples (a cut, a recording, or a file path made into a recording), so every recipe stage
resamples the same way. A recording that cannot be used raises :class:`AudioReadError`, whose message names the file and
the problem in the bad-input vocabulary of :mod:`fcodec.data.audio_check` (missing, unreadable, empty, not
finite); callers list it and go on with the next recording.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

from fcodec.data.audio_check import EMPTY, MISSING, NOT_FINITE, UNREADABLE, error_detail
from fcodec.data.sources import check_sources


class AudioReadError(ValueError):
    """``reason`` (one of fcodec.data.audio_check's reasons), ``source`` (the file) and ``detail``."""

    def __init__(self, reason: str, source: str, detail: str = ""):
        self.reason, self.source, self.detail = reason, source, detail
        super().__init__(f"{reason}: {source}" + (f": {detail}" if detail else ""))


def _recording(audio: Any) -> Any:
    """The lhotse Recording behind a cut or recording (None for a cut without one)."""
    if hasattr(audio, "sources"):
        return audio
    return audio.recording if getattr(audio, "has_recording", False) else None


def _source_name(audio: Any) -> str:
    """The file (or URL) a cut or recording reads, else what kind of source it is."""
    recording = _recording(audio)
    if recording is None or not recording.sources:
        return f"{getattr(audio, 'id', 'audio')} (no recording)"
    if isinstance(recording.sources[0].source, str):
        return recording.sources[0].source
    return f"{recording.id} ({recording.sources[0].type} source)"


def _missing_file(audio: Any) -> Optional[str]:
    recording = _recording(audio)
    for source in recording.sources if recording is not None else []:
        if source.type == "file" and not os.path.isfile(source.source):
            return source.source
    return None


def read_mono(cut_or_path: Any, sample_rate: int) -> np.ndarray:
    """Samples of ``cut_or_path`` (a lhotse cut or recording, or an audio file path) as a 1-D float32 array at
    ``sample_rate``, channels averaged. Raises :class:`AudioReadError` naming the file for missing, unreadable,
    empty or non-finite audio, and :class:`fcodec.data.sources.UnsafeSourceError` for a command or URL source."""
    if isinstance(cut_or_path, (str, os.PathLike)):
        path = os.fspath(cut_or_path)
        if not os.path.isfile(path):
            raise AudioReadError(MISSING, path, "no such file")
        from lhotse import Recording

        try:
            audio_source: Any = Recording.from_file(path)
        except Exception as exc:  # lhotse wraps soundfile/audioread/ffmpeg errors in several types
            raise AudioReadError(UNREADABLE, path, error_detail(exc)) from exc
    else:
        audio_source = check_sources(cut_or_path)
    missing = _missing_file(audio_source)
    if missing is not None:
        raise AudioReadError(MISSING, missing, "no such file")
    try:
        if audio_source.sampling_rate != sample_rate:
            audio_source = audio_source.resample(sample_rate)
        audio = np.asarray(audio_source.load_audio(), dtype=np.float32)
    except Exception as exc:
        raise AudioReadError(UNREADABLE, _source_name(audio_source), error_detail(exc)) from exc
    audio = audio.mean(axis=0) if audio.ndim == 2 else audio.reshape(-1)
    if audio.size == 0:
        raise AudioReadError(EMPTY, _source_name(audio_source), "0 samples")
    finite = np.isfinite(audio)
    if not finite.all():
        raise AudioReadError(NOT_FINITE, _source_name(audio_source), f"NaN or inf from sample {int(np.argmin(finite))}")
    return np.ascontiguousarray(audio, dtype=np.float32)
