"""PNG plot of error and quality against bitrate, and of intelligibility against quality, one row per language
(matplotlib, Agg backend).

The intelligibility panel shows one ASR judge, the paper-comparable one (Whisper-small) when it scored, else the
first by name (:func:`fcodec.metrics.summaries.reference_judge`; its name is in the panel's title): the other judges
are in RESULTS.md's side-by-side table. The quality panel does not depend on the judge and shows each model once.
The trade-off panel puts each model's intelligibility (corpus d{WER,CER}, that judge) against its NISQA MOS
(another MOS judge's headline when NISQA did not score), one line per test set from the original audio (a star at
d = 0) through the models: a model that buys intelligibility with quality moves up and to the left. Post-hoc
baselines (``<model>+posthoc_<preset>`` rows) are crosses, not joined to the trained models' lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from fcodec.layout.experiment import PRETRAINED, is_posthoc, split_posthoc
from fcodec.metrics.summaries import (
    ModelScore,
    judges_of,
    languages_of,
    reference_judge,
    summary_value,
)

PathLike = Union[str, os.PathLike]


def _series(scores: Sequence[ModelScore], language: str, *keys: str) -> Dict[str, List[Tuple[float, float, str]]]:
    """Test set -> [(bitrate, value, model)] sorted by bitrate, for rows where both are known; each model once
    (from the first judge of :func:`judges_of` that scored it: pass one judge's scores for a judge's metric)."""
    order = {judge: index for index, judge in enumerate(judges_of(scores))}
    series: Dict[str, List[Tuple[float, float, str]]] = {}
    seen: Set[Tuple[str, str]] = set()
    for score in sorted(scores, key=lambda s: (order[s.judge], s.test_set, s.row_order)):
        block = score.summary.get("languages", {}).get(language)
        bitrate, value = summary_value(score.summary, "bitrate"), summary_value(block, *keys) if block else None
        if bitrate is None or value is None or (score.test_set, score.model) in seen:
            continue
        seen.add((score.test_set, score.model))
        series.setdefault(score.test_set, []).append((bitrate, value, score.model))
    return {name: sorted(points) for name, points in series.items()}


TRADEOFF_JUDGES = ("nisqa", "dnsmos", "utmos")  # the quality axis: the first of these that scored


def _tradeoff(judged: Sequence[ModelScore], language: str) -> Tuple[Optional[str], Dict[str, Dict[str, Any]]]:
    """(MOS judge, {test set: {"points": [(MOS recon, d_err, model)] by model, "original": MOS of the originals}})
    from one ASR judge's summaries."""
    for mos_judge in TRADEOFF_JUDGES:
        series: Dict[str, Dict[str, Any]] = {}
        for score in sorted(judged, key=lambda s: (s.test_set, s.row_order)):
            block = score.summary.get("languages", {}).get(language)
            dimensions = score.summary.get("mos", {}).get("judges", {}).get(mos_judge, {}).get("dimensions")
            if not block or not dimensions:
                continue
            # a judge's headline MOS is its first dimension
            recon = summary_value(block, "mos", mos_judge, "reconstruction", dimensions[0], "mean")
            original = summary_value(block, "mos", mos_judge, "original", dimensions[0], "mean")
            d_err = summary_value(block, "corpus", "d_err_pct")
            entry = series.setdefault(score.test_set, {"points": [], "original": None})
            if original is not None and entry["original"] is None:
                entry["original"] = original
            if recon is not None and d_err is not None:
                entry["points"].append((recon, d_err, score.model))
        if any(entry["points"] for entry in series.values()):
            return mos_judge, series
    return None, {}


LINESTYLES = ("-", "--", ":", "-.")
BASELINE_MODEL = PRETRAINED
POSTHOC_MARKER = "x"


def _short(model: str) -> str:
    """A point's annotation: the model folder, or a post-hoc row's preset."""
    base, preset = split_posthoc(model)
    return base if preset is None else preset


def _draw_posthoc(ax, points, color: str, label: Optional[str]) -> None:
    """Post-hoc baselines: crosses, not joined (they are not steps of the trained rate ladder)."""
    if points:
        xs, ys, _ = zip(*points)
        ax.plot(xs, ys, marker=POSTHOC_MARKER, color=color, linestyle="none", markersize=8, label=label)


