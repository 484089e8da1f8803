"""Reading and writing lhotse manifests safely: atomic writes, errors that say which stage makes a file, and no
audio source that would run a command or fetch a URL (:mod:`fcodec.data.sources`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fcodec.data.sources import check_all
from fcodec.utils.io import atomic_path


def save_manifest(manifest: Any, path: os.PathLike) -> Path:
    """``manifest.to_file(path)``, atomically (the temporary file keeps the suffix lhotse picks the format by)."""
    with atomic_path(path) as tmp:
        manifest.to_file(tmp)
    return Path(path)


def require_file(path: os.PathLike, what: str, made_by: str) -> Path:
    """Fail with a message naming the missing file, what it is and which stage writes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: expected {path} ({made_by})")
    return path


def load_cuts(path: os.PathLike):
    """An eager CutSet from ``path`` whose audio sources are all safe to read (:func:`fcodec.data.sources.check_sources`);
    an empty manifest file gives an empty CutSet (lhotse would give None)."""
    from lhotse import CutSet, load_manifest

    cuts = load_manifest(path)
    cuts = CutSet() if cuts is None else cuts.to_eager()
    check_all(cuts)
    return cuts


def load_recordings(path: os.PathLike):
    """An eager RecordingSet from ``path``, its sources checked like :func:`load_cuts`'s."""
    from lhotse import RecordingSet

    recordings = RecordingSet.from_file(path)
    check_all(recordings)
    return recordings
