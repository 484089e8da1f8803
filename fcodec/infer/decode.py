"""Decode a test cut set with one codec (recipe stage 7): tokens and reconstructions, batched and resumable.

Writes the decode directory that scoring reads (:mod:`fcodec.metrics.decode_format`):

    recon_cuts.jsonl.gz   the reconstructions: the test cuts' ids and supervisions, wav/<cut_id>.wav at the
                          model's output rate
    token_cuts.jsonl.gz   the test cuts with the tokens attached (cut.codec_tokens, files under tokens/;
                          see fcodec.infer.tokens)
    failed.tsv            every test cut that could not be decoded, with the reason
    summary.json          frame_rate, bitrate, tokens_per_second (measured), num_cuts, num_failed, model,
                          real_time_factor and the settings of the run
    .done                 written last

Cuts are sorted by duration and grouped into batches of at most ``max_duration`` seconds of padded audio;
:mod:`fcodec.infer.batched` makes each item's result independent of its batch. Progress is journalled in
``.progress.jsonl`` after every batch (a cut counts once its wav and tokens are on disk), so a killed run
continues where it stopped and a finished one is not redone. A cut whose audio cannot be read, is empty, holds
NaN/inf, is shorter than one chunk in streaming mode, or makes the codec fail (alone: a failing batch is retried
one cut at a time) is listed in failed.tsv; the others go on.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from fcodec.data.audio import AudioReadError, read_mono
from fcodec.data.audio_check import TOO_SHORT
from fcodec.data.manifest_io import load_cuts
from fcodec.data.sources import UnsafeSourceError
from fcodec.infer.batched import can_batch, duration_batches, encode_decode
from fcodec.infer.tokens import TOKENS_DIR, TOKENS_FIELD, TokenWriter
from fcodec.metrics import decode_format
from fcodec.models.codec import FocalCodec
from fcodec.utils.io import hash_file
from fcodec.utils.names import UnsafeNameError, safe_file_name

__all__ = ["DecodeOptions", "decode_cuts", "load_codec", "resolve_num_threads", "test_set_name", "JOURNAL"]

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]
JOURNAL = ".progress.jsonl"
CODEC_ERROR = "codec error"


@dataclass
class DecodeOptions:
    """How ``decode_cuts`` batches and runs the codec.

    Parameters
    ----------
    max_duration : float, default 100.0
        Seconds of padded audio per batch (the longest item's padded length times the batch size).
    max_batch_size : int, default 64
        Items per batch (a non-causal codec always takes one).
    streaming : bool, default False
        Chunk by chunk through ``fcodec.infer.streaming`` (causal codecs only); same tokens as offline.
    progress : bool, default True
        Show a tqdm progress bar.
    """

    max_duration: float = 100.0  # seconds of (padded) audio per batch
    max_batch_size: int = 64
    streaming: bool = False  # chunk by chunk through fcodec.infer.streaming (causal codecs)
    progress: bool = True


def available_cores() -> int:
    """Cores this process may run on (a cluster job's allocation, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_num_threads(num_threads: int, device: str) -> int:
    """``num_threads`` > 0 as given; 0 (auto): one thread beside a GPU (the CPU only moves audio), else half
    the cores. Small models lose more to thread synchronisation than they gain, and a box shared with other
    jobs (the recipe's other stages, a scorer) slows every thread down.

    Parameters
    ----------
    num_threads : int
        Requested torch threads; 0 (or less) means automatic.
    device : str
        The codec's device (``cpu``, ``cuda``, ``cuda:1``, ...).

    Returns
    -------
    int
        Threads to use, at least 1.
    """
    if num_threads > 0:
        return num_threads
    if device.startswith("cuda"):
        return 1
    return max(1, available_cores() // 2)


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


def load_codec(source: str, device: str = "cpu") -> FocalCodec:
    """An exported model folder, a config path or a Hugging Face repo id (``FocalCodec.from_pretrained``).

    Parameters
    ----------
    source : str
        What ``FocalCodec.from_pretrained`` accepts.
    device : str, default "cpu"
        Torch device to move the model to.

    Returns
    -------
    FocalCodec
        The model with its weights, in eval mode, on ``device``.

    Raises
    ------
    fcodec.models.CheckpointError
        The source cannot be found, read or matched to its config.
    """
    model = FocalCodec.from_pretrained(source)
    return model.eval().to(device)


def _model_fingerprint(source: str) -> str:
    """What a resumed run must match: the model's config and weights (a local folder) or its name."""
    folder = Path(source)
    if not folder.is_dir():
        return source
    files = tuple(
        (name, (folder / name).stat().st_size, (folder / name).stat().st_mtime_ns)
        for name in ("config.json", "model.safetensors")
        if (folder / name).is_file()
    )
    return _hash_model_files(str(folder.resolve()), files)


@functools.lru_cache(maxsize=16)
def _hash_model_files(folder: str, files: Tuple[Tuple[str, int, int], ...]) -> str:
    """Hashed once per model and process (a full-size model is ~1 GB, decoded for every test set); the sizes and
    modification times in ``files`` make a rewritten model a new key."""
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(name.encode())
        hash_file(Path(folder) / name, digest)
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------------------
# the progress journal
# ------------------------------------------------------------------------------------------------------------
def missing_outputs(record: Dict[str, Any]) -> List[str]:
    """The files a journal record of a decoded cut points at (its wav, its tokens) that do not exist."""
    paths = [source["source"] for source in record["recon"]["recording"]["sources"] if source["type"] == "file"]
    array = record["tokens"]["array"]
    paths.append(os.path.join(array["storage_path"], array["storage_key"]))
    return [path for path in paths if not os.path.isfile(path)]


# ------------------------------------------------------------------------------------------------------------
class Journal:
    """Append-only record of finished cuts. The first line holds the settings the outputs depend on; a rerun
    with other settings must start afresh. A line cut short by a kill is ignored."""

    def __init__(self, path: Path, header: Dict[str, Any]) -> None:
        self.path = path
        self.entries: Dict[str, Dict[str, Any]] = {}
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    logger.warning("%s: ignoring an incomplete line (the run was killed while writing it)", path)
            if records and records[0].get("header") != header:
                raise RuntimeError(
                    f"{path.parent} holds a decode with other settings ({records[0].get('header')}); now "
                    f"{header}. Use a new output folder or --overwrite to start it afresh"
                )
            for record in records[1:]:
                self.entries[record["cut_id"]] = record  # the latest record of a cut wins (a retried failure)
            self._file = open(path, "a", encoding="utf-8")
            if not records:
                self._append({"header": header})
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
            self._append({"header": header})

    def _append(self, *records: Dict[str, Any]) -> None:
        for record in records:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def add(self, records: Sequence[Dict[str, Any]]) -> None:
        self._append(*records)
        for record in records:
            self.entries[record["cut_id"]] = record

    def done(self, cut_id: str) -> bool:
        """Journaled as decoded *and* its wav and token files are still there (a deleted output is redone)."""
        record = self.entries.get(cut_id, {})
        return record.get("status") == "ok" and not missing_outputs(record)

    def codec_failures(self) -> List[str]:
        """Ids of the cuts whose last try failed in the codec (not their input): worth another try."""
        return [
            cut_id
            for cut_id, record in self.entries.items()
            if record.get("status") != "ok" and str(record.get("reason", "")).startswith(CODEC_ERROR)
        ]

    def missing(self) -> List[str]:
        """Ids of the cuts journaled as decoded whose output files are gone."""
        return [
            cut_id
            for cut_id, record in self.entries.items()
            if record.get("status") == "ok" and missing_outputs(record)
        ]

    def close(self) -> None:
        self._file.close()


# ------------------------------------------------------------------------------------------------------------
# reading audio
# ------------------------------------------------------------------------------------------------------------
def _read_signal(cut: Any, model: FocalCodec, streaming: bool) -> Tuple[Optional[torch.Tensor], Optional[str]]:
    """``(signal, None)`` at the codec's input rate, or ``(None, reason)`` for bad input."""
    try:
        audio = read_mono(cut, model.sample_rate_input)
    except AudioReadError as exc:
        return None, str(exc)
    if streaming and audio.size < model.chunk_size:
        return None, (
            f"{TOO_SHORT} to stream: {audio.size} samples, less than one chunk of {model.chunk_size} "
            f"({model.latency:.0f} ms)"
        )
    return torch.from_numpy(audio), None


def _batches(cuts: Sequence[Any], model: FocalCodec, options: DecodeOptions) -> Iterator[List[Any]]:
    lengths = [round(cut.duration * model.sample_rate_input) for cut in cuts]
    for group in duration_batches(model, lengths, options.max_duration, options.max_batch_size):
        yield [cuts[i] for i in group]


# ------------------------------------------------------------------------------------------------------------
# decoding
# ------------------------------------------------------------------------------------------------------------
def _sync(model: FocalCodec) -> None:
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _BatchDecoder:
    def __init__(self, model: FocalCodec, out_dir: Path, streaming: bool) -> None:
        self.model = model
        self.streaming = streaming
        self.wav_dir = out_dir / decode_format.WAV_DIR
        self.token_writer = TokenWriter(out_dir / TOKENS_DIR, model.frame_rate, model.codebook_size)

    def run(self, cuts: Sequence[Any]) -> List[Dict[str, Any]]:
        """Decode one batch; a record per cut ("ok" with its manifests, or "failed" with the reason)."""
        records: List[Dict[str, Any]] = []
        readable: List[Tuple[Any, torch.Tensor]] = []
        for cut in cuts:
            signal, problem = _read_signal(cut, self.model, self.streaming)
            if problem is not None:
                logger.warning("cut %s: %s", cut.id, problem)
                records.append({"cut_id": cut.id, "status": "failed", "reason": problem})
            else:
                readable.append((cut, signal))
        if not readable:
            return records
        try:
            results, seconds = self._codec([s for _, s in readable])
        except Exception as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # after an out-of-memory error, before the retries
            if len(readable) == 1:
                cut = readable[0][0]
                reason = f"{CODEC_ERROR}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                logger.warning("cut %s: %s", cut.id, reason)
                return records + [{"cut_id": cut.id, "status": "failed", "reason": reason}]
            # find the cut that breaks the batch; the others still get decoded
            logger.warning(
                "a batch of %d cuts failed (%s: %s); decoding them one at a time",
                len(readable),
                type(exc).__name__,
                exc,
            )
            for cut, _ in readable:
                records.extend(self.run([cut]))
            return records
        total = sum(s.shape[-1] for _, s in readable)
        for (cut, signal), result in zip(readable, results):
            recon = decode_format.write_recon_cut(
                cut, result.audio.numpy(), self.model.sample_rate_output, self.wav_dir
            )
            tokens = self.token_writer.write(cut, result.tokens.numpy())
            records.append(
                {
                    "cut_id": cut.id,
                    "status": "ok",
                    "seconds": signal.shape[-1] / self.model.sample_rate_input,
                    "num_tokens": int(result.tokens.shape[-1]),
                    "compute_seconds": seconds * signal.shape[-1] / total,  # the batch's time, shared by length
                    "recon": recon.to_dict(),
                    "tokens": tokens.to_dict(),
                }
            )
        return records

    def _codec(self, signals: List[torch.Tensor]):
        _sync(self.model)
        began = time.perf_counter()
        results = encode_decode(self.model, signals, streaming=self.streaming)
        _sync(self.model)
        return results, time.perf_counter() - began


def _finish(
    out_dir: Path,
    cuts: Sequence[Any],
    journal: Journal,
    model: FocalCodec,
    header: Dict[str, Any],
    options: DecodeOptions,
    wall_seconds: float,
    extra: Dict[str, Any],
) -> Dict[str, Any]:
    from lhotse import CutSet, MonoCut
    from lhotse.array import TemporalArray
    from lhotse.utils import fastcopy

    from fcodec.data.manifest_io import save_manifest

    recon_cuts, token_cuts, failed = [], [], {}
    seconds = tokens = compute = 0.0
    for cut in cuts:
        record = journal.entries.get(cut.id)
        if record is None:
            failed[cut.id] = "not decoded (no record in the progress journal)"
        elif record["status"] != "ok":
            failed[cut.id] = record["reason"]
        else:
            recon_cuts.append(MonoCut.from_dict(record["recon"]))
            custom = dict(cut.custom or {})
            custom[TOKENS_FIELD] = TemporalArray.from_dict(dict(record["tokens"]))
            token_cuts.append(fastcopy(cut, custom=custom))
            seconds += record["seconds"]
            tokens += record["num_tokens"]
            compute += record["compute_seconds"]
    save_manifest(CutSet.from_cuts(recon_cuts), out_dir / decode_format.RECON_CUTS)
    save_manifest(CutSet.from_cuts(token_cuts), out_dir / decode_format.TOKEN_CUTS)
    decode_format.write_failed_tsv(out_dir / decode_format.FAILED, failed)
    summary = {
        "frame_rate": model.frame_rate,
        "bitrate": model.bitrate,
        "tokens_per_second": tokens / seconds if seconds else None,
        "num_cuts": len(cuts),
        "num_failed": len(failed),
        "model": header["model"],
        "real_time_factor": compute / seconds if seconds else None,
        "audio_seconds": seconds,
        "num_tokens": int(tokens),
        "compute_seconds": compute,
        "wall_seconds_last_run": wall_seconds,
        "codebook_size": model.codebook_size,
        "sample_rate_input": model.sample_rate_input,
        "sample_rate_output": model.sample_rate_output,
        "causal": model.causal,
        "streaming": options.streaming,
        "batched": can_batch(model),
        "max_duration": options.max_duration,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        **extra,
    }
    decode_format.write_decode_summary(out_dir, summary)
    if not (summary["num_cuts"] and summary["num_failed"] == summary["num_cuts"]):  # done means it worked
        decode_format.mark_done(out_dir)
    return summary


def _journal_header(path: Path) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.readline()).get("header")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def decode_cuts(
    model: FocalCodec,
    cuts_path: PathLike,
    out_dir: PathLike,
    model_name: str,
    options: Optional[DecodeOptions] = None,
    overwrite: bool = False,
    restart_on_change: bool = False,
    extra_summary: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Decode every cut of ``cuts_path`` with ``model`` into ``out_dir``; return the summary.

    A finished directory (``.done``, same settings) is left as it is; an unfinished one continues. A directory
    holding the work of another model or other settings is an error, or is started afresh with
    ``restart_on_change`` (or ``overwrite``, which always starts afresh).

    Parameters
    ----------
    model : FocalCodec
        The codec, on the device to run on (eval mode expected: ``load_codec`` returns it so).
    cuts_path : str or os.PathLike
        A lhotse CutSet manifest of the test set (unique cut ids).
    out_dir : str or os.PathLike
        The decode directory (layout in the module docstring); created if missing.
    model_name : str
        The model's source (folder, config path or repo id), written to the summary. Together with
        ``options.streaming`` it identifies the settings a resumed run must match; for a local folder, a hash of
        its ``config.json`` and ``model.safetensors`` is part of that identity.
    options : DecodeOptions, optional
        Batching and streaming; default ``DecodeOptions()``.
    overwrite : bool, default False
        Delete ``out_dir`` first and decode everything again.
    restart_on_change : bool, default False
        Delete ``out_dir`` and start afresh when it holds a decode with other settings, instead of raising.
    extra_summary : dict, optional
        More keys for ``summary.json``.

    Returns
    -------
    dict
        The ``summary.json`` content: ``frame_rate``, ``bitrate``, ``tokens_per_second``, ``num_cuts``,
        ``num_failed``, ``model``, ``real_time_factor``, ``audio_seconds``, ``num_tokens``, ``compute_seconds``,
        the model's rates and settings, ``date`` and ``extra_summary``.

    Raises
    ------
    ValueError
        ``options.streaming`` with a non-causal model, ``cuts_path`` cannot be read as a CutSet, or it has
        duplicate cut ids.
    RuntimeError
        ``out_dir`` holds a decode with other settings (without ``restart_on_change`` or ``overwrite``).
    """

    options = options or DecodeOptions()
    if options.streaming and not model.causal:
        raise ValueError(f"--streaming needs a causal codec; {model_name} is not causal")
    out_dir = Path(out_dir).absolute()  # the manifests point at wav/ and tokens/ from anywhere
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    header = {"model": model_name, "model_fingerprint": _model_fingerprint(model_name), "streaming": options.streaming}
    if getattr(model, "quantization", None):  # an int8 decode is another decode (absent for float models)
        header["quantization"] = model.quantization
    if hasattr(model, "preset"):  # a post-hoc bottleneck (fcodec.models.posthoc) and its bit choice
        header["posthoc"] = model.describe()
    journal_path = out_dir / JOURNAL
    previous = _journal_header(journal_path) if restart_on_change and journal_path.is_file() else header
    if previous != header:
        logger.info("%s holds a decode with other settings (%s); starting afresh", out_dir, previous)
        shutil.rmtree(out_dir)
    if (out_dir / decode_format.DONE).is_file() and journal_path.is_file():
        finished = Journal(journal_path, header)  # raises when the settings differ
        finished.close()
        gone, retry = finished.missing(), finished.codec_failures()
        if retry:
            logger.info(
                "%s: trying again the %d cuts that failed in the codec (e.g. %s)", out_dir, len(retry), retry[0]
            )
        elif not gone and (out_dir / decode_format.SUMMARY).is_file():
            summary = json.loads((out_dir / decode_format.SUMMARY).read_text(encoding="utf-8"))
            logger.info(
                "%s is complete (%d cuts, %d failed): nothing to do",
                out_dir,
                summary["num_cuts"],
                summary["num_failed"],
            )
            return summary
        else:
            logger.warning(
                "%s is marked done but the outputs of %d decoded cuts are gone (e.g. %s); decoding them again",
                out_dir,
                len(gone),
                missing_outputs(finished.entries[gone[0]])[0] if gone else out_dir / decode_format.SUMMARY,
            )
    (out_dir / decode_format.DONE).unlink(missing_ok=True)
    try:
        cuts = list(load_cuts(cuts_path))
    except UnsafeSourceError:
        raise
    except Exception as exc:
        raise ValueError(f"{cuts_path} cannot be read as a lhotse CutSet: {exc}") from exc
    ids = [c.id for c in cuts]
    for cut_id in ids:  # before anything is written: wav/<id>.wav and tokens/<id[:3]>/<id>.npy
        try:
            safe_file_name(cut_id)
        except UnsafeNameError as exc:
            raise UnsafeNameError(f"{cuts_path}: {exc}") from None
    if len(set(ids)) != len(ids):
        raise ValueError(f"{cuts_path} has duplicate cut ids; each cut needs its own wav and token file")
    journal = Journal(journal_path, header)
    todo = [c for c in cuts if not journal.done(c.id)]
    if len(todo) < len(cuts):
        logger.info(
            "%s: %d of %d cuts already decoded, continuing with the other %d",
            out_dir,
            len(cuts) - len(todo),
            len(cuts),
            len(todo),
        )
    began = time.perf_counter()
    decoder = _BatchDecoder(model, out_dir, options.streaming)
    from tqdm.auto import tqdm

    with tqdm(
        total=len(todo), unit="cut", desc=f"decode {out_dir.name}", disable=not options.progress, mininterval=5
    ) as bar:
        audio = compute = 0.0
        for batch in _batches(todo, model, options):
            records = decoder.run(batch)
            journal.add(records)
            ok = [r for r in records if r["status"] == "ok"]
            audio += sum(r["seconds"] for r in ok)
            compute += sum(r["compute_seconds"] for r in ok)
            bar.update(len(batch))
            if audio:
                bar.set_postfix(rtf=f"{compute / audio:.4f}", failed=len(records) - len(ok), refresh=False)
    wall = time.perf_counter() - began
    try:
        summary = _finish(out_dir, cuts, journal, model, header, options, wall, dict(extra_summary or {}))
    finally:
        journal.close()
    logger.info(
        "%s: %d cuts, %d failed, %.1f s of audio, %.1f tokens/s (%.1f Hz codec), real-time factor %s",
        out_dir,
        summary["num_cuts"],
        summary["num_failed"],
        summary["audio_seconds"],
        summary["tokens_per_second"] or 0.0,
        summary["frame_rate"],
        f"{summary['real_time_factor']:.4f}" if summary["real_time_factor"] is not None else "n/a",
    )
    if summary["num_failed"] == summary["num_cuts"] and summary["num_cuts"]:
        logger.error(
            "every cut of %s failed to decode (see %s): not marked done; fix the cause and rerun",
            cuts_path,
            out_dir / decode_format.FAILED,
        )
    return summary