def _draw(ax, series, label: str, marker: str, annotate: bool, color: str) -> bool:
    """One line per test set: the metric sets colour and marker, the test set the line style."""
    drawn = False
    for index, (name, points) in enumerate(series.items()):
        # The pretrained model is a reference point, not a step of the rate ladder: joined to train_50hz,
        # which has the same bitrate, it would draw a vertical segment. It gets a hollow marker of its own.
        # post-hoc baselines (fcodec.models.posthoc) are crosses of their own
        trained = [point for point in points if point[2] != BASELINE_MODEL and not is_posthoc(point[2])]
        baseline = [point for point in points if point[2] == BASELINE_MODEL]
        posthoc = [point for point in points if is_posthoc(point[2])]
        linestyle = LINESTYLES[index % len(LINESTYLES)]
        if trained:
            xs, ys, _ = zip(*trained)
            ax.plot(xs, ys, marker=marker, color=color, linestyle=linestyle, label=f"{label} ({name})")
        if baseline:
            xs, ys, _ = zip(*baseline)
            ax.plot(
                xs,
                ys,
                marker=marker,
                color=color,
                linestyle="none",
                markerfacecolor="none",
                markersize=9,
                label=None if trained else f"{label} ({name})",
            )
        _draw_posthoc(ax, posthoc, color, f"{label} post-hoc ({name})")
        if annotate:
            for x, y, model in points:
                ax.annotate(_short(model), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        drawn = True
    return drawn


def plot_results(scores: Sequence[ModelScore], path: PathLike) -> Path:
    """Draw error and quality against bitrate, one row of two panels per language, as a PNG.

    Left panel: the corpus, per-utterance and vs-ground-truth error rates of the reference judge
    (``reference_judge``); right panel: PESQ and MOS, with STOI on a second axis. Bitrate axis logarithmic,
    ticked at the bitrates present.

    Parameters
    ----------
    scores : sequence of ModelScore
        Score summaries (``fcodec.metrics.summaries.find_summaries``).
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
    from fcodec.metrics.mos import JUDGE_TITLES

    fig, axes = plt.subplots(len(languages), 3, figsize=(16, 3.8 * len(languages)), squeeze=False)
    for row, language in enumerate(languages):
        rate = "CER" if language == "zh" else "WER"
        err_ax, quality_ax, trade_ax = axes[row]
        drawn = _draw(err_ax, _series(judged, language, "corpus", "d_err_pct"), f"d{rate} corpus", "o", True, "C0")
        drawn |= _draw(
            err_ax, _series(judged, language, "per_utterance", "d_err_mean_pct"), f"d{rate} per-utt.", "s", False, "C1"
        )
        drawn |= _draw(
            err_ax,
            _series(judged, language, "vs_truth", "reconstruction", "rate_pct"),
            f"{rate} recon vs GT",
            "^",
            False,
            "C2",
        )
        err_ax.set_title(f"{language}: intelligibility" + (f" (judge {judge})" if judge else ""))
        err_ax.set_ylabel("error (%)")
        quality_drawn = _draw(quality_ax, _series(scores, language, "signal", "pesq", "mean"), "PESQ", "o", True, "C3")
        quality_drawn |= _draw(
            quality_ax,
            _series(scores, language, "mos", "nisqa", "reconstruction", "mos", "mean"),
            "NISQA MOS",
            "D",
            False,
            "C4",
        )
        stoi_ax = quality_ax.twinx()
        stoi_drawn = _draw(stoi_ax, _series(scores, language, "signal", "stoi", "mean"), "STOI", "s", False, "C5")
        quality_ax.set_title(f"{language}: quality")
        quality_ax.set_ylabel("PESQ / MOS")
        mos_judge, tradeoff = _tradeoff(judged, language)
        for index, (name, entry) in enumerate(tradeoff.items()):
            linestyle = LINESTYLES[index % len(LINESTYLES)]
            joined = [p for p in entry["points"] if not is_posthoc(p[2])]
            xs = ([entry["original"]] if entry["original"] is not None else []) + [p[0] for p in joined]
            ys = ([0.0] if entry["original"] is not None else []) + [p[1] for p in joined]
            trade_ax.plot(xs, ys, color="C0", linestyle=linestyle, marker="o", label=name)
            posthoc = [p for p in entry["points"] if is_posthoc(p[2])]
            _draw_posthoc(trade_ax, posthoc, "C1", f"post-hoc ({name})" if posthoc else None)
            if entry["original"] is not None:
                trade_ax.plot(
                    [entry["original"]],
                    [0.0],
                    color="C3",
                    marker="*",
                    markersize=12,
                    linestyle="none",
                    label="original" if index == 0 else None,
                )
            for x, y, model in entry["points"]:
                trade_ax.annotate(_short(model), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        title = JUDGE_TITLES.get(mos_judge, mos_judge) if mos_judge else "NISQA"
        trade_ax.set_title(f"{language}: intelligibility vs quality" + (f" (judge {judge})" if judge else ""))
        trade_ax.set_xlabel(f"{title} MOS (reconstruction; higher = better)")
        trade_ax.set_ylabel(f"d{rate} corpus (%)")
        trade_ax.grid(True, alpha=0.3)
        if tradeoff:
            trade_ax.legend(fontsize=7)
        else:
            trade_ax.text(0.5, 0.5, "no MOS judge scored", ha="center", va="center", transform=trade_ax.transAxes)
        stoi_ax.set_ylabel("STOI")
        for ax, has_data in ((err_ax, drawn), (quality_ax, quality_drawn or stoi_drawn)):
            ax.set_xlabel("bitrate (bps)")
            if has_data:
                ax.set_xscale("log")
                # the rate ladder halves per training run: label exactly the bitrates there are (137.5, 275, 550)
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
