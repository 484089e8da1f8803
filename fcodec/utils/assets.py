"""Where the optional real test assets live.

The developers' machines and CI have a ``shared/`` folder beside the repository with a few minutes of real speech
(``shared/audio``) and a real multilingual Whisper (``shared/models/whisper-base.pt``). A user's clone does not:
callers must handle ``None``. ``FCODEC_SHARED`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Optional[Path]:
    env = os.environ.get("FCODEC_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def shared_audio_dir() -> Optional[Path]:
    root = shared_dir()
    path = root / "audio" if root else None
    return path if path is not None and path.is_dir() else None


def shared_whisper_checkpoint() -> Optional[Path]:
    root = shared_dir()
    path = root / "models" / "whisper-base.pt" if root else None
    return path if path is not None and path.is_file() else None


def shared_nisqa_checkpoint() -> Optional[Path]:
    """NISQA v2.0 weights (``shared/models/nisqa/nisqa.tar``), or None."""
    root = shared_dir()
    path = root / "models" / "nisqa" / "nisqa.tar" if root else None
    return path if path is not None and path.is_file() else None
