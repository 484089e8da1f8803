"""Reading and writing lhotse manifests safely: atomic writes and errors that say which stage makes a file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
