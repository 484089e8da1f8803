"""The schema of a judge's ``summary.json``: per-language aggregates (both ASR protocols, signal metrics, MOS,
speaker similarity) and the run's identity (inputs, judge, command, environment). RESULTS.md is built from it
(fcodec.metrics.summaries reads it back).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from fcodec.metrics import asr_protocols
from fcodec.metrics.asr_judging import JudgeRecord
from fcodec.metrics.asr_protocols import UtteranceUnits
from fcodec.metrics.error_rate import percent
from fcodec.metrics.error_stats import write_error_stats, write_recogs, write_wer_summary
from fcodec.metrics.quality import SIDES, QualityScorer
from fcodec.metrics.score_inputs import SAMPLE_RATE, ScoreConfig, Utterance
from fcodec.metrics.signal import METRICS as SIGNAL_METRICS
from fcodec.metrics.text_norm import error_rate_name, normalize_to_units, unit_name
from fcodec.utils.environment import environment_info


def _mean(values: Sequence[float]) -> Dict[str, float]:
    return {"mean": statistics.fmean(values) if values else math.nan, "n": len(values)}


def language_summary(
    language: str, utts: Sequence[Utterance], out_dir: Path, set_name: str, quality: QualityScorer
) -> Dict[str, Any]:
    """One language's block of the summary: both ASR protocols (their recogs-/errs-/wer-summary- files written
    into ``out_dir`` as ``<set_name>``), the hallucinations, the signal metrics, the MOS judges and speaker
    similarity."""
    scored = [
        UtteranceUnits(
            u.cut_id,
            language,
            normalize_to_units(u.truth, language),
            normalize_to_units(u.original_text, language),
            normalize_to_units(u.recon_text, language),
        )
        for u in utts
        if u.asr_ok
    ]
    rate_name = error_rate_name(language)
    summary: Dict[str, Any] = {
        "unit": unit_name(language),
        "rate_name": rate_name,
        "num_cuts": len(utts),
        "num_failed": sum(1 for u in utts if u.failures),
        "num_asr_scored": len(scored),
    }
    unit = unit_name(language)
    pairs = {
        "recon_vs_orig": [(u.cut_id, u.original, u.reconstruction) for u in scored],
        "recon_vs_gt": [(u.cut_id, u.truth, u.reconstruction) for u in scored],
        "orig_vs_gt": [(u.cut_id, u.truth, u.original) for u in scored],
    }
    rates = []
    for key, results in pairs.items():
        write_recogs(out_dir / f"recogs-{set_name}-{key}.txt", results)
        counts = write_error_stats(out_dir / f"errs-{set_name}-{key}.txt", results, unit=unit)
        rates.append((key, percent(counts.rate)))
    write_wer_summary(out_dir / f"wer-summary-{set_name}.txt", rates, rate_name=rate_name)
    summary["corpus"] = asr_protocols.corpus_protocol(scored)
    summary["per_utterance"] = asr_protocols.per_utterance_protocol(scored)
    summary["vs_truth"] = asr_protocols.against_truth(scored)
    halluc = asr_protocols.hallucinations(scored)
    summary["hallucinations"] = {
        "original": len(halluc["original"]),
        "reconstruction": len(halluc["reconstruction"]),
        "cut_ids": halluc,
    }
    signal = {}
    for metric in SIGNAL_METRICS:
        signal[metric] = _mean([u.signal.values[metric] for u in utts if u.signal and metric in u.signal.values])
    delays = [u.signal.delay_samples * 1000.0 / SAMPLE_RATE for u in utts if u.signal is not None]
    signal["delay_ms"] = _mean(delays)
    summary["signal"] = signal
    mos: Dict[str, Any] = {}
    for judge, dimension in quality.dimensions():
        for side in SIDES:
            scored = [u for u in utts if judge in u.quality.mos]
            values = [u.quality.mos[judge][side][dimension] for u in scored if side not in u.quality.silent]
            mos.setdefault(judge, {}).setdefault(side, {})[dimension] = {
                **_mean([v for v in values if math.isfinite(v)]),
                "silent": sum(side in u.quality.silent for u in scored),  # left out of the mean
            }
    if mos:
        summary["mos"] = mos
    if quality.speaker is not None:
        summary["speaker_similarity"] = _mean(
            [
                u.quality.speaker_similarity
                for u in utts
                if u.quality.speaker_similarity is not None and math.isfinite(u.quality.speaker_similarity)
            ]
        )
    return summary


def finite(obj: Any) -> Any:
    """JSON has no NaN: an undefined aggregate (nothing to average) is written as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def judge_summary(
    config: ScoreConfig,
    utts: Sequence[Utterance],
    judge: JudgeRecord,
    decode_summary: Dict[str, Any],
    quality: QualityScorer,
    languages: Dict[str, Dict[str, Any]],
    failures: Sequence[Tuple[str, str, str]],
    date: str,
    inputs: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """The content of one judge's ``summary.json``: counts, the judge, the quality judges, the language blocks of
    ``language_summary``, the inputs a rerun compares (fcodec.metrics.score_inputs.score_inputs) and the run."""
    reasons: Dict[str, int] = defaultdict(int)
    for _, what, _ in failures:
        reasons[what] += 1
    num_failed = sum(1 for u in utts if u.failures)
    summary = {
        "test_set": config.test_set,
        "ref_cuts": str(config.ref_cuts),
        "decode_dir": str(config.decode_dir),
        **{key: decode_summary.get(key) for key in ("frame_rate", "bitrate", "tokens_per_second", "model")},
        **({"posthoc": decode_summary["posthoc"]} if decode_summary.get("posthoc") else {}),  # a post-hoc baseline
        "num_cuts": len(utts),
        "num_scored": len(utts) - num_failed,
        "num_failed": num_failed,
        "failures_by_metric": dict(sorted(reasons.items())),
        "asr": {
            "label": judge.label,
            "judge": judge.description,
            "identity": judge.identity,
            "paper_comparable": judge.paper_comparable,
            "random_test_model": judge.random_test_model,
            "cache": judge.cache,
            "cache_hits": judge.cache_hits,
        },
        **quality.info(),
        "signal_options": {"sample_rate": SAMPLE_RATE, "max_delay_ms": config.max_delay_ms},
        "languages": languages,
        "inputs": inputs,
        "command": config.command or " ".join(sys.argv),
        "date": date,
        "environment": environment_info(),
    }
    return summary
