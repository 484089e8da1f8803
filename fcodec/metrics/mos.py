"""UTMOS (``utmos22_strong``, the FocalCodec papers' naturalness MOS), used only when it is on disk.

The predictor's code and weights normally come from torch.hub (``tarepan/SpeechMOS``) and its GitHub release,
which an offline machine cannot reach. We look for them locally, in this order:
  1. ``--mos-model DIR``: a SpeechMOS checkout (``hubconf.py``) holding ``utmos22_strong_step7459_v1.pt`` or
     with it in torch.hub's checkpoint folder;
  2. torch.hub's cache: ``<hub dir>/tarepan_SpeechMOS_*`` and ``<hub dir>/checkpoints/utmos22_strong_step7459_v1.pt``.
When either part is missing (or fails to load) MOS is skipped with one line saying why; no value is invented.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy as np

CHECKPOINT = "utmos22_strong_step7459_v1.pt"
ENTRY = "utmos22_strong"


@dataclass
class MosPredictor:
    name: str
    model: Any

    def predict(self, audio_16k: np.ndarray) -> float:
        import torch

        with torch.no_grad():
            return float(self.model(torch.from_numpy(np.asarray(audio_16k, dtype=np.float32))[None], 16000)[0])


def _candidate_repos(hint: Optional[Path]) -> List[Path]:
    import torch

    if hint is not None:
        return [hint]
    hub = Path(torch.hub.get_dir())
    return sorted(hub.glob("tarepan_SpeechMOS_*")) if hub.is_dir() else []


def _shown(path) -> str:
    """A path as RESULTS.md may print it: the user's home as ~, so no machine-specific path lands in a report."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home != "/" and text.startswith(home) else text


def find_mos_predictor(hint: Optional[Union[str, os.PathLike]] = None) -> Tuple[Optional[MosPredictor], str]:
    """(predictor, '') when UTMOS is available locally, else (None, why it was skipped)."""
    import torch

    hint_path = Path(hint) if hint else None
    repos = [repo for repo in _candidate_repos(hint_path) if (repo / "hubconf.py").is_file()]
    if not repos:
        where = hint_path if hint_path else f"{torch.hub.get_dir()}/tarepan_SpeechMOS_*"
        return None, f"MOS skipped: no UTMOS code (SpeechMOS hubconf.py) found at {_shown(where)}"
    repo = repos[-1]
    checkpoints = [repo / CHECKPOINT, Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT]
    checkpoint = next((path for path in checkpoints if path.is_file()), None)
    if checkpoint is None:
        return None, f"MOS skipped: UTMOS weights {CHECKPOINT} not found in {' or '.join(map(_shown, checkpoints))}"
    try:
        model = torch.hub.load(str(repo), ENTRY, source="local", trust_repo=True, pretrained=False)
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        model.eval()
    except Exception as exc:  # the hub code needs packages we do not install (torchaudio): say so, go on
        return None, f"MOS skipped: UTMOS from {_shown(repo)} with {_shown(checkpoint)} failed to load ({type(exc).__name__}: {exc})"
    logging.info("MOS predictor: UTMOS %s from %s", checkpoint, repo)
    return MosPredictor(name=f"UTMOS {ENTRY} ({checkpoint.name})", model=model), ""
