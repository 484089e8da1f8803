"""RESULTS.md, regenerated from the score summaries of an experiment.

Rows are discovered as ``<exp_dir>/<model>/score/<judge>/<test_set>/summary.json``, ``<model>`` being
``pretrained`` (the codec training started from) or ``train_<rate>`` (``train_50hz``, ``train_25hz``,
``train_12.5hz``: the trained ones; folders set aside as ``<model>.old.<time>`` are left out), or one of these
decoded through a post-hoc bottleneck, ``<model>+posthoc_<preset>`` (fcodec.models.posthoc: a **post-hoc** row,
placed beside the trained model of about its bitrate), and ``<judge>`` the ASR judge's name. One table per test set, language and judge, one row per model, the pretrained one first; the
paper-comparable judge (Whisper-small, the FocalCodec papers' judge) comes first, and with two or more judges a
last table puts their error rates side by side. Everything in the file comes from those
summaries plus the command, the date and the environment passed in, so the same summaries always give the same
tables.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class StageScore:
    """One score summary: one model, judge and test set.

    Parameters
    ----------
    stage : str
        The model folder name (``pretrained``, ``train_50hz``, ...).
    judge : str
        The ASR judge's score folder name (``small``, ``whisper-base``, ...).
    test_set : str
        The test set name.
    path : Path
        The ``summary.json`` file.
    summary : dict
        Its content.
    """

    stage: str  # the model folder: "pretrained", "train_50hz", ...
    judge: str  # "small", the judge's score folder
    test_set: str
    path: Path
    summary: Dict[str, Any]

    @property
    def paper_comparable(self) -> bool:
        return bool(self.summary.get("asr", {}).get("paper_comparable"))

    @property
    def posthoc(self) -> Optional[str]:
        """The post-hoc preset of a ``<model>+posthoc_<preset>`` row, else None."""
        match = MODEL_DIR.match(self.stage)
        return match.group(2) if match else None

    @property
    def label(self) -> str:
        """The row's name in the tables: the model folder, a post-hoc row marked as such."""
        if self.posthoc is None:
            return self.stage
        return f"**post-hoc** {self.posthoc} ({self.stage.split(POSTHOC_SEP)[0]})"

    @property
    def stage_index(self) -> float:
        """Row order: the pretrained model, then the trained ones by falling frame rate (the recipe's order); a
        post-hoc row just after the trained model of its bitrate (1 / frame rate of an 11-bit model at that
        bitrate), so that each trained low-rate model has its equal-bitrate baselines beside it."""
        match = MODEL_DIR.match(self.stage)
        if not match:
            return math.inf
        if match.group(2):
            bitrate = summary_value(self.summary, "bitrate")
            return 11.0 / bitrate + 1e-9 if bitrate else math.inf
        return 0.0 if not match.group(1) else 1.0 / float(match.group(1))


# the model folders of an experiment: what stage 7 decodes and stage 8 scores
MODEL_DIR = re.compile(
    r"^(?:pretrained|train_(\d+(?:\.\d+)?)hz)"
    r"(?:\+posthoc_(\d+(?:\.\d+)?hz(?:_keep\d+)?(?:_\d+bit)?_\d+(?:\.\d+)?bps))?$"  # fcodec.models.posthoc names
)
POSTHOC_SEP = "+posthoc_"  # fcodec.infer.posthoc.posthoc_model_name


