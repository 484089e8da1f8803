"""The files a decode run leaves in ``<exp_dir>/<model>/decode/<test_set>/``, which scoring reads.

    recon_cuts.jsonl.gz   CutSet of the reconstructions: the test cuts' ids and supervisions, audio at the
                          model's output rate under wav/
    token_cuts.jsonl.gz   the test cuts with the codec tokens attached as lhotse arrays (cut.codec_tokens)
    failed.tsv            cut_id<TAB>reason for every test cut that could not be decoded (header line cut_id, reason)
    summary.json          frame_rate, bitrate, tokens_per_second, num_cuts, num_failed, model
    .done                 written last: the directory is complete

Reading and writing both live here so the decoder and the scorer cannot disagree about the format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import numpy as np

from fcodec.utils.io import atomic_path, atomic_write_json, atomic_write_text
from fcodec.utils.names import safe_file_name

RECON_CUTS = "recon_cuts.jsonl.gz"
TOKEN_CUTS = "token_cuts.jsonl.gz"
FAILED = "failed.tsv"
SUMMARY = "summary.json"
DONE = ".done"
WAV_DIR = "wav"
SUMMARY_KEYS = ("frame_rate", "bitrate", "tokens_per_second", "num_cuts", "num_failed", "model")

PathLike = Union[str, os.PathLike]


@dataclass
class DecodeOutputs:
    """What ``read_decode_dir`` returns.

    Parameters
    ----------
    directory : Path
        The decode directory.
    recon_cuts : dict of str to lhotse Cut
        Cut id -> reconstruction cut (from ``recon_cuts.jsonl.gz``).
    failed : dict of str to str
        Cut id -> reason, from ``failed.tsv`` (empty when the file is absent).
    summary : dict
        ``summary.json`` (empty when absent).
    """

    directory: Path
    recon_cuts: Dict[str, Any]  # cut_id -> lhotse Cut
    failed: Dict[str, str]  # cut_id -> reason
    summary: Dict[str, Any] = field(default_factory=dict)


def read_failed_tsv(path: PathLike) -> Dict[str, str]:
    """Read ``failed.tsv``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a missing file means no failures.

    Returns
    -------
    dict of str to str
        Cut id -> reason (``"no reason given"`` for an empty one); the header line and blank lines are skipped.
    """
    failed: Dict[str, str] = {}
    path = Path(path)
    if not path.is_file():
        return failed
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        cut_id, _, reason = line.partition("\t")
        if line_number == 1 and cut_id == "cut_id":
            continue
        failed[cut_id.strip()] = reason.strip() or "no reason given"
    return failed


def write_failed_tsv(path: PathLike, failed: Mapping[str, str]) -> Path:
    """Write ``failed.tsv`` atomically: a ``cut_id<TAB>reason`` header, then one line per cut.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    failed : Mapping[str, str]
        Cut id -> reason (whitespace runs in a reason become single spaces).

    Returns
    -------
    Path
        ``path``.
    """
    lines = ["cut_id\treason"] + [f"{cut_id}\t{' '.join(reason.split())}" for cut_id, reason in failed.items()]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def relocated(path: str, directory: PathLike, subdir: str) -> str:
    """``path``, recorded under ``<the decode folder it was written in>/<subdir>/``, as it is in ``directory``: a
    decode folder copied or moved (with its exp dir) refers to its own files, not to the original's. A path with no
    ``subdir`` component is returned as it is."""
    parts = Path(path).parts
    if subdir not in parts:
        return path
    index = len(parts) - 1 - parts[::-1].index(subdir)
    return str(Path(directory, *parts[index:]))


def _relocated_cut(cut, directory: Path):
    from dataclasses import replace

    sources = [
        replace(s, source=relocated(s.source, directory, WAV_DIR)) if s.type == "file" else s
        for s in cut.recording.sources
    ]
    return replace(cut, recording=replace(cut.recording, sources=sources))


def read_decode_dir(directory: PathLike, require_done: bool = True) -> DecodeOutputs:
    """Read a decode directory; a missing manifest or an unfinished run is an error that names the file.

    Parameters
    ----------
    directory : str or os.PathLike
        A directory written by ``fcodec.infer.decode.decode_cuts`` (layout in the module docstring).
    require_done : bool, default True
        Require the ``.done`` marker.

    Returns
    -------
    DecodeOutputs

    Raises
    ------
    FileNotFoundError
        ``.done`` (with ``require_done``) or ``recon_cuts.jsonl.gz`` is missing.
    ValueError
        ``recon_cuts.jsonl.gz`` cannot be read as a lhotse CutSet.
    UnsafeSourceError
        A reconstruction's audio source would run a command or fetch a URL (``fcodec.data.sources``).
    """
    from fcodec.data.manifest_io import load_cuts
    from fcodec.data.sources import UnsafeSourceError

    directory = Path(directory)
    if require_done and not (directory / DONE).is_file():
        raise FileNotFoundError(
            f"{directory / DONE} is missing: the decode run in {directory} has not finished; "
            f"rerun the decode to finish it (or score what is there with --allow-unfinished)"
        )
    manifest = directory / RECON_CUTS
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing: no reconstructions to score in {directory}")
    try:
        recon_cuts = {cut.id: _relocated_cut(cut, directory.absolute()) for cut in load_cuts(manifest)}
    except UnsafeSourceError:
        raise
    except Exception as exc:
        raise ValueError(f"{manifest} cannot be read as a lhotse CutSet: {exc}") from exc
    summary: Dict[str, Any] = {}
    if (directory / SUMMARY).is_file():
        summary = json.loads((directory / SUMMARY).read_text(encoding="utf-8"))
    return DecodeOutputs(directory, recon_cuts, read_failed_tsv(directory / FAILED), summary)


def write_recon_cut(cut, audio: np.ndarray, sample_rate: int, wav_dir: PathLike):
    """Write one reconstruction as ``<wav_dir>/<cut_id>.wav`` and return its cut: the test cut's id and
    supervisions, the new recording's audio.

    Parameters
    ----------
    cut : lhotse Cut
        The test cut (its id and supervisions are kept; supervisions are cut to the new recording's duration).
    audio : numpy.ndarray, shape (N,), float
        The reconstruction (flattened), written as 32-bit float WAV atomically.
    sample_rate : int
        Its sample rate in Hz (the model's output rate).
    wav_dir : str or os.PathLike
        Folder of the wav files (created if missing).

    Returns
    -------
    lhotse.MonoCut
        The reconstruction's cut, starting at 0 and spanning the whole new recording.
    """
    from lhotse import MonoCut, Recording
    from lhotse.utils import fastcopy
    from scipy.io import wavfile

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    path = Path(wav_dir) / f"{safe_file_name(cut.id)}.wav"
    with atomic_path(path) as tmp:
        # 32-bit float WAV written by scipy, not libsndfile: libsndfile adds a PEAK chunk stamped with the time
        # of writing, so the same samples would give other bytes, and the recipe's content hash of the decode
        # (utils/common.sh) would see a new decode and rescore it
        wavfile.write(tmp, sample_rate, audio)
    recording = Recording.from_file(path, recording_id=cut.id)
    supervisions = [
        fastcopy(sup, recording_id=recording.id, duration=min(sup.duration, recording.duration - max(sup.start, 0)))
        for sup in cut.supervisions
    ]
    return MonoCut(
        id=cut.id, start=0.0, duration=recording.duration, channel=0, recording=recording, supervisions=supervisions
    )


def write_decode_summary(directory: PathLike, summary: Mapping[str, Any]) -> Path:
    """Write ``<directory>/summary.json`` atomically.

    Parameters
    ----------
    directory : str or os.PathLike
        The decode directory.
    summary : Mapping[str, Any]
        Must hold every key of ``SUMMARY_KEYS``; more keys are written too.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        A key of ``SUMMARY_KEYS`` is missing.
    """
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise ValueError(f"decode summary for {directory} lacks {missing}")
    return atomic_write_json(Path(directory) / SUMMARY, dict(summary))


def mark_done(directory: PathLike) -> Path:
    """Write the empty ``<directory>/.done`` marker (last, once every other file is in place); return its path."""
    return atomic_write_text(Path(directory) / DONE, "")
