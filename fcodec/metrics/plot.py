"""PNG plot of error and quality against bitrate, one row per language (matplotlib, Agg backend).

The intelligibility panel shows one ASR judge, the paper-comparable one (Whisper-small) when it scored, else the
first by name (:func:`fcodec.metrics.report.reference_judge`; its name is in the panel's title): the other judges
are in RESULTS.md's side-by-side table. The quality panel does not depend on the judge and shows each stage once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple, Union

from fcodec.metrics.report import StageScore, judges_of, languages_of, reference_judge, summary_value

PathLike = Union[str, os.PathLike]


def _series(scores: Sequence[StageScore], language: str, *keys: str) -> Dict[str, List[Tuple[float, float, str]]]:
    """Test set -> [(bitrate, value, stage)] sorted by bitrate, for rows where both are known; each stage once
    (from the first judge of :func:`judges_of` that scored it: pass one judge's scores for a judge's metric)."""
    order = {judge: index for index, judge in enumerate(judges_of(scores))}
    series: Dict[str, List[Tuple[float, float, str]]] = {}
    seen: Set[Tuple[str, str]] = set()
    for score in sorted(scores, key=lambda s: (order[s.judge], s.test_set, s.stage_index)):
        block = score.summary.get("languages", {}).get(language)
        bitrate, value = summary_value(score.summary, "bitrate"), summary_value(block, *keys) if block else None
        if bitrate is None or value is None or (score.test_set, score.stage) in seen:
            continue
        seen.add((score.test_set, score.stage))
        series.setdefault(score.test_set, []).append((bitrate, value, score.stage))
    return {name: sorted(points) for name, points in series.items()}


LINESTYLES = ("-", "--", ":", "-.")
BASELINE_STAGE = "pretrained"


def _draw(ax, series, label: str, marker: str, annotate: bool, color: str) -> bool:
    """One line per test set: the metric sets colour and marker, the test set the line style."""
    drawn = False
    for index, (name, points) in enumerate(series.items()):
        # The pretrained model is a reference point, not a step of the rate ladder: joined to train_50hz,
        # which has the same bitrate, it would draw a vertical segment. It gets a hollow marker of its own.
        trained = [point for point in points if point[2] != BASELINE_STAGE]
        baseline = [point for point in points if point[2] == BASELINE_STAGE]
        linestyle = LINESTYLES[index % len(LINESTYLES)]
        if trained:
            xs, ys, _ = zip(*trained)
            ax.plot(xs, ys, marker=marker, color=color, linestyle=linestyle, label=f"{label} ({name})")
        if baseline:
            xs, ys, _ = zip(*baseline)
            ax.plot(xs, ys, marker=marker, color=color, linestyle="none", markerfacecolor="none", markersize=9,
                    label=None if trained else f"{label} ({name})")
        if annotate:
            for x, y, stage in points:
                ax.annotate(stage, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        drawn = True
    return drawn


def plot_results(scores: Sequence[StageScore], path: PathLike) -> Path:
    """Draw error and quality against bitrate, one row of two panels per language, as a PNG.

    Left panel: the paper, predecessor and vs-ground-truth error rates of the reference judge
    (``reference_judge``); right panel: PESQ and MOS, with STOI on a second axis. Bitrate axis logarithmic,
    ticked at the bitrates present.

    Parameters
    ----------
    scores : sequence of StageScore
        Score summaries (``fcodec.metrics.report.find_summaries``).
    path : str or os.PathLike
        The PNG file (written atomically, 110 dpi).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fcodec.utils.io import atomic_path

    languages = languages_of(scores) or ["none"]
    judge = reference_judge(scores)
    judged = [s for s in scores if s.judge == judge]  # the intelligibility panel's judge
    fig, axes = plt.subplots(len(languages), 2, figsize=(11, 3.6 * len(languages)), squeeze=False)
    for row, language in enumerate(languages):
        rate = "CER" if language == "zh" else "WER"
        err_ax, quality_ax = axes[row]
        drawn = _draw(err_ax, _series(judged, language, "paper", "d_err_pct"), f"d{rate} paper", "o", True, "C0")
        drawn |= _draw(err_ax, _series(judged, language, "predecessor", "d_err_mean_pct"), f"d{rate} predecessor",
                       "s", False, "C1")
        drawn |= _draw(err_ax, _series(judged, language, "vs_truth", "reconstruction", "rate_pct"),
                       f"{rate} recon vs GT", "^", False, "C2")
        err_ax.set_title(f"{language}: intelligibility" + (f" (judge {judge})" if judge else ""))
        err_ax.set_ylabel("error (%)")
        quality_drawn = _draw(quality_ax, _series(scores, language, "signal", "pesq", "mean"), "PESQ", "o", True, "C3")
        quality_drawn |= _draw(quality_ax, _series(scores, language, "mos", "reconstruction", "mean"), "MOS", "D",
                               False, "C4")
        stoi_ax = quality_ax.twinx()
        stoi_drawn = _draw(stoi_ax, _series(scores, language, "signal", "stoi", "mean"), "STOI", "s", False, "C5")
        quality_ax.set_title(f"{language}: quality")
        quality_ax.set_ylabel("PESQ / MOS")
        stoi_ax.set_ylabel("STOI")
        for ax, has_data in ((err_ax, drawn), (quality_ax, quality_drawn or stoi_drawn)):
            ax.set_xlabel("bitrate (bps)")
            if has_data:
                ax.set_xscale("log")
                # the rate ladder halves per training stage: label exactly the bitrates there are (137.5, 275, 550)
                bitrates = sorted({b for b in (summary_value(s.summary, "bitrate") for s in scores) if b})
                ax.set_xticks(bitrates, [f"{b:g}" for b in bitrates])
                ax.minorticks_off()
            ax.grid(True, which="both", alpha=0.3)
        if drawn:
            err_ax.legend(fontsize=7)
        handles = quality_ax.get_legend_handles_labels()
        stoi_handles = stoi_ax.get_legend_handles_labels()
        if handles[0] or stoi_handles[0]:
            quality_ax.legend(handles[0] + stoi_handles[0], handles[1] + stoi_handles[1], fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