def find_summaries(exp_dir: PathLike) -> List[StageScore]:
    """All ``<model>/score/<judge>/<set>/summary.json`` under ``exp_dir``, by test set, model, then judge.

    Summaries in the older layout without a judge folder, and set-aside score folders, are left out.

    Parameters
    ----------
    exp_dir : str or os.PathLike
        The experiment folder.

    Returns
    -------
    list of StageScore

    Raises
    ------
    ValueError
        A summary cannot be read or parsed (the message names the file).
    """
    scores = []
    for path in Path(exp_dir).glob("*/score/*/*/summary.json"):
        if not MODEL_DIR.match(path.parents[3].name) or ".old." in path.parent.name:  # set aside: not a result
            continue
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable score summary: {exc}") from exc
        scores.append(
            StageScore(
                stage=path.parents[3].name,
                judge=path.parents[1].name,
                test_set=path.parent.name,
                path=path,
                summary=summary,
            )
        )
    old_layout = sorted(p for p in Path(exp_dir).glob("*/score/*/summary.json") if MODEL_DIR.match(p.parents[2].name))
    if old_layout:
        logging.warning(
            "%d score summaries in the layout before judges had folders (e.g. %s) are left out: "
            "score them again (stage 8 writes <model>/score/<judge>/<test_set>/)",
            len(old_layout),
            old_layout[0],
        )
    return sorted(scores, key=lambda s: (s.test_set, s.stage_index, s.stage, s.judge))


def summary_value(block: Dict[str, Any], *keys: str) -> Optional[float]:
    """The number at ``block[keys[0]][keys[1]]...``, or None when a key is missing or the value is None, not a
    number or not finite.

    Parameters
    ----------
    block : dict
        A (part of a) score summary.
    *keys : str
        The path of keys.
    """
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
    ("frame rate (Hz)", lambda s, b: summary_value(s, "frame_rate"), -1),
    ("bitrate (bps)", lambda s, b: summary_value(s, "bitrate"), -1),
    ("d{R} paper (%)", lambda s, b: summary_value(b, "paper", "d_err_pct"), 2),
    ("d{R} predecessor (%)", lambda s, b: summary_value(b, "predecessor", "d_err_mean_pct"), 2),
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


def mos_dimensions(scores: Iterable[StageScore]) -> List[Tuple[str, str]]:
    """(MOS judge, dimension) of every quality column, in the order the summaries list the judges."""
    columns: List[Tuple[str, str]] = []
    for score in scores:
        for judge, info in score.summary.get("mos", {}).get("judges", {}).items():
            columns += [(judge, d) for d in info.get("dimensions", []) if (judge, d) not in columns]
    return columns


