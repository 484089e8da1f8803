"""What a judge says about the original audio (transcripts, MOS, speaker embeddings), cached per test set and
judge, and reused for every model scored.

The original audio is the same for every model, so a judge's view of it is computed once per (test set, judge):
``<cache_dir>/<test_set>.<judge key>.json`` holds the judge's identity and, per cut id, the value (a raw
transcript: :class:`TranscriptCache`; MOS scores or an embedding: :class:`OriginalsCache`) and the digest of the
samples it was computed from (:func:`audio_digest`). A value is a pure function of (audio, judge, options): the
judge's identity covers the last two, the digest the first, so an entry whose audio changed under the same id (a
test set rebuilt, renormalised, resampled) is a miss, never a stale hit. Writes are atomic, so parallel scoring
jobs can at worst redo work.

The same class caches a judge's view of one decode's reconstructions (MOS scores, embeddings), which a second ASR
judge's scoring run would otherwise compute again: a re-decode that changed the audio is a miss there too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional, Union

import numpy as np

from fcodec.utils.io import atomic_write_json

PathLike = Union[str, os.PathLike]


class OriginalsCache:
    """Values computed from the original audio of one test set by one judge (transcripts, MOS, embeddings), read
    from and saved to ``<cache_dir>/<test_set>.<judge_key>.json``.

    An unreadable file, or one written by a judge of another identity, is ignored with a warning (it is
    overwritten on ``save``).

    Parameters
    ----------
    cache_dir : str or os.PathLike
        Folder of the cache files.
    test_set : str
        Test set name (``test_aishell``, ...).
    judge_key : str
        Short hash of the judge's identity (``WhisperJudge.key``).
    judge_identity : dict
        The judge's full identity (``WhisperJudge.identity``), stored in the file and compared on reading.
    """

    section: ClassVar[str] = "values"  # the file's key holding the entries
    field: ClassVar[str] = "value"  # an entry's key holding the value

    def __init__(self, cache_dir: PathLike, test_set: str, judge_key: str, judge_identity: Dict[str, Any]):
        self.path = Path(cache_dir) / f"{test_set}.{judge_key}.json"
        self.judge_identity = judge_identity
        self.entries: Dict[str, Dict[str, Any]] = {}
        self.hits = 0
        self.entries = self._read(warn=True)

    def _read(self, warn: bool) -> Dict[str, Dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if warn:
                logging.warning("ignoring unreadable cache %s: %s", self.path, exc)
            return {}
        if stored.get("judge") != self.judge_identity:
            if warn:
                logging.warning("ignoring cache %s: it was written by another judge", self.path)
            return {}
        return stored.get(self.section, {})

    def get(self, cut_id: str, audio: str) -> Optional[Any]:
        """The cached value of ``cut_id``, or None when absent or cached for other audio.

        Parameters
        ----------
        cut_id : str
            The test cut's id.
        audio : str
            The :func:`audio_digest` of the samples the judge would see; the entry must have been put with it.
        """
        entry = self.entries.get(cut_id)
        if entry is None or entry.get("audio") != audio:
            return None
        self.hits += 1
        return entry[self.field]

    def put(self, cut_id: str, audio: str, value: Any) -> None:
        """Remember a value (in memory until ``save``); ``audio`` as for ``get``."""
        self.entries[cut_id] = {"audio": audio, self.field: value}

    def save(self) -> Path:
        """Write the cache atomically, merged with entries a parallel job saved since it was read; return the
        path."""
        # merge with what a parallel job may have written since we read the file
        self.entries = {**self._read(warn=False), **self.entries}
        return atomic_write_json(self.path, {"judge": self.judge_identity, self.section: self.entries})


def audio_digest(audio: np.ndarray) -> str:
    """A short digest of the samples themselves (float32): what every cached value is keyed by, so that changed
    audio invalidates it whatever happened to the files' names, durations and times (a copy, a restored backup)."""
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.sha256(samples.tobytes()).hexdigest()[:16] + f"-{samples.size}"


class TranscriptCache(OriginalsCache):
    """The originals' transcripts of one test set by one ASR judge."""

    section = "transcripts"
    field = "text"
