"""The best model of a training run, kept as an exported folder that is replaced atomically.

Whenever the dev loss improves, the model is exported (for the codec: ``save_pretrained`` -> ``config.json`` +
``model.safetensors``, plus ``training_info.json``) into a fresh temporary folder, which then replaces
``<exp_dir>/best``. A run killed in the middle leaves the previous best folder (or, in the tiny window between
the two renames, ``best.old``, which :func:`recover_best_dir` puts back).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from fcodec.utils.cli import UserError
from fcodec.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)
INFO = "training_info.json"


class ForeignBestError(UserError, RuntimeError):
    """``best/`` holds a model no checkpoint of this exp dir continues: a run from step 0 would replace it."""

    exit_code = 1  # not a bad option: the state of the folder or the run


def read_best_info(best_dir: Path) -> Optional[Dict[str, Any]]:
    """``best/training_info.json`` (None when there is none; {} when it cannot be read)."""
    path = Path(best_dir) / INFO
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# the id of a run that started from step 0 and has written no checkpoint yet (removed by its first checkpoint): a
# best/ of that run, left by a kill before any checkpoint was complete, is continued, not refused
UNCHECKPOINTED_RUN = ".run-without-checkpoint"


def start_run(exp_dir: Path, best_dir: Path, checkpoint_dir: Path, run_id: str) -> str:
    """The id of a run starting from step 0: ``run_id``, or the id of the run that exported ``best_dir`` and was
    killed before its first checkpoint (it is that run again). A ``best_dir`` of any other run is refused
    (:func:`refuse_foreign_best`). Records the id in ``exp_dir`` until the first checkpoint."""
    info = read_best_info(best_dir)
    marker = Path(exp_dir) / UNCHECKPOINTED_RUN
    try:
        earlier = marker.read_text(encoding="utf-8").strip()
    except OSError:
        earlier = ""
    if info is not None and earlier and info.get("run_id") == earlier:
        log.info(
            "%s was exported by this exp dir's run %s, which wrote no checkpoint: continuing it", best_dir, earlier
        )
        run_id = earlier
    else:
        refuse_foreign_best(best_dir, checkpoint_dir)
    atomic_write_text(marker, run_id + "\n")
    return run_id


def checkpointed(exp_dir: Path) -> None:
    """The run has a checkpoint to continue from: its best/ is no longer an orphan (see :func:`start_run`)."""
    (Path(exp_dir) / UNCHECKPOINTED_RUN).unlink(missing_ok=True)


def refuse_foreign_best(best_dir: Path, checkpoint_dir: Path) -> None:
    """A run starting from step 0 must not overwrite the exported model of an earlier one."""
    info = read_best_info(best_dir)
    if info is not None:
        raise ForeignBestError(
            f"{best_dir} holds the best model of an earlier run (step {info.get('step')}, dev loss "
            f"{info.get('dev_loss')}), but {checkpoint_dir} has no checkpoint to continue that run, and training "
            f"from step 0 would replace it. Move {best_dir} aside (or use another --exp-dir) to start afresh"
        )


def may_replace_best(best_dir: Path, loss: float, run_id: str) -> bool:
    """Whether a model validated at ``loss`` by run ``run_id`` may replace ``best_dir``: only a better model of
    the same run (a resumed run may reach a validation the exported model already passed)."""
    info = read_best_info(best_dir)
    if not info:
        return True
    if info.get("run_id") not in (None, run_id):
        log.warning(
            "%s belongs to another run (%s, this run is %s); left as it is", best_dir, info.get("run_id"), run_id
        )
        return False
    old = info.get("dev_loss")
    if isinstance(old, (int, float)) and math.isfinite(old) and not (math.isfinite(loss) and loss < old):
        log.info("%s keeps its model (dev loss %.6g); this one's is %.6g", best_dir, old, loss)
        return False
    return True


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
        atomic_write_json(tmp / INFO, info)
        old = best_dir.with_name(best_dir.name + ".old")
        if best_dir.exists():
            best_dir.rename(old)
        tmp.rename(best_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return best_dir
