"""The score summaries of an experiment, read in one place for RESULTS.md (fcodec.metrics.report) and the plot
(fcodec.metrics.plot): one ``ModelScore`` per ``<model>/score/<judge>/<test_set>/summary.json``
(fcodec.layout.experiment), the order of the judges and models, and a digest of what was read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from fcodec.layout.experiment import MODEL_DIR, old_layout_summaries, score_summaries, split_posthoc

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class ModelScore:
    """One score summary: one model, judge and test set.

    Parameters
    ----------
    model : str
        The model folder name (``pretrained``, ``train_50hz``, ...).
    judge : str
        The ASR judge's score folder name (``small``, ``whisper-base``, ...).
    test_set : str
        The test set name.
    path : Path
        The ``summary.json`` file.
    summary : dict
        Its content.
    """

    model: str  # the model folder: "pretrained", "train_50hz", ...
    judge: str  # "small", the judge's score folder
    test_set: str
    path: Path
    summary: Dict[str, Any]

    @property
    def paper_comparable(self) -> bool:
        return bool(self.summary.get("asr", {}).get("paper_comparable"))

    @property
    def posthoc(self) -> Optional[str]:
        """The post-hoc preset of a ``<model>+posthoc_<preset>`` row, else None."""
        match = MODEL_DIR.match(self.model)
        return match.group(2) if match else None

    @property
    def label(self) -> str:
        """The row's name in the tables: the model folder, a post-hoc row marked as such."""
        if self.posthoc is None:
            return self.model
        return f"**post-hoc** {self.posthoc} ({split_posthoc(self.model)[0]})"

    @property
    def row_order(self) -> float:
        """Row order: the pretrained model, then the trained ones by falling frame rate (the recipe's order); a
        post-hoc row just after the trained model of its bitrate (1 / frame rate of an 11-bit model at that
        bitrate), so that each trained low-rate model has its equal-bitrate baselines beside it."""
        match = MODEL_DIR.match(self.model)
        if not match:
            return math.inf
        if match.group(2):
            bitrate = summary_value(self.summary, "bitrate")
            return 11.0 / bitrate + 1e-9 if bitrate else math.inf
        return 0.0 if not match.group(1) else 1.0 / float(match.group(1))


def find_summaries(exp_dir: PathLike) -> List[ModelScore]:
    """All ``<model>/score/<judge>/<set>/summary.json`` under ``exp_dir``, by test set, model, then judge.

    Summaries in the older layout without a judge folder, and set-aside score folders, are left out.

    Parameters
    ----------
    exp_dir : str or os.PathLike
        The experiment folder.

    Returns
    -------
    list of ModelScore

    Raises
    ------
    ValueError
        A summary cannot be read or parsed (the message names the file).
    """
    scores = []
    for model, judge, test_set, path in score_summaries(exp_dir):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable score summary: {exc}") from exc
        scores.append(ModelScore(model=model, judge=judge, test_set=test_set, path=path, summary=renamed(summary)))
    old_layout = old_layout_summaries(exp_dir)
    if old_layout:
        logging.warning(
            "%d score summaries in the layout before judges had folders (e.g. %s) are left out: "
            "score them again (stage 8 writes <model>/score/<judge>/<test_set>/)",
            len(old_layout),
            old_layout[0],
        )
    return sorted(scores, key=lambda s: (s.test_set, s.row_order, s.model, s.judge))


# the protocols' summary keys before they were named for what they compute (fcodec.metrics.asr_protocols)
OLD_PROTOCOL_KEYS = {"paper": "corpus", "predecessor": "per_utterance"}


def renamed(summary: Dict[str, Any]) -> Dict[str, Any]:
    """``summary`` with the protocols' old keys (``paper``, ``predecessor``) in each language block renamed."""
    for block in summary.get("languages", {}).values():
        for old, new in OLD_PROTOCOL_KEYS.items():
            if isinstance(block, dict) and old in block and new not in block:
                block[new] = block.pop(old)
    return summary


def summary_value(block: Dict[str, Any], *keys: str) -> Optional[float]:
    """The number at ``block[keys[0]][keys[1]]...``, or None when a key is missing or the value is None, not a
    number or not finite.

    Parameters
    ----------
    block : dict
        A (part of a) score summary.
    *keys : str
        The path of keys.
    """
    for key in keys:
        if not isinstance(block, dict) or block.get(key) is None:
            return None
        block = block[key]
    return block if isinstance(block, (int, float)) and math.isfinite(block) else None


def of_judges(scores: Sequence[ModelScore], judges: Optional[Sequence[str]]) -> List[ModelScore]:
    return list(scores) if judges is None else [s for s in scores if s.judge in judges]


def inputs_digest(
    exp_dir: PathLike, judges: Optional[Sequence[str]] = None, compare_with: Optional[PathLike] = None
) -> str:
    """A digest (16 hex digits) of the content of every summary :func:`write_results` reads with these arguments:
    ``exp_dir``'s (of ``judges``) and ``compare_with``'s. The recipe's stage 8 is up to date while it is unchanged,
    so a rescored main run refreshes a ``--tag`` variant's comparison table, as a rescored model does its own rows.

    Raises
    ------
    ValueError
        A summary cannot be read (see ``find_summaries``).
    """
    digest = hashlib.sha256()
    runs = [("this run", of_judges(find_summaries(exp_dir), judges))]
    if compare_with is not None:
        runs.append(("compared run", find_summaries(compare_with)))
    for role, scores in runs:
        for score in scores:
            content = score.path.read_bytes()
            digest.update(f"{role} {score.model}/{score.judge}/{score.test_set} {len(content)}\n".encode())
            digest.update(content)
    return digest.hexdigest()[:16]


def languages_of(scores: Iterable[ModelScore]) -> List[str]:
    """The language tags of the summaries' ``languages`` blocks, sorted."""
    return sorted({language for s in scores for language in s.summary.get("languages", {})})


def judges_of(scores: Iterable[ModelScore]) -> List[str]:
    """The judges' names: those paper-comparable in every summary first, then the others, each group by name.

    Parameters
    ----------
    scores : iterable of ModelScore
        Score summaries (``find_summaries``).

    Returns
    -------
    list of str
    """
    flags: Dict[str, bool] = {}
    for s in scores:
        flags[s.judge] = flags.get(s.judge, True) and s.paper_comparable
    return sorted(flags, key=lambda judge: (not flags[judge], judge))


def reference_judge(scores: Iterable[ModelScore]) -> Optional[str]:
    """The judge that the plot shows and the side-by-side ratios divide by: the paper-comparable one (Whisper-small)
    when it scored, else the first by name; None without scores.

    Parameters
    ----------
    scores : iterable of ModelScore
        Score summaries (``find_summaries``).

    Returns
    -------
    str or None
    """
    judges = judges_of(scores)
    return judges[0] if judges else None