def _quality_table(members: Sequence[StageScore], language: str) -> List[str]:
    """Rows: each stage's reconstructions, then the original audio; columns: each MOS judge's dimensions (the
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
        row = [score.label, _fmt_number(summary_value(score.summary, "bitrate"))]
        row += [_fmt(summary_value(block, "mos", j, "reconstruction", d, "mean"), 2) for j, d in columns]
        row += [_fmt(summary_value(block, "speaker_similarity", "mean"), 3)] if with_speaker else []
        lines.append("| " + " | ".join(row) + " |")
    # the originals are the same audio for every stage: the stage that scored most of them speaks for all
    original = ["original", "–"]
    for judge, dimension in columns:
        blocks = [
            s.summary["languages"][language].get("mos", {}).get(judge, {}).get("original", {}).get(dimension)
            for s in members
        ]
        best = max((b for b in blocks if b and b.get("mean") is not None), key=lambda b: b.get("n", 0), default=None)
        original.append(_fmt(best["mean"] if best else None, 2))
    original += ["–"] if with_speaker else []
    return lines + ["| " + " | ".join(original) + " |"]


def _against_baseline(
    by_judge: Dict[str, List[StageScore]],
    baseline: Tuple[str, Sequence[StageScore]],
    test_set: str,
    language: str,
    rate_name: str,
) -> List[str]:
    """This run beside another (a variant against the main run): per model, the reference judge's d{WER,CER}
    paper, NISQA MOS and speaker similarity of both, so a variant that buys quality with intelligibility (or the
    reverse) shows at a glance."""
    name, others = baseline
    judge = reference_judge([s for rows in by_judge.values() for s in rows])
    mine = {s.stage: s for s in by_judge.get(judge, [])}
    theirs = {
        s.stage: s
        for s in others
        if s.judge == judge and s.test_set == test_set and language in s.summary.get("languages", {})
    }
    if not mine or not theirs:
        return []
    metrics = [
        (f"d{rate_name} paper (%)", ("paper", "d_err_pct"), 2),
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
    for model in sorted(set(mine) | set(theirs), key=lambda m: (mine.get(m) or theirs[m]).stage_index):
        row = [(mine.get(model) or theirs[model]).label]
        for _, keys, digits in metrics:
            for run in (mine, theirs):
                block = run[model].summary["languages"].get(language, {}) if model in run else {}
                row.append(_fmt(summary_value(block, *keys), digits))
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def _quality_notes(members: Sequence[StageScore]) -> List[str]:
    """The reasons a MOS judge or the speaker similarity was skipped (one line each)."""
    notes = set()
    for score in members:
        skipped = score.summary.get("mos", {}).get("skipped", {})
        notes |= set(skipped.values()) if isinstance(skipped, dict) else {skipped} if skipped else set()
        notes |= {score.summary.get("speaker_similarity", {}).get("skipped", "")}
    return sorted(notes - {""})


def _row(score: StageScore, language: str) -> List[str]:
    block = score.summary["languages"][language]
    cells = [score.label]
    for _, getter, digits in COLUMNS:
        if digits < 0:
            cells.append(_fmt_number(getter(score.summary, block)))
        else:
            cells.append(_fmt(getter(score.summary, block), digits))
    return cells


def _table(rows: Sequence[List[str]], rate_name: str) -> List[str]:
    headers = ["model"] + [header.replace("{R}", rate_name) for header, _, _ in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _groups(scores: Sequence[StageScore]) -> Dict[Tuple[str, str], Dict[str, List[StageScore]]]:
    """(test set, language) -> judge -> rows by stage; judges in :func:`judges_of`'s order (paper-comparable first)."""
    order = {judge: index for index, judge in enumerate(judges_of(scores))}
    groups: Dict[Tuple[str, str], Dict[str, List[StageScore]]] = {}
    for score in sorted(scores, key=lambda s: (order[s.judge], s.stage_index, s.stage)):
        for language in sorted(score.summary.get("languages", {})):
            groups.setdefault((score.test_set, language), {}).setdefault(score.judge, []).append(score)
    return dict(sorted(groups.items()))


def _judge_role(members: Sequence[StageScore]) -> str:
    if all(s.paper_comparable for s in members):
        return "paper-comparable"
    if any(s.summary.get("asr", {}).get("random_test_model") for s in members):
        return "tiny random test model"
    return "independent"


