"""Score one decode directory with one or more ASR judges: ASR under both protocols, signal metrics, MOS judges,
speaker similarity.

Reads the test cuts and ``<exp_dir>/<model>/decode/<test_set>/`` (see :mod:`fcodec.layout.decode_format`) and
writes, for each judge, ``<exp_dir>/<model>/score/<judge>/<test_set>/`` (``<judge>``:
:func:`fcodec.layout.experiment.judge_label`, e.g. ``small``, ``large-v3``):

    summary.json                         every aggregate (what RESULTS.md is built from)
    utterances.tsv                       one row per test cut: transcripts, per-utterance errors, signal metrics,
                                         MOS of the original and the reconstruction per judge, speaker similarity
    failed.tsv                           cut_id, what failed, why (one row per failure)
    recogs-/errs-<set>-<key>.txt         icefall-style alignments, keys recon_vs_orig (corpus protocol),
    wer-summary-<set>.txt                recon_vs_gt and orig_vs_gt (per-utterance protocol)
    .done

The judges run one after the other (one Whisper in memory at a time). The signal metrics, the MOS judges and the
speaker similarity do not depend on the ASR judge: they are computed once, during the first judge's pass (the
signal metrics in a process pool, the MOS judges and the speaker encoder in batches on the same chunks, see
:mod:`fcodec.metrics.quality`), and written into every judge's files; the MOS scores and speaker embeddings of
the reconstructions are cached in ``<out_dir>/.reconstructions/``, so a judge scored in a later run does not
compute them again for unchanged audio. A MOS judge that cannot be loaded is skipped with one line, and the rest
is scored.

Nothing disappears silently. A cut that failed to decode, has no reconstruction, or has unreadable audio is
failed for every metric; one without a usable reference text, language or original transcript is failed for
the ASR metrics (an empty transcript of the original fails only for the judge that heard nothing); a metric that
cannot be computed on a pair (PESQ on 0.2 s) is failed for that metric. Each failure is a row of failed.tsv, and
summary.json counts the cuts with at least one failure.

This module runs the steps; score_inputs, asr_judging, score_summary and score_writers hold them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fcodec.layout import decode_format
from fcodec.layout.experiment import judge_dir, reconstructions_cache_dir, set_aside_path
from fcodec.metrics.asr_judging import judge_view, run_judges, torch_threads_beside_pool
from fcodec.metrics.quality import QualityScorer
from fcodec.metrics.score_inputs import ScoreConfig, check_ref_cuts_match, collect_utterances, score_inputs, up_to_date
from fcodec.metrics.score_writers import write_judge
from fcodec.metrics.signal import signal_pool
from fcodec.utils.cli import UserError
from fcodec.utils.names import safe_file_name


def score_many(configs: Sequence[ScoreConfig]) -> List[Dict[str, Dict[str, Any]]]:
    """Score several decode directories in one process, in order (stage 8: every model and test set): what is up to
    date is skipped before anything loads, and the MOS judges and the speaker encoder load once, when the first
    decode that needs them is scored (they share the options of one command line), and so does the signal metrics'
    process pool (its workers start at the first pair scored). Stops at the first failure."""
    if not configs:
        return []
    models = QualityModels()
    with signal_pool(configs[0].nj) as pool:
        return [score(config, models, pool) for config in configs]


def score(config: ScoreConfig, models: Optional["QualityModels"] = None, pool: Any = None) -> Dict[str, Dict[str, Any]]:
    """Score ``config.decode_dir`` against ``config.ref_cuts`` with every judge of ``config.asr_models``; write each
    judge's score directory; return ``{judge label: summary}``. ``models``: the MOS judges and speaker encoder of
    an earlier call, reused (default: loaded for this call); ``pool``: the signal metrics' process pool of an earlier
    call (default: one of ``config.nj`` workers for this call, none with ``nj`` 0)."""
    from fcodec.data.manifest_io import load_cuts
    from fcodec.layout.experiment import judge_label

    config.decode_dir, config.out_dir = Path(config.decode_dir), Path(config.out_dir)
    config.test_set = safe_file_name(config.test_set or config.decode_dir.name, "test set name")
    labels = [judge_label(spec) for spec in config.asr_models]
    if not labels:
        raise ValueError("no ASR judge given")
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"two judges would share a score folder: {list(config.asr_models)} are named {labels} "
            "(a judge is named after its published name or its checkpoint file without .pt)"
        )
    if not Path(config.ref_cuts).is_file():
        raise FileNotFoundError(f"test cuts {config.ref_cuts} not found")
    inputs = {label: score_inputs(config, spec) for label, spec in zip(labels, config.asr_models)}
    done = [label for label in labels if up_to_date(judge_dir(config.out_dir, label, config.test_set), inputs[label])]
    for label in done:
        logging.info(
            "%s is up to date (the same cuts, decode, judge and options); skipped",
            judge_dir(config.out_dir, label, config.test_set),
        )
    if len(done) == len(labels):
        return {}
    config = dataclasses.replace(
        config, asr_models=[s for s, label in zip(config.asr_models, labels) if label not in done]
    )
    labels = [label for label in labels if label not in done]
    ref_cuts = list(load_cuts(config.ref_cuts))
    decoded = decode_format.read_decode_dir(config.decode_dir, require_done=config.require_done)
    check_ref_cuts_match(config, ref_cuts, decoded)
    for label in labels:
        out = judge_dir(config.out_dir, label, config.test_set)
        if (
            out / decode_format.DONE
        ).is_file():  # a finished score of other inputs is kept beside the new one, not overwritten
            aside = set_aside_path(out)
            out.rename(aside)
            logging.info(
                "%s was scored from other inputs (cuts, decode, judge or options); set aside as %s", out, aside
            )
        out.mkdir(parents=True, exist_ok=True)
        (out / decode_format.DONE).unlink(missing_ok=True)

    logging.info("scoring %s (%d cuts) with the judges %s", config.decode_dir, len(ref_cuts), ", ".join(labels))

    utts = collect_utterances(ref_cuts, decoded)
    with torch_threads_beside_pool(config):
        quality = _quality_scorer(config, models or QualityModels())
        with contextlib.nullcontext(pool) if pool is not None else signal_pool(config.nj) as signal:
            records = run_judges(config, utts, quality, signal)
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    summaries = {
        record.label: write_judge(
            config, judge_view(utts, record.label), record, decoded.summary, quality, date, inputs[record.label]
        )
        for record in records
    }
    nothing = [label for label, summary in summaries.items() if summary["num_scored"] == 0]
    if nothing:
        raise NothingScoredError(
            f"no utterance of {config.decode_dir} could be scored by {', '.join(nothing)} ({len(utts)} test cuts, "
            f"all failed): see {judge_dir(config.out_dir, nothing[0], config.test_set) / 'failed.tsv'}; rerun the "
            f"decode if its outputs are missing"
        )
    return summaries


class NothingScoredError(UserError, RuntimeError):
    """Every test cut failed: there is no result, and no .done is written."""

    exit_code = 1  # not a bad option: the state of the folder or the run


class QualityModels:
    """The MOS judges of ``mos_judges`` that load (the others skipped with a line) and the speaker encoder, loaded
    at the first ``get`` and kept for the calls after it (NISQA's and DNSMOS's load includes a test scoring)."""

    def __init__(self):
        self._loaded: Optional[Tuple[Any, ...]] = None
        self._options: Optional[Tuple[Any, ...]] = None

    def get(self, config: ScoreConfig) -> Tuple[List[Any], Dict[str, str], Any, str]:
        """(MOS judges, {name: why skipped}, speaker encoder or None, why it was skipped)."""
        import torch

        from fcodec.metrics.mos import load_mos_judges
        from fcodec.metrics.speaker_similarity import load_speaker_encoder

        options = (tuple(config.mos_judges), config.nisqa_model, config.mos_model, config.device, config.speaker_model)
        if self._loaded is None:
            judges, skipped = load_mos_judges(
                config.mos_judges,
                nisqa_model=config.nisqa_model,
                utmos_model=config.mos_model,
                device=config.device,
                num_threads=torch.get_num_threads(),
            )
            speaker, speaker_skipped = load_speaker_encoder(config.speaker_model, device=config.device)
            if speaker is None:
                logging.warning(speaker_skipped)
            self._loaded, self._options = (judges, skipped, speaker, speaker_skipped), options
        elif options != self._options:
            raise ValueError(f"quality models loaded for {self._options}, asked for {options}")
        return self._loaded


def _quality_scorer(config: ScoreConfig, models: QualityModels) -> QualityScorer:
    """The quality scorer of one decode: the loaded models (on the Whisper judge's device, with as many CPU threads
    as torch has beside the signal pool), with this test set's and this decode's caches."""
    judges, skipped, speaker, speaker_skipped = models.get(config)
    return QualityScorer(
        judges,
        skipped,
        speaker,
        speaker_skipped,
        config.originals_cache_dir,
        config.test_set,
        batch_size=config.batch_size,
        reconstruction_cache_dir=reconstructions_cache_dir(config.out_dir),
    )
