"""The files of one judge's score directory: utterances.tsv, failed.tsv, summary.json and ``.done``
(the recogs-/errs-/wer-summary- files are written with the language summaries, fcodec.metrics.score_summary).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

from fcodec.layout import decode_format
from fcodec.layout.experiment import SCORE_SUMMARY, judge_dir
from fcodec.metrics.asr_judging import JudgeRecord
from fcodec.metrics.error_rate import edit_counts, percent
from fcodec.metrics.quality import SIDES, QualityScorer
from fcodec.metrics.score_inputs import SAMPLE_RATE, ScoreConfig, Utterance
from fcodec.metrics.score_summary import finite, judge_summary, language_summary
from fcodec.metrics.signal import METRICS as SIGNAL_METRICS
from fcodec.metrics.text_norm import normalize_to_units
from fcodec.utils.io import atomic_write_json, atomic_write_text


def utterance_rows(utts: Sequence[Utterance], quality: QualityScorer) -> str:
    """The text of utterances.tsv: a header, then one row per test cut (an empty cell for what was not scored)."""
    mos_columns = [(judge, dimension, side) for judge, dimension in quality.dimensions() for side in SIDES]
    header = [
        "cut_id",
        "language",
        "duration",
        "truth",
        "original_transcript",
        "recon_transcript",
        "err_orig_vs_gt",
        "err_recon_vs_gt",
        "d_err",
        "err_recon_vs_orig",
        *SIGNAL_METRICS,
        "delay_ms",
        *[f"{judge}_{dimension}_{'orig' if side == 'original' else 'recon'}" for judge, dimension, side in mos_columns],
        *(["speaker_sim"] if quality.speaker is not None else []),
        "silent",
        "failures",
    ]
    lines = ["\t".join(header)]

    def fmt(value: Optional[float]) -> str:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    for u in utts:
        errs: List[Optional[float]] = [None, None, None, None]
        if u.asr_ok and u.original_text is not None and u.recon_text is not None:
            truth, orig, recon = (normalize_to_units(t, u.language) for t in (u.truth, u.original_text, u.recon_text))
            e_orig, e_recon = edit_counts(truth, orig).rate, edit_counts(truth, recon).rate
            errs = [
                percent(e_orig),
                percent(e_recon),
                percent(e_recon - e_orig),
                percent(edit_counts(orig, recon).rate),
            ]
        values = [u.signal.values.get(m) if u.signal else None for m in SIGNAL_METRICS]
        delay = u.signal.delay_samples * 1000.0 / SAMPLE_RATE if u.signal else None
        mos = [u.quality.mos.get(judge, {}).get(side, {}).get(dimension) for judge, dimension, side in mos_columns]
        speaker = [u.quality.speaker_similarity] if quality.speaker is not None else []
        row = [
            u.cut_id,
            u.language,
            f"{u.duration:.3f}",
            u.truth,
            u.original_text or "",
            u.recon_text or "",
            *map(fmt, errs),
            *map(fmt, values),
            fmt(delay),
            *map(fmt, mos),
            *map(fmt, speaker),
            ",".join(u.quality.silent),
            "; ".join(f"{w}: {r}" for w, r in u.failures),
        ]
        lines.append("\t".join(" ".join(str(cell).split()) for cell in row))
    return "\n".join(lines) + "\n"


def write_judge(
    config: ScoreConfig,
    utts: List[Utterance],
    judge: JudgeRecord,
    decode_summary: Dict[str, Any],
    quality: QualityScorer,
    date: str,
    inputs: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Write one judge's score directory (the language summaries, failed.tsv, utterances.tsv, summary.json, then
    ``.done`` when anything was scored); return its summary."""
    out_dir = judge_dir(config.out_dir, judge.label, config.test_set)
    groups: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in utts:
        groups[utt.language].append(utt)
    languages = {}
    for language, members in sorted(groups.items()):
        set_name = config.test_set if len(groups) == 1 else f"{config.test_set}_{language}"
        languages[language] = language_summary(language, members, out_dir, set_name, quality)

    failures = [(u.cut_id, what, reason) for u in utts for what, reason in u.failures]
    atomic_write_text(
        out_dir / "failed.tsv",
        "cut_id\twhat\treason\n" + "".join(f"{c}\t{w}\t{' '.join(r.split())}\n" for c, w, r in failures),
    )
    atomic_write_text(out_dir / "utterances.tsv", utterance_rows(utts, quality))
    summary = judge_summary(config, utts, judge, decode_summary, quality, languages, failures, date, inputs)
    atomic_write_json(out_dir / SCORE_SUMMARY, finite(summary))
    if summary["num_scored"]:  # a folder of failures only is not a result a rerun should keep
        decode_format.mark_done(out_dir)
    for language, block in languages.items():
        logging.info(
            "%s [%s] judge %s: corpus d%s %.2f%%, per-utterance d%s %.2f%%, %d scored, %d failed",
            config.test_set,
            language,
            judge.label,
            block["rate_name"],
            block["corpus"]["d_err_pct"],
            block["rate_name"],
            block["per_utterance"]["d_err_mean_pct"],
            block["num_cuts"] - block["num_failed"],
            block["num_failed"],
        )
    return summary