def _side_by_side(by_judge: Dict[str, List[StageScore]], language: str, rate_name: str) -> List[str]:
    """One row per model: each judge's paper-protocol error and error against the ground truth, and each other
    judge's paper-protocol error over the first judge's, the paper-comparable one when it scored
    (docs/evaluation.md, Judges: at most 1.5, and not growing from one rate to the next)."""
    judges = list(by_judge)
    paper, others = judges[0], judges[1:]
    headers = (
        ["model", "bitrate (bps)"]
        + [f"d{rate_name} paper: {j} (%)" for j in judges]
        + [f"{rate_name} recon vs GT: {j} (%)" for j in judges]
        + [f"d{rate_name} paper {j} / {paper}" for j in others]
    )
    rows: Dict[str, Dict[str, StageScore]] = {}
    for judge, members in by_judge.items():
        for score in members:
            rows.setdefault(score.stage, {})[judge] = score
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for stage in sorted(rows, key=lambda name: next(iter(rows[name].values())).stage_index):
        cells = rows[stage]
        any_score = next(iter(cells.values()))

        def value(judge: str, *keys: str) -> Optional[float]:
            score = cells.get(judge)
            return summary_value(score.summary["languages"][language], *keys) if score else None

        d_err = {j: value(j, "paper", "d_err_pct") for j in judges}
        row = [any_score.label, _fmt_number(summary_value(any_score.summary, "bitrate"))]
        row += [_fmt(d_err[j], 2) for j in judges]
        row += [_fmt(value(j, "vs_truth", "reconstruction", "rate_pct"), 2) for j in judges]
        for judge in others:
            ratio = d_err[judge] / d_err[paper] if d_err[judge] is not None and d_err[paper] else None
            row.append(_fmt(ratio, 2))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def render_results(
    scores: Sequence[StageScore],
    *,
    command: str,
    date: str,
    environment: Dict[str, str],
    plot_name: Optional[str] = None,
    baseline: Optional[Tuple[str, Sequence[StageScore]]] = None,
) -> str:
    """The text of RESULTS.md for ``scores``.

    Parameters
    ----------
    scores : sequence of StageScore
        The summaries to tabulate (``find_summaries``); none gives a file that says so.
    command : str
        The command line that regenerated the file (printed at the top).
    date : str
        Printed with the command.
    environment : dict of str to str
        Printed in the Environment section, one ``key: value`` line each.
    plot_name : str, optional
        Path of the plot relative to RESULTS.md, linked when given.
    baseline : (str, sequence of StageScore), optional
        Another run (its name, its summaries) to compare with: each test set gets a table of both runs'
        intelligibility and quality per model (a ``--tag`` variant against the main run).

    Returns
    -------
    str
        Markdown; the same arguments always give the same text.
    """
    lines = [
        "# Results",
        "",
        f"Regenerated by `{command}` on {date} from the score summaries "
        f"(`<model>/score/<judge>/<test_set>/summary.json`); edits by hand are overwritten.",
        "",
    ]
    if not scores:
        return "\n".join(lines + ["No score summaries found.", ""])
    if any(s.summary.get("asr", {}).get("random_test_model") for s in scores):
        lines += [
            "**The ASR judge is a tiny random-weight Whisper: every number below is meaningless.** "
            "They only show that decoding and scoring run end to end.",
            "",
        ]
    lines += [
        "Columns: **d{WER,CER} paper** = corpus-level error of the reconstruction's transcript against the "
        "original's transcript (FocalCodec papers); **predecessor** = mean over utterances of "
        "err(GT, recon) − err(GT, orig); **vs GT** = corpus-level error against the ground truth. "
        "PESQ (wide band), STOI, SI-SDR, mel and STFT distance at 16 kHz after delay alignment. "
        "**halluc.** = utterances whose reconstruction transcript inserts more than half the reference length. "
        "**scored / failed** = test cuts without / with a failure (reasons in `score/<judge>/<set>/failed.tsv`). "
        "Text normalisation: English with Whisper's EnglishTextNormalizer, words; Mandarin with OpenCC t2s, "
        "digits read as Chinese numerals, punctuation and spaces removed, characters "
        "(an embedded Latin word is one unit).",
        "",
        "Judges: one table per ASR judge. **Paper-comparable** = Whisper-small with its published weights, the "
        "judge of the FocalCodec papers: only its d{WER,CER} paper compares with their numbers. Any other judge is "
        "**independent**: a codec trained with a Whisper-small ASR loss can learn artefacts that Whisper-small "
        "forgives and another judge does not, so the gap between the two is watched: with two or more judges a last "
        "table puts them side by side, with each independent judge's d{WER,CER} paper over the paper-comparable "
        "judge's (over the first judge's when none is paper-comparable; the goal: at most 1.5, and not growing from "
        "one rate to the next). The plot's intelligibility panel shows that judge too. The signal metrics do not depend on the judge.",
        "",
        "Quality (the same for every ASR judge): MOS judges predict a listener's rating (1-5) from the audio alone, "
        "each model's reconstructions and the original audio (last row) scored alike. **NISQA** v2.0 hears each file "
        "at its own rate (the 24 kHz reconstruction at 24 kHz, as its reference code and the published tables do): "
        "MOS (the MOS_Q of the FocalCodec papers' tables) and its four dimensions, noisiness, discontinuity, "
        "coloration, loudness (higher = better). **DNSMOS** (speechmos): P.835 OVRL / SIG / BAK and P.808. "
        "**speaker sim.** = cosine similarity of Resemblyzer speaker embeddings (16 kHz) of reconstruction and original "
        "(1 = the same voice). The plot's trade-off panel puts intelligibility against NISQA MOS.",
        "",
    ]
    if any(s.posthoc for s in scores):
        lines += [
            "**post-hoc** rows: a model (in brackets) with its bitrate lowered after training, without training "
            "(fcodec.models.posthoc): `keep<k>` sends the first token of every k, repeated k times at decode; "
            "`<b>bit` sends b of the code bits, chosen on training cuts (`<model>+posthoc_<preset>/decode/posthoc.json`), "
            "the others set to their most frequent value. They are the baselines a trained model of about the same "
            "bitrate (the row above them) must beat.",
            "",
        ]
    for (test_set, language), by_judge in _groups(scores).items():
        first = next(iter(by_judge.values()))[0]
        rate_name = first.summary["languages"][language].get("rate_name", "WER")
        lines += [f"## {test_set} ({language})", ""]
        for judge, members in by_judge.items():
            lines += [f"### Judge `{judge}` ({_judge_role(members)})", ""]
            descriptions = sorted({s.summary.get("asr", {}).get("judge", "unknown") for s in members})
            lines.append(
                f"ASR judge: {descriptions[0]}"
                if len(descriptions) == 1
                else "ASR judges differ between rows, so the rows are not comparable: " + "; ".join(descriptions)
            )
            lines.append("")
            lines += _table([_row(s, language) for s in members], rate_name)
            lines.append("")
        if len(by_judge) > 1:
            lines += ["### Judges side by side", ""]
            lines += _side_by_side(by_judge, language, rate_name)
            lines.append("")
        quality = _quality_table(next(iter(by_judge.values())), language)
        if quality:
            lines += ["### Quality", ""] + quality + [""]
        if baseline is not None:
            lines += _against_baseline(by_judge, baseline, test_set, language, rate_name)
        members = [s for rows in by_judge.values() for s in rows]
        lines += _quality_notes(members)
        models = {
            s.stage: s.summary.get("model") or "unknown model"
            for s in sorted(members, key=lambda s: (s.stage_index, s.stage))
        }
        lines += ["Models: " + "; ".join(f"{stage}: {model}" for stage, model in models.items()) + ".", ""]
    if plot_name:
        lines += [f"![error and quality against bitrate]({plot_name})", ""]
    lines += ["## Environment", "", "```"]
    lines += [f"{key}: {value}" for key, value in environment.items()]
    scored_with = sorted({s.summary.get("environment", {}).get("git", "unknown") for s in scores})
    lines += [f"scored at git: {', '.join(scored_with)}", "```", ""]
    commands = [
        f"{s.stage}/{s.judge}/{s.test_set}: `{s.summary.get('command', '')}` ({s.summary.get('date', '')})"
        for s in scores
    ]
    lines += ["Score commands:", ""] + [f"- {c}" for c in commands] + [""]
    return "\n".join(lines)


