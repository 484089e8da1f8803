"""The tables of RESULTS.md: the per-judge results table, judges side by side, quality, and a run against another.
Each takes the summaries of one test set and language (fcodec.metrics.summaries) and returns Markdown lines.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from fcodec.metrics.summaries import ModelScore, reference_judge, summary_value


def fmt(value: Optional[float], digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_number(value: Optional[float]) -> str:
    """Frame rates and bitrates: 12.5, 137.5, 550 (no needless decimals)."""
    return "–" if value is None else f"{value:g}"


Column = Tuple[str, Callable[[Dict[str, Any], Dict[str, Any]], Optional[float]], int]


COLUMNS: List[Column] = [
    ("frame rate (Hz)", lambda s, b: summary_value(s, "frame_rate"), -1),
    ("bitrate (bps)", lambda s, b: summary_value(s, "bitrate"), -1),
    ("d{R} corpus (%)", lambda s, b: summary_value(b, "corpus", "d_err_pct"), 2),
    ("d{R} per-utt. (%)", lambda s, b: summary_value(b, "per_utterance", "d_err_mean_pct"), 2),
    ("{R} orig vs GT (%)", lambda s, b: summary_value(b, "vs_truth", "original", "rate_pct"), 2),
    ("{R} recon vs GT (%)", lambda s, b: summary_value(b, "vs_truth", "reconstruction", "rate_pct"), 2),
    ("PESQ", lambda s, b: summary_value(b, "signal", "pesq", "mean"), 2),
    ("STOI", lambda s, b: summary_value(b, "signal", "stoi", "mean"), 3),
    ("SI-SDR (dB)", lambda s, b: summary_value(b, "signal", "si_sdr", "mean"), 2),
    ("mel dist", lambda s, b: summary_value(b, "signal", "mel_distance", "mean"), 3),
    ("STFT dist", lambda s, b: summary_value(b, "signal", "stft_distance", "mean"), 3),
    ("halluc.", lambda s, b: summary_value(b, "hallucinations", "reconstruction"), 0),
    ("scored", lambda s, b: (summary_value(b, "num_cuts") or 0) - (summary_value(b, "num_failed") or 0), 0),
    ("failed", lambda s, b: summary_value(b, "num_failed"), 0),
]


def mos_dimensions(scores: Iterable[ModelScore]) -> List[Tuple[str, str]]:
    """(MOS judge, dimension) of every quality column, in the order the summaries list the judges."""
    columns: List[Tuple[str, str]] = []
    for score in scores:
        for judge, info in score.summary.get("mos", {}).get("judges", {}).items():
            columns += [(judge, d) for d in info.get("dimensions", []) if (judge, d) not in columns]
    return columns


def quality_table(members: Sequence[ModelScore], language: str) -> List[str]:
    """Rows: each model's reconstructions, then the original audio; columns: each MOS judge's dimensions (the
    headline MOS first) and the speaker similarity of reconstruction and original."""
    from fcodec.metrics.mos import DIMENSION_TITLES, JUDGE_TITLES

    columns = mos_dimensions(members)
    with_speaker = any("speaker_similarity" in s.summary["languages"][language] for s in members)
    if not columns and not with_speaker:
        return []
    headers = (
        ["model", "bitrate (bps)"]
        + [f"{JUDGE_TITLES.get(j, j)} {DIMENSION_TITLES.get(d, d)}" for j, d in columns]
        + (["speaker sim."] if with_speaker else [])
    )
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for score in members:
        block = score.summary["languages"][language]
        row = [score.label, fmt_number(summary_value(score.summary, "bitrate"))]
        row += [fmt(summary_value(block, "mos", j, "reconstruction", d, "mean"), 2) for j, d in columns]
        row += [fmt(summary_value(block, "speaker_similarity", "mean"), 3)] if with_speaker else []
        lines.append("| " + " | ".join(row) + " |")
    # the originals are the same audio for every model: the model that scored most of them speaks for all
    original = ["original", "–"]
    for judge, dimension in columns:
        blocks = [
            s.summary["languages"][language].get("mos", {}).get(judge, {}).get("original", {}).get(dimension)
            for s in members
        ]
        best = max((b for b in blocks if b and b.get("mean") is not None), key=lambda b: b.get("n", 0), default=None)
        original.append(fmt(best["mean"] if best else None, 2))
    original += ["–"] if with_speaker else []
    return lines + ["| " + " | ".join(original) + " |"]


def against_baseline(
    by_judge: Dict[str, List[ModelScore]],
    baseline: Tuple[str, Sequence[ModelScore]],
    test_set: str,
    language: str,
    rate_name: str,
) -> List[str]:
    """This run beside another (a variant against the main run): per model, the reference judge's d{WER,CER}
    corpus, NISQA MOS and speaker similarity of both, so a variant that buys quality with intelligibility (or the
    reverse) shows at a glance."""
    name, others = baseline
    judge = reference_judge([s for rows in by_judge.values() for s in rows])
    mine = {s.model: s for s in by_judge.get(judge, [])}
    theirs = {
        s.model: s
        for s in others
        if s.judge == judge and s.test_set == test_set and language in s.summary.get("languages", {})
    }
    if not mine or not theirs:
        return []
    metrics = [
        (f"d{rate_name} corpus (%)", ("corpus", "d_err_pct"), 2),
        ("NISQA MOS", ("mos", "nisqa", "reconstruction", "mos", "mean"), 2),
        ("speaker sim.", ("speaker_similarity", "mean"), 3),
    ]
    headers = ["model"] + [f"{title}: {run}" for title, _, _ in metrics for run in ("this run", name)]
    lines = [
        f"### Against {name}",
        "",
        f"ASR judge `{judge}` for both runs.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    for model in sorted(set(mine) | set(theirs), key=lambda m: (mine.get(m) or theirs[m]).row_order):
        row = [(mine.get(model) or theirs[model]).label]
        for _, keys, digits in metrics:
            for run in (mine, theirs):
                block = run[model].summary["languages"].get(language, {}) if model in run else {}
                row.append(fmt(summary_value(block, *keys), digits))
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def quality_notes(members: Sequence[ModelScore]) -> List[str]:
    """The reasons a MOS judge or the speaker similarity was skipped (one line each)."""
    notes = set()
    for score in members:
        skipped = score.summary.get("mos", {}).get("skipped", {})
        notes |= set(skipped.values()) if isinstance(skipped, dict) else {skipped} if skipped else set()
        notes |= {score.summary.get("speaker_similarity", {}).get("skipped", "")}
    return sorted(notes - {""})


def row_cells(score: ModelScore, language: str) -> List[str]:
    block = score.summary["languages"][language]
    cells = [score.label]
    for _, getter, digits in COLUMNS:
        if digits < 0:
            cells.append(fmt_number(getter(score.summary, block)))
        else:
            cells.append(fmt(getter(score.summary, block), digits))
    return cells


def results_table(rows: Sequence[List[str]], rate_name: str) -> List[str]:
    headers = ["model"] + [header.replace("{R}", rate_name) for header, _, _ in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def side_by_side(by_judge: Dict[str, List[ModelScore]], language: str, rate_name: str) -> List[str]:
    """One row per model: each judge's corpus dWER and error against the ground truth, and each other
    judge's corpus dWER over the first judge's, the paper-comparable one when it scored
    (docs/evaluation.md, Judges: at most 1.5, and not growing from one rate to the next)."""
    judges = list(by_judge)
    paper, others = judges[0], judges[1:]
    headers = (
        ["model", "bitrate (bps)"]
        + [f"d{rate_name} corpus: {j} (%)" for j in judges]
        + [f"{rate_name} recon vs GT: {j} (%)" for j in judges]
        + [f"d{rate_name} corpus {j} / {paper}" for j in others]
    )
    rows: Dict[str, Dict[str, ModelScore]] = {}
    for judge, members in by_judge.items():
        for score in members:
            rows.setdefault(score.model, {})[judge] = score
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for model in sorted(rows, key=lambda name: next(iter(rows[name].values())).row_order):
        cells = rows[model]
        any_score = next(iter(cells.values()))

        def value(judge: str, *keys: str) -> Optional[float]:
            score = cells.get(judge)
            return summary_value(score.summary["languages"][language], *keys) if score else None

        d_err = {j: value(j, "corpus", "d_err_pct") for j in judges}
        row = [any_score.label, fmt_number(summary_value(any_score.summary, "bitrate"))]
        row += [fmt(d_err[j], 2) for j in judges]
        row += [fmt(value(j, "vs_truth", "reconstruction", "rate_pct"), 2) for j in judges]
        for judge in others:
            ratio = d_err[judge] / d_err[paper] if d_err[judge] is not None and d_err[paper] else None
            row.append(fmt(ratio, 2))
        lines.append("| " + " | ".join(row) + " |")
    return lines
