"""The experiment layout: the one place that spells where every model, decode, score, cache and journal lives.

    <exp>/<model>/decode/<test_set>/              a decode directory (fcodec.layout.decode_format)
    <exp>/<model>/decode/<test_set>/.progress.jsonl   the decode journal (fcodec.infer.decode_journal)
    <exp>/<model>/decode/posthoc.json             a post-hoc model's bit choice (fcodec.infer.posthoc)
    <exp>/<model>/score/<judge>/<test_set>/       one ASR judge's scores (summary.json, utterances.tsv, ...)
    <exp>/<model>/score/.reconstructions/         MOS scores and speaker embeddings of the reconstructions
    <exp>/asr_cache/                              the originals' transcripts, shared by every model
    <folder>.old.<time>                           a finished folder set aside when its inputs changed

``<model>`` is ``pretrained`` (the codec training started from), ``train_<rate>`` (``train_50hz``,
``train_12.5hz``: the trained ones), or one of these decoded through a post-hoc bottleneck,
``<model>+posthoc_<preset>`` (fcodec.models.posthoc). ``<judge>`` is the ASR judge's label
(:func:`judge_label` below). The recipe's driver (egs/TEMPLATE/codec1/codec.sh) spells the same paths.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

PathLike = Union[str, os.PathLike]

DECODE = "decode"
SCORE = "score"
ASR_CACHE = "asr_cache"
JOURNAL = ".progress.jsonl"
RECONSTRUCTIONS_CACHE = ".reconstructions"
POSTHOC_CALIBRATION = "posthoc.json"
SCORE_SUMMARY = "summary.json"
PRETRAINED = "pretrained"
TRAINED_PREFIX = "train_"
POSTHOC_SEP = "+posthoc_"
SET_ASIDE = ".old."

# the model folders of an experiment: what stage 7 decodes and stage 8 scores; group 1 is the trained model's
# frame rate, group 2 the post-hoc preset (fcodec.models.posthoc names)
MODEL_DIR = re.compile(
    r"^(?:pretrained|train_(\d+(?:\.\d+)?)hz)"
    r"(?:\+posthoc_(\d+(?:\.\d+)?hz(?:_keep\d+)?(?:_\d+bit)?_\d+(?:\.\d+)?bps))?$"
)


def posthoc_model_name(model: str, preset: str) -> str:
    """The experiment folder of ``model`` decoded through ``preset``: ``train_50hz+posthoc_50hz_keep2_275bps``."""
    return f"{model}{POSTHOC_SEP}{preset}"


def is_posthoc(model: str) -> bool:
    """Whether a model folder name is a post-hoc one (``<model>+posthoc_<preset>``)."""
    return POSTHOC_SEP in model


def split_posthoc(model: str) -> Tuple[str, Optional[str]]:
    """``train_50hz+posthoc_50hz_keep2_275bps`` -> ``("train_50hz", "50hz_keep2_275bps")``; others -> (model, None)."""
    base, sep, preset = model.partition(POSTHOC_SEP)
    return (base, preset) if sep else (model, None)


def decode_dir(exp_dir: PathLike, model: str, test_set: str) -> Path:
    """``<exp>/<model>/decode/<test_set>``."""
    return Path(exp_dir) / model / DECODE / test_set


def score_root(exp_dir: PathLike, model: str) -> Path:
    """``<exp>/<model>/score``: the ``--out-dir`` of ``fcodec.bin.score``."""
    return Path(exp_dir) / model / SCORE


def score_root_of(decode_directory: PathLike) -> Optional[Path]:
    """``<exp>/<model>/decode/<test_set>`` -> ``<exp>/<model>/score`` (the score root of that model); None for a
    folder outside the layout."""
    decode_directory = Path(decode_directory)
    return decode_directory.parent.parent / SCORE if decode_directory.parent.name == DECODE else None


def judge_dir(score_dir: PathLike, label: str, test_set: str) -> Path:
    """Where one judge's score files of one test set go: ``<score_dir>/<label>/<test_set>``."""
    return Path(score_dir) / label / test_set


