"""Is a recording usable? Cheap header probes and full reads of audio files, in parallel with progress.

Stage 1 probes headers (a file lhotse could not even open would stop its recipe); stage 2 reads every sample,
because only a full read finds a file that is cut short or holds NaN/inf samples. Each check returns ``None``
for a usable file, or a :class:`Problem` (a short reason for the report, plus the detail).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Sequence, TypeVar

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

# The reasons a bad-input report gives (one vocabulary for every stage).
MISSING = "missing"
UNREADABLE = "unreadable"
EMPTY = "empty"
NOT_FINITE = "not finite"
TOO_SHORT = "too short"
EMPTY_TRANSCRIPT = "empty transcript"
NO_TRANSCRIPT = "no transcript"
UNDECODABLE_TEXT = "undecodable text"
CONTROL_CHARACTERS = "control characters"


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def probe_audio(path: str) -> Optional[Problem]:
    """Header only: the file exists, libsndfile can open it, and it holds at least one sample."""
    if not os.path.isfile(path):
        return Problem(MISSING, "no such file")
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile raises its own error types, and RuntimeError on old versions
        return Problem(UNREADABLE, error_detail(exc))
    if info.frames <= 0:
        return Problem(EMPTY, "0 samples")
    return None


def check_audio(path: str, block_frames: int = 1 << 18) -> Optional[Problem]:
    """Header probe plus a full read: every sample decodes, the count matches the header, all are finite."""
    problem = probe_audio(path)
    if problem is not None:
        return problem
    try:
        with sf.SoundFile(path) as f:
            expected = f.frames
            read = 0
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                finite = np.isfinite(block).all(axis=1)
                if not finite.all():
                    return Problem(NOT_FINITE, f"NaN or inf from sample {read + int(np.argmin(finite))}")
                read += block.shape[0]
    except Exception as exc:
        return Problem(UNREADABLE, error_detail(exc))
    if read != expected:
        return Problem(UNREADABLE, f"header says {expected} samples, decoded {read}")
    return None


T = TypeVar("T")


def check_many(
    items: Sequence[T],
    check: Callable[[T], Optional[Problem]],
    num_workers: int = 1,
    desc: str = "checking audio",
) -> Dict[int, Problem]:
    """Run ``check`` over ``items`` with a thread pool (libsndfile and numpy release the GIL).

    Returns ``{index: problem}`` for the items that are not usable.
    """
    problems: Dict[int, Problem] = {}
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        results: Iterable[Optional[Problem]] = pool.map(check, items)
        for index, problem in enumerate(tqdm(results, total=len(items), desc=desc, unit="file", mininterval=2.0)):
            if problem is not None:
                problems[index] = problem
    return problems


DETAIL_CHARS = 300  # lhotse's errors list every backend it tried: keep the start, which says what went wrong


def error_detail(exc: BaseException) -> str:
    """An exception as one short line for a bad-input report."""
    text = " ".join(str(exc).split())
    return text[:DETAIL_CHARS] if text else type(exc).__name__
