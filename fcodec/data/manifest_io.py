"""Reading and writing lhotse manifests safely: atomic writes and errors that say which stage makes a file."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def save_manifest(manifest: Any, path: os.PathLike) -> Path:
    """``manifest.to_file(path)``, atomically: lhotse picks the format from the suffix, so the temporary file
    keeps the real name inside a temporary folder next to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        manifest.to_file(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def require_file(path: os.PathLike, what: str, made_by: str) -> Path:
    """Fail with a message naming the missing file, what it is and which stage writes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: expected {path} ({made_by})")
    return path
