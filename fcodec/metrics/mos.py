"""MOS judges: non-intrusive speech quality predictors, chosen by name, batched.

    nisqa   NISQA v2.0 (:mod:`fcodec.metrics.nisqa`): MOS and noisiness, discontinuity, coloration, loudness; the
            MOS_Q of the FocalCodec papers' tables. Weights: ``nisqa.tar`` (CC BY-NC-SA 4.0), fetched by the
            recipe's stage 3 (``python -m fcodec.bin.fetch_mos``), or ``shared/models/nisqa`` beside the repository.
    dnsmos  DNSMOS P.835 OVRL / SIG / BAK and P.808 (:mod:`fcodec.metrics.dnsmos`): ONNX models shipped in the
            ``speechmos`` wheel (MIT), nothing to fetch.
    utmos   UTMOS ``utmos22_strong``: only when named, and only from code and weights already on disk (below).

A judge that cannot be loaded (weights or package missing) is skipped with one line saying why, and scoring goes
on without it; no value is invented. Each judge's ``predict(waveforms, sample_rate, batch_size)`` returns one
dict per waveform, keys ``dimensions`` (the headline MOS first), NaN where a waveform cannot be scored.

UTMOS (``utmos22_strong``, the FocalCodec papers' naturalness MOS) is used only when it is on disk.
The predictor's code and weights normally come from torch.hub (``tarepan/SpeechMOS``) and its GitHub release,
which an offline machine cannot reach. We look for them locally, in this order:
  1. ``--mos-model DIR``: a SpeechMOS checkout (``hubconf.py``) holding ``utmos22_strong_step7459_v1.pt`` or
     with it in torch.hub's checkpoint folder;
  2. torch.hub's cache: ``<hub dir>/tarepan_SpeechMOS_*`` and ``<hub dir>/checkpoints/utmos22_strong_step7459_v1.pt``.
When either part is missing (or fails to load) UTMOS is skipped with one line saying why.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from fcodec.utils.cli import one_line

CHECKPOINT = "utmos22_strong_step7459_v1.pt"
ENTRY = "utmos22_strong"
MOS_JUDGES = ("nisqa", "dnsmos", "utmos")
DEFAULT_MOS_JUDGES = ("nisqa", "dnsmos")  # UTMOS runs hub code: only when the user names it
# how RESULTS.md names a judge's dimensions
DIMENSION_TITLES = {
    "mos": "MOS",
    "noisiness": "noisiness",
    "discontinuity": "discontinuity",
    "coloration": "coloration",
    "loudness": "loudness",
    "ovrl": "OVRL",
    "sig": "SIG",
    "bak": "BAK",
    "p808": "P.808",
}
JUDGE_TITLES = {"nisqa": "NISQA", "dnsmos": "DNSMOS", "utmos": "UTMOS"}


@dataclass
class MosPredictor:
    name: str
    model: Any

    def predict_one(self, audio_16k: np.ndarray) -> float:
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
    return "~" + text[len(home) :] if home != "/" and text.startswith(home) else text


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
        return (
            None,
            f"MOS skipped: UTMOS from {_shown(repo)} with {_shown(checkpoint)} failed to load ({type(exc).__name__}: {one_line(exc)})",
        )
    logging.info("MOS predictor: UTMOS %s from %s", checkpoint, repo)
    return MosPredictor(name=f"UTMOS {ENTRY} ({checkpoint.name})", model=model), ""


class UtmosJudge:
    """UTMOS as a MOS judge (one utterance per forward pass: its hub code takes one length at a time)."""

    name = "utmos"
    dimensions = ("mos",)

    def __init__(self, predictor: MosPredictor):
        self.predictor = predictor
        self.description = predictor.name
        self.identity = {"name": "utmos", "model": predictor.name}

    def predict(
        self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16
    ) -> List[Dict[str, float]]:
        if sample_rate != 16000:
            raise ValueError(f"UTMOS scores 16 kHz audio here, got {sample_rate} Hz")
        return [{"mos": self.predictor.predict_one(w)} for w in waveforms]


class NisqaJudge:
    """NISQA v2.0 as a MOS judge; its identity holds the weights' sha256, so a cache never mixes weights. It scores
    audio at its own rate (``native_rate``), as NISQA's reference code and the published MOS_Q tables do: a 24 kHz
    reconstruction resampled to 16 kHz first scores 0.02-0.26 lower."""

    name = "nisqa"
    native_rate = True

    def __init__(self, path: Path, device: str = "cpu"):
        from fcodec.metrics.nisqa import NISQA_DIMENSIONS, NISQA_SHA256, NisqaPredictor
        from fcodec.utils.io import file_sha256

        self.predictor = NisqaPredictor.from_checkpoint(path, device=device)
        self.dimensions = tuple(NISQA_DIMENSIONS)
        sha256 = file_sha256(path)
        published = " (the published weights)" if sha256 == NISQA_SHA256 else " (NOT the published weights)"
        self.description = f"NISQA v2.0 {Path(path).name}, sha256 {sha256[:12]}{published}"
        self.identity = {"name": "nisqa", "sha256": sha256, "sample_rate": "native"}

    def predict(
        self, waveforms: Sequence[np.ndarray], sample_rate: int, batch_size: int = 16
    ) -> List[Dict[str, float]]:
        return self.predictor.predict(waveforms, sample_rate, batch_size=batch_size)


def nisqa_weights(path: Optional[Union[str, os.PathLike]]) -> Tuple[Optional[Path], str]:
    """(the NISQA weights file, '') or (None, why not): ``path`` when given, else the shared copy beside the
    repository (developers' machines and CI)."""
    from fcodec.utils.assets import shared_nisqa_checkpoint

    if path:
        if Path(path).is_file():
            return Path(path), ""
        return None, (
            f"MOS judge nisqa skipped: weights {_shown(path)} not found (python -m fcodec.bin.fetch_mos "
            f"nisqa --out-dir {_shown(Path(path).parent)} fetches them)"
        )
    shared = shared_nisqa_checkpoint()
    if shared is not None:
        return shared, ""
    return None, (
        "MOS judge nisqa skipped: no weights given (--nisqa-model) and no shared/models/nisqa/nisqa.tar "
        "beside the repository (python -m fcodec.bin.fetch_mos nisqa --out-dir DIR fetches them)"
    )


def _load_judge(name: str, nisqa_model, utmos_model, device: str, num_threads: int) -> Tuple[Optional[Any], str]:
    """(the judge, '') or (None, why it is skipped)."""
    if name == "nisqa":
        path, reason = nisqa_weights(nisqa_model)
        if path is None:
            return None, reason
        try:
            return NisqaJudge(path, device=device), ""
        except (OSError, ValueError, RuntimeError) as exc:  # a corrupt or foreign checkpoint
            return None, f"MOS judge nisqa skipped: {one_line(exc)}"
    if name == "dnsmos":
        try:
            from fcodec.metrics.dnsmos import DnsmosPredictor

            return DnsmosPredictor(num_threads=num_threads, device=device), ""
        except ImportError as exc:
            return None, (
                f"MOS judge dnsmos skipped: {exc} (pip install speechmos onnxruntime librosa onnx: "
                "the DNSMOS models ship in the speechmos wheel; onnx reads their weights)"
            )
    predictor, reason = find_mos_predictor(utmos_model)
    if predictor is None:
        return None, reason.replace("MOS skipped:", "MOS judge utmos skipped:", 1)
    return UtmosJudge(predictor), ""


# Judges loaded and checked in this process, by what they were loaded from (NISQA: the weights file as it is on
# disk now): a process that scores several times (the API, a notebook, the tests) loads each once. UTMOS is left
# out: its predictor comes from a model folder or the hub cache, which this key would not see change.
_LOADED: Dict[tuple, Any] = {}


def _loaded_key(name: str, nisqa_model, device: str, num_threads: int) -> Optional[tuple]:
    if name == "dnsmos":
        return (name, str(device), num_threads)
    if name == "nisqa":
        path, _ = nisqa_weights(nisqa_model)
        if path is not None and Path(path).is_file():
            stat = Path(path).stat()
            return (name, str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, str(device))
    return None


def _self_check(judge: Any) -> None:
    """Score two seconds of a speech-like signal once: weights that load but cannot score (malformed tensors, flipped
    bits that give NaN) raise here, at load, instead of failing every utterance of stage 8."""
    from fcodec.metrics.testing import speechlike

    scores = judge.predict([speechlike(2.0, 0)], 16000)[0]
    bad = {dim: value for dim, value in scores.items() if not math.isfinite(value)}
    if bad:
        raise ValueError(f"not finite on a test signal: {bad}")


def load_mos_judges(
    names: Sequence[str],
    *,
    nisqa_model: Optional[Union[str, os.PathLike]] = None,
    utmos_model: Optional[Union[str, os.PathLike]] = None,
    device: str = "cpu",
    num_threads: int = 0,
) -> Tuple[List[Any], Dict[str, str]]:
    """(the judges that loaded, {name: why skipped} for the others), in the order of ``names``; each skip is
    logged as one line. An unknown name is a ValueError (a typo must not silently drop a judge)."""
    unknown = [name for name in names if name not in MOS_JUDGES]
    if unknown:
        raise ValueError(f"unknown MOS judge(s) {unknown}: choose from {list(MOS_JUDGES)}")
    judges, skipped = [], {}
    for name in dict.fromkeys(names):
        judge, reason = None, ""
        key = _loaded_key(name, nisqa_model, device, num_threads)
        try:
            judge = _LOADED.get(key) if key is not None else None
            if judge is None:
                judge, reason = _load_judge(name, nisqa_model, utmos_model, device, num_threads)
                if judge is not None:
                    _self_check(judge)
                    if key is not None:
                        _LOADED[key] = judge
        except Exception as exc:  # a malformed or damaged weights file: this judge is skipped, scoring goes on
            judge, reason = (
                None,
                f"MOS judge {name} skipped: it loads but cannot score ({type(exc).__name__}: {one_line(exc)})",
            )
        if judge is None:
            logging.warning(reason)
            skipped[name] = reason
        else:
            logging.info("MOS judge %s: %s", name, judge.description)
            judges.append(judge)
    return judges, skipped
