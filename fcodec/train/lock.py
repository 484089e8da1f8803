"""One training run per exp dir: ``<exp_dir>/train.lock`` holds the pid, host and start time of the run in it.

A second run in the same folder would resume from the first one's checkpoints, interleave its own with them and
replace its ``best/``; it stops instead, saying who holds the folder. A lock left by a run that died (its pid
no longer exists on this host) is taken over with a warning; a lock from another host cannot be checked and
must be removed by hand once that run is known to be gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from fcodec.utils.cli import UserError

log = logging.getLogger(__name__)

LOCK_NAME = "train.lock"


class ExpDirLockedError(UserError, RuntimeError):
    """Another live run trains in the exp dir."""

    exit_code = 1  # not a bad option: the state of the folder or the run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _describe(holder: Optional[Dict[str, Any]]) -> str:
    if not holder:
        return "an unknown run (the lock file is unreadable)"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


def acquire(exp_dir: os.PathLike, command: str = "") -> Path:
    """Create the lock (atomically, O_EXCL) or raise :class:`ExpDirLockedError` naming its holder."""
    path = Path(exp_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": command,
    }
    for _ in range(3):  # a stale lock removed, or one released meanwhile: try again
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read(path)
            if (
                holder
                and holder.get("host") == me["host"]
                and isinstance(holder.get("pid"), int)
                and not _alive(holder["pid"])
            ):
                log.warning("%s was left by a run that is gone (%s); taking it over", path, _describe(holder))
                path.unlink(missing_ok=True)
                continue
            if holder is None and not path.exists():
                continue
            raise ExpDirLockedError(
                f"{path.parent} is in use by another training run ({_describe(holder)}; lock file {path}). Wait "
                f"for it to finish, use another --exp-dir, or delete {path} if that run is gone"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
            f.write("\n")
        return path
    raise ExpDirLockedError(f"cannot take the lock {path}: it keeps changing (another run starting?)")


def release(path: Path) -> None:
    """Remove the lock if it is still ours."""
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def exp_dir_lock(exp_dir: os.PathLike, command: str = "", enabled: bool = True) -> Iterator[None]:
    """Hold the exp dir's lock for the ``with`` block (``enabled=False``: ranks other than 0 take none)."""
    if not enabled:
        yield
        return
    path = acquire(exp_dir, command)
    try:
        yield
    finally:
        release(path)