def write_results(
    exp_dir: PathLike,
    out: PathLike,
    plot: Optional[PathLike],
    command: str,
    date: Optional[str] = None,
    environment: Optional[Dict[str, str]] = None,
    judges: Optional[Sequence[str]] = None,
    compare_with: Optional[PathLike] = None,
) -> List[StageScore]:
    """Write RESULTS.md (and the plot) for ``exp_dir``; returns the summaries used. ``judges``: only the score
    folders of these judges (the recipe's current --asr-judges; a judge dropped from it keeps its files).

    Parameters
    ----------
    exp_dir : str or os.PathLike
        The experiment folder searched by ``find_summaries``.
    out : str or os.PathLike
        RESULTS.md path (written atomically).
    plot : str or os.PathLike, optional
        PNG path of the bitrate plot (``fcodec.metrics.plot.plot_results``); not drawn when None or without
        scores.
    command : str
        The command line printed at the top.
    date : str, optional
        Default: now, local time, ISO 8601 to the second.
    environment : dict of str to str, optional
        Default: ``fcodec.utils.environment.environment_info()``.
    judges : sequence of str, optional
        Keep only these judges' summaries (missing ones are logged); None keeps all.
    compare_with : str or os.PathLike, optional
        Another experiment folder (the main run of a ``--tag`` variant): RESULTS.md compares the two per model.

    Returns
    -------
    list of StageScore
        The summaries used.

    Raises
    ------
    ValueError
        A summary cannot be read (see ``find_summaries``).
    """
    import datetime

    from fcodec.utils.environment import environment_info
    from fcodec.utils.io import atomic_write_text

    scores = find_summaries(exp_dir)
    if judges is not None:
        left_out = sorted({s.judge for s in scores} - set(judges))
        if left_out:
            logging.info("judges not asked for, left out of %s: %s", out, ", ".join(left_out))
        missing = sorted(set(judges) - {s.judge for s in scores})
        if missing:
            logging.warning("no score summaries of the judges %s under %s", ", ".join(missing), exp_dir)
        scores = _of_judges(scores, judges)
    plot_name = None
    if plot is not None and scores:
        from fcodec.metrics.plot import plot_results

        plot_results(scores, plot)
        plot_name = os.path.relpath(Path(plot).resolve(), Path(out).resolve().parent)
    text = render_results(
        scores,
        command=command,
        date=date or datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        environment=environment if environment is not None else environment_info(),
        plot_name=plot_name,
        baseline=(f"`{compare_with}`", find_summaries(compare_with)) if compare_with else None,
    )
    atomic_write_text(out, text)
    return scores


