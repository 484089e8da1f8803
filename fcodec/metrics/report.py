"""RESULTS.md, regenerated from the score summaries of an experiment.

Rows are discovered as ``<exp_dir>/stage*/score/<test_set>/summary.json`` (stage0 = the pretrained or base model,
stage1..3 the trained ones). One table per test set and language, one row per stage. Everything in the file
comes from those summaries plus the command, the date and the environment passed in, so the same summaries
always give the same tables.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class StageScore:
    stage: str  # "stage0"
    test_set: str
    path: Path
    summary: Dict[str, Any]

    @property
    def stage_index(self) -> int:
        match = re.search(r"(\d+)$", self.stage)
        return int(match.group(1)) if match else 1 << 30


def find_summaries(exp_dir: PathLike) -> List[StageScore]:
    """All ``stage*/score/<set>/summary.json`` under ``exp_dir``, by test set then stage number."""
    scores = []
    for path in Path(exp_dir).glob("stage*/score/*/summary.json"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable score summary: {exc}") from exc
        scores.append(StageScore(stage=path.parent.parent.parent.name, test_set=path.parent.name, path=path,
                                 summary=summary))
    return sorted(scores, key=lambda s: (s.test_set, s.stage_index, s.stage))


def summary_value(block: Dict[str, Any], *keys: str) -> Optional[float]:
    for key in keys:
        if not isinstance(block, dict) or block.get(key) is None:
            return None
        block = block[key]
    return block if isinstance(block, (int, float)) and math.isfinite(block) else None


def _fmt(value: Optional[float], digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _fmt_number(value: Optional[float]) -> str:
    """Frame rates and bitrates: 12.5, 137.5, 550 (no needless decimals)."""
    return "–" if value is None else f"{value:g}"


# (header, getter on (summary, language block), digits); {R} is replaced by WER or CER
Column = Tuple[str, Callable[[Dict[str, Any], Dict[str, Any]], Optional[float]], int]
COLUMNS: List[Column] = [
    ("frame rate (Hz)", lambda s, l: summary_value(s, "frame_rate"), -1),
    ("bitrate (bps)", lambda s, l: summary_value(s, "bitrate"), -1),
    ("d{R} paper (%)", lambda s, l: summary_value(l, "paper", "d_err_pct"), 2),
    ("d{R} predecessor (%)", lambda s, l: summary_value(l, "predecessor", "d_err_mean_pct"), 2),
    ("{R} orig vs GT (%)", lambda s, l: summary_value(l, "vs_truth", "original", "rate_pct"), 2),
    ("{R} recon vs GT (%)", lambda s, l: summary_value(l, "vs_truth", "reconstruction", "rate_pct"), 2),
    ("PESQ", lambda s, l: summary_value(l, "signal", "pesq", "mean"), 2),
    ("STOI", lambda s, l: summary_value(l, "signal", "stoi", "mean"), 3),
    ("SI-SDR (dB)", lambda s, l: summary_value(l, "signal", "si_sdr", "mean"), 2),
    ("mel dist", lambda s, l: summary_value(l, "signal", "mel_distance", "mean"), 3),
    ("STFT dist", lambda s, l: summary_value(l, "signal", "stft_distance", "mean"), 3),
    ("MOS orig / recon", lambda s, l: None, 2),  # formatted specially below
    ("halluc.", lambda s, l: summary_value(l, "hallucinations", "reconstruction"), 0),
    ("scored", lambda s, l: (summary_value(l, "num_cuts") or 0) - (summary_value(l, "num_failed") or 0), 0),
    ("failed", lambda s, l: summary_value(l, "num_failed"), 0),
]


def _mos_cell(language_block: Dict[str, Any]) -> str:
    orig = summary_value(language_block, "mos", "original", "mean")
    recon = summary_value(language_block, "mos", "reconstruction", "mean")
    return "–" if orig is None and recon is None else f"{_fmt(orig, 2)} / {_fmt(recon, 2)}"


def _row(score: StageScore, language: str) -> List[str]:
    block = score.summary["languages"][language]
    cells = [score.stage]
    for header, getter, digits in COLUMNS:
        if header.startswith("MOS"):
            cells.append(_mos_cell(block))
        elif digits < 0:
            cells.append(_fmt_number(getter(score.summary, block)))
        else:
            cells.append(_fmt(getter(score.summary, block), digits))
    return cells


def _table(rows: Sequence[List[str]], rate_name: str) -> List[str]:
    headers = ["stage"] + [header.replace("{R}", rate_name) for header, _, _ in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _groups(scores: Sequence[StageScore]) -> Dict[Tuple[str, str], List[StageScore]]:
    groups: Dict[Tuple[str, str], List[StageScore]] = {}
    for score in scores:
        for language in sorted(score.summary.get("languages", {})):
            groups.setdefault((score.test_set, language), []).append(score)
    return groups


def render_results(scores: Sequence[StageScore], *, command: str, date: str, environment: Dict[str, str],
                   plot_name: Optional[str] = None) -> str:
    """The text of RESULTS.md for ``scores``."""
    lines = ["# Results", "",
             f"Regenerated by `{command}` on {date} from the score summaries "
             f"(`stage*/score/<test_set>/summary.json`); edits by hand are overwritten.", ""]
    if not scores:
        return "\n".join(lines + ["No score summaries found.", ""])
    if any(s.summary.get("asr", {}).get("random_test_model") for s in scores):
        lines += ["**The ASR judge is a tiny random-weight Whisper: every number below is meaningless.** "
                  "They only show that decoding and scoring run end to end.", ""]
    lines += [
        "Columns: **d{WER,CER} paper** = corpus-level error of the reconstruction's transcript against the "
        "original's transcript (FocalCodec papers); **predecessor** = mean over utterances of "
        "err(GT, recon) − err(GT, orig); **vs GT** = corpus-level error against the ground truth. "
        "PESQ (wide band), STOI, SI-SDR, mel and STFT distance at 16 kHz after delay alignment. "
        "**halluc.** = utterances whose reconstruction transcript inserts more than half the reference length. "
        "**scored / failed** = test cuts without / with a failure (reasons in `score/<set>/failed.tsv`). "
        "Text normalisation: English with Whisper's EnglishTextNormalizer, words; Mandarin with OpenCC t2s, "
        "digits read as Chinese numerals, punctuation and spaces removed, characters "
        "(an embedded Latin word is one unit).", ""]
    for (test_set, language), members in _groups(scores).items():
        rate_name = members[0].summary["languages"][language].get("rate_name", "WER")
        lines += [f"## {test_set} ({language})", ""]
        judges = sorted({s.summary.get("asr", {}).get("judge", "unknown") for s in members})
        lines.append(f"ASR judge: {judges[0]}" if len(judges) == 1 else
                     "ASR judges differ between rows, so the rows are not comparable: " + "; ".join(judges))
        lines.append("")
        lines += _table([_row(s, language) for s in members], rate_name)
        lines.append("")
        mos_notes = sorted({s.summary.get("mos", {}).get("skipped", "") for s in members} - {""})
        lines += [f"{note}" for note in mos_notes]
        models = [f"{s.stage}: {s.summary.get('model') or 'unknown model'}" for s in members]
        lines += ["Models: " + "; ".join(models) + ".", ""]
    if plot_name:
        lines += [f"![error and quality against bitrate]({plot_name})", ""]
    lines += ["## Environment", "", "```"]
    lines += [f"{key}: {value}" for key, value in environment.items()]
    scored_with = sorted({s.summary.get("environment", {}).get("git", "unknown") for s in scores})
    lines += [f"scored at git: {', '.join(scored_with)}", "```", ""]
    commands = [f"{s.stage}/{s.test_set}: `{s.summary.get('command', '')}` ({s.summary.get('date', '')})"
                for s in scores]
    lines += ["Score commands:", ""] + [f"- {c}" for c in commands] + [""]
    return "\n".join(lines)


def write_results(exp_dir: PathLike, out: PathLike, plot: Optional[PathLike], command: str,
                  date: Optional[str] = None, environment: Optional[Dict[str, str]] = None) -> List[StageScore]:
    """Write RESULTS.md (and the plot) for ``exp_dir``; returns the summaries used."""
    import datetime

    from fcodec.metrics.environment import environment_info
    from fcodec.utils.io import atomic_write_text

    scores = find_summaries(exp_dir)
    plot_name = None
    if plot is not None and scores:
        from fcodec.metrics.plot import plot_results

        plot_results(scores, plot)
        plot_name = os.path.relpath(Path(plot).resolve(), Path(out).resolve().parent)
    text = render_results(scores, command=command,
                          date=date or datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                          environment=environment if environment is not None else environment_info(),
                          plot_name=plot_name)
    atomic_write_text(out, text)
    return scores


def languages_of(scores: Iterable[StageScore]) -> List[str]:
    return sorted({language for s in scores for language in s.summary.get("languages", {})})