def default_cache_dir(score_dir: PathLike) -> Path:
    """``exp/<tag>/asr_cache`` for the recipe layout ``exp/<tag>/<model>/score`` (``<model>``: ``pretrained`` or
    ``train_<rate>``), else ``<score_dir>/asr_cache``: the original audio's transcripts are shared by all the models
    of an experiment (one file per test set and judge)."""
    score_dir = Path(score_dir)
    model = score_dir.parent.name
    if score_dir.name == SCORE and (model == PRETRAINED or model.startswith(TRAINED_PREFIX)):
        return score_dir.parent.parent / ASR_CACHE
    return score_dir / ASR_CACHE


def reconstructions_cache_dir(score_dir: PathLike) -> Path:
    """``<score_dir>/.reconstructions``: the reconstructions' MOS scores and speaker embeddings, kept across runs."""
    return Path(score_dir) / RECONSTRUCTIONS_CACHE


def journal_path(decode_directory: PathLike) -> Path:
    """``<decode dir>/.progress.jsonl``: the decode journal (its first line holds the decode's settings)."""
    return Path(decode_directory) / JOURNAL


def test_set_name(cuts_path: PathLike) -> str:
    """``data/cuts/test_aishell.jsonl.gz`` -> ``test_aishell``.

    Parameters
    ----------
    cuts_path : str or os.PathLike
        A manifest path; ``.jsonl.gz``, ``.jsonl``, ``.json.gz`` and ``.json`` are stripped, else the last
        suffix.

    Returns
    -------
    str
    """
    name = Path(cuts_path).name
    for suffix in (".jsonl.gz", ".jsonl", ".json.gz", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def set_aside_path(folder: PathLike, now: Optional[datetime.datetime] = None) -> Path:
    """A free name ``<folder>.old.<YYYYmmdd-HHMMSS>[_...]`` beside ``folder``, to keep a finished folder of other
    inputs instead of overwriting it."""
    folder = Path(folder)
    aside = folder.with_name(f"{folder.name}{SET_ASIDE}{(now or datetime.datetime.now()):%Y%m%d-%H%M%S}")
    while aside.exists():
        aside = aside.with_name(aside.name + "_")
    return aside


def is_set_aside(name: str) -> bool:
    """Whether a folder name is one of ``set_aside_path``'s (not a result)."""
    return SET_ASIDE in name


def score_summaries(exp_dir: PathLike) -> Iterator[Tuple[str, str, str, Path]]:
    """``(model, judge, test_set, summary.json)`` of every judge's score under ``exp_dir``, in no order; folders
    that are not model folders (``MODEL_DIR``) and set-aside score folders are left out."""
    for path in Path(exp_dir).glob(f"*/{SCORE}/*/*/{SCORE_SUMMARY}"):
        model = path.parents[3].name
        if MODEL_DIR.match(model) and not is_set_aside(path.parent.name):
            yield model, path.parents[1].name, path.parent.name, path


def old_layout_summaries(exp_dir: PathLike) -> List[Path]:
    """Score summaries of the layout before judges had folders (``<model>/score/<test_set>/summary.json``), sorted."""
    return sorted(p for p in Path(exp_dir).glob(f"*/{SCORE}/*/{SCORE_SUMMARY}") if MODEL_DIR.match(p.parents[2].name))


def judge_label(name_or_path: Union[str, os.PathLike]) -> str:
    """The judge's short name, used for its score folder: a published name as is ("large-v3"), a checkpoint file
    by its name without ".pt" ("data/models/whisper/small.pt" -> "small", "whisper-base.pt" -> "whisper-base").

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A published Whisper name or a checkpoint path.

    Returns
    -------
    str
    """
    name = os.path.basename(os.fspath(name_or_path).rstrip("/"))
    return name[:-3] if name.endswith(".pt") else name