def _of_judges(scores: Sequence[StageScore], judges: Optional[Sequence[str]]) -> List[StageScore]:
    return list(scores) if judges is None else [s for s in scores if s.judge in judges]


def inputs_digest(
    exp_dir: PathLike, judges: Optional[Sequence[str]] = None, compare_with: Optional[PathLike] = None
) -> str:
    """A digest (16 hex digits) of the content of every summary :func:`write_results` reads with these arguments:
    ``exp_dir``'s (of ``judges``) and ``compare_with``'s. The recipe's stage 8 is up to date while it is unchanged,
    so a rescored main run refreshes a ``--tag`` variant's comparison table, as a rescored model does its own rows.

    Raises
    ------
    ValueError
        A summary cannot be read (see ``find_summaries``).
    """
    digest = hashlib.sha256()
    runs = [("this run", _of_judges(find_summaries(exp_dir), judges))]
    if compare_with is not None:
        runs.append(("compared run", find_summaries(compare_with)))
    for role, scores in runs:
        for score in scores:
            content = score.path.read_bytes()
            digest.update(f"{role} {score.stage}/{score.judge}/{score.test_set} {len(content)}\n".encode())
            digest.update(content)
    return digest.hexdigest()[:16]


def languages_of(scores: Iterable[StageScore]) -> List[str]:
    """The language tags of the summaries' ``languages`` blocks, sorted."""
    return sorted({language for s in scores for language in s.summary.get("languages", {})})


def judges_of(scores: Iterable[StageScore]) -> List[str]:
    """The judges' names: those paper-comparable in every summary first, then the others, each group by name.

    Parameters
    ----------
    scores : iterable of StageScore
        Score summaries (``find_summaries``).

    Returns
    -------
    list of str
    """
    flags: Dict[str, bool] = {}
    for s in scores:
        flags[s.judge] = flags.get(s.judge, True) and s.paper_comparable
    return sorted(flags, key=lambda judge: (not flags[judge], judge))


def reference_judge(scores: Iterable[StageScore]) -> Optional[str]:
    """The judge that the plot shows and the side-by-side ratios divide by: the paper-comparable one (Whisper-small)
    when it scored, else the first by name; None without scores.

    Parameters
    ----------
    scores : iterable of StageScore
        Score summaries (``find_summaries``).

    Returns
    -------
    str or None
    """
    judges = judges_of(scores)
    return judges[0] if judges else None
