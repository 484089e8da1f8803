"""Atomic file writes: a reader (or a resumed run) never sees half a file.

Everything is written to a temporary file in the destination folder, flushed to disk, and renamed over the
destination; a rename within one file system is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Union

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed.

    The temporary name ends in the destination's suffixes (``.train.jsonl.gz.<random>.tmp.jsonl.gz``): writers
    that choose the format by suffix (lhotse manifests) write what the destination should hold."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    import torch

    def write(tmp: Path) -> None:
        # Through a file object: given a path, torch names the archive inside the zip after the (random)
        # temporary file, so equal objects would give different bytes (and different checksums).
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return atomic_write(path, write)


def hash_file(path: PathLike, digest: Any = None, chunk: int = 1 << 22) -> Any:
    """Feed the bytes of ``path`` to ``digest`` (a hashlib object; default a new sha256) in chunks; return it.

    Chunked, so a multi-GB checkpoint is hashed without being read into memory."""
    import hashlib

    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest


def file_sha256(path: PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    return hash_file(path).hexdigest()
