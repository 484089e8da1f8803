"""Decode a test cut set with one codec (recipe stage 7): tokens and reconstructions, batched and resumable.

Writes the decode directory that scoring reads (:mod:`fcodec.layout.decode_format`):

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
``.progress.jsonl`` (:mod:`fcodec.infer.decode_journal`) after every batch (a cut counts once its wav and tokens
are on disk), so a killed run continues where it stopped and a finished one is not redone. A cut whose audio cannot be read, is empty, holds
NaN/inf, is shorter than one chunk in streaming mode, or makes the codec fail (alone: a failing batch is retried
one cut at a time) is listed in failed.tsv; the others go on.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from fcodec.data.manifest_io import load_cuts
from fcodec.data.sources import UnsafeSourceError
from fcodec.infer.batched import can_batch
from fcodec.infer.decode_batch import BatchDecoder, batches
from fcodec.infer.decode_journal import Journal, journal_header, missing_outputs, model_fingerprint
from fcodec.infer.tokens import TOKENS_FIELD
from fcodec.layout import decode_format
from fcodec.layout.experiment import journal_path as journal_file
from fcodec.models.codec import FocalCodec
from fcodec.utils.names import UnsafeNameError, safe_file_name

__all__ = ["DecodeOptions", "decode_cuts"]

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]


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
    header = {"model": model_name, "model_fingerprint": model_fingerprint(model_name), "streaming": options.streaming}
    if getattr(model, "quantization", None):  # an int8 decode is another decode (absent for float models)
        header["quantization"] = model.quantization
    if hasattr(model, "preset"):  # a post-hoc bottleneck (fcodec.models.posthoc) and its bit choice
        header["posthoc"] = model.describe()
    journal_path = journal_file(out_dir)
    previous = journal_header(journal_path) if restart_on_change and journal_path.is_file() else header
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
    decoder = BatchDecoder(model, out_dir, options.streaming)
    from tqdm.auto import tqdm

    with tqdm(
        total=len(todo), unit="cut", desc=f"decode {out_dir.name}", disable=not options.progress, mininterval=5
    ) as bar:
        audio = compute = 0.0
        for batch in batches(todo, model, options.max_duration, options.max_batch_size):
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
