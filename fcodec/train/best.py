"""The best model of a stage, kept as an exported folder that is replaced atomically.

Whenever the dev loss improves, the model is exported (for the codec: ``save_pretrained`` -> ``config.json`` +
``model.safetensors``, plus ``training_info.json``) into a fresh temporary folder, which then replaces
``<exp_dir>/best``. A run killed in the middle leaves the previous best folder (or, in the tiny window between
the two renames, ``best.old``, which :func:`recover_best_dir` puts back).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

from fcodec.utils.io import atomic_write_json


def recover_best_dir(best_dir: Path) -> None:
    """Undo a swap interrupted between its two renames, and drop leftovers of interrupted exports."""
    best_dir = Path(best_dir)
    old = best_dir.with_name(best_dir.name + ".old")
    if not best_dir.exists() and old.exists():
        old.rename(best_dir)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)
    for leftover in best_dir.parent.glob(f".{best_dir.name}.*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_best_dir(best_dir: Path, export: Callable[[Path], None], info: Dict[str, Any]) -> Path:
    """Call ``export(tmp_dir)``, add ``training_info.json``, and swap the result in as ``best_dir``."""
    best_dir = Path(best_dir)
    best_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_best_dir(best_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{best_dir.name}.", suffix=".tmp", dir=best_dir.parent))
    try:
        export(tmp)
        atomic_write_json(tmp / "training_info.json", info)
        old = best_dir.with_name(best_dir.name + ".old")
        if best_dir.exists():
            best_dir.rename(old)
        tmp.rename(best_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return best_dir
