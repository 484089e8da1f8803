"""Per-utterance error files in icefall's layout, so the usual icefall/k2 habits (grep the errs- file for an
utterance, sort the substitutions) work on codec scores too.

* ``recogs-<set>-<key>.txt``: two lines per utterance, ``<cut_id>:\\tref=[...]`` and ``<cut_id>:\\thyp=[...]``
  (the unit lists, as Python reprs);
* ``errs-<set>-<key>.txt``: the rate, the error breakdown, then sections ``PER-UTT DETAILS`` (the alignment,
  ``(ref->hyp)`` for each run of errors, ``*`` for an empty side), ``SUBSTITUTIONS``, ``DELETIONS``,
  ``INSERTIONS`` and ``PER-WORD STATS``;
* ``wer-summary-<set>.txt``: ``settings<TAB>WER`` then one line per key.

Character-level sets say ``%CER`` and "reference characters" where icefall always says WER/words.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import kaldialign

from fcodec.metrics.error_rate import EditCounts
from fcodec.utils.io import atomic_write_text

EPS = "*"
Result = Tuple[str, Sequence[str], Sequence[str]]  # (cut_id, reference units, hypothesis units)
PathLike = Union[str, os.PathLike]


def write_recogs(path: PathLike, results: Sequence[Result]) -> Path:
    """Write a ``recogs-`` file atomically (format in the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    results : sequence of (str, sequence of str, sequence of str)
        ``(cut_id, reference units, hypothesis units)`` per utterance; written sorted by cut id.

    Returns
    -------
    Path
        ``path``.
    """
    lines = []
    for cut_id, ref, hyp in sorted(results, key=lambda r: r[0]):
        lines.append(f"{cut_id}:\tref={list(ref)}")
        lines.append(f"{cut_id}:\thyp={list(hyp)}")
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def _merged_alignment(ref: Sequence[str], hyp: Sequence[str]) -> List[Tuple[str, str]]:
    """The alignment with each run of consecutive errors joined into one (ref words -> hyp words) pair."""
    merged: List[Tuple[List[str], List[str]]] = []
    in_error_run = False
    for ref_unit, hyp_unit in kaldialign.align(list(ref), list(hyp), EPS):
        is_error = ref_unit != hyp_unit
        if is_error and in_error_run:
            merged[-1][0].append(ref_unit)
            merged[-1][1].append(hyp_unit)
        else:
            merged.append(([ref_unit], [hyp_unit]))
        in_error_run = is_error
    out = []
    for refs, hyps in merged:
        refs = [u for u in refs if u != EPS]
        hyps = [u for u in hyps if u != EPS]
        out.append((" ".join(refs) or EPS, " ".join(hyps) or EPS))
    return out


def format_alignment(ref: Sequence[str], hyp: Sequence[str]) -> str:
    """'THE (EDISON->ADDISON) COMPANY (SIR->*)': correct units as they are, error runs as (ref->hyp).

    Parameters
    ----------
    ref, hyp : sequence of str
        Reference and hypothesis units.

    Returns
    -------
    str
        The kaldialign alignment, consecutive errors merged into one ``(ref->hyp)`` run, ``*`` for an empty side.
    """
    return " ".join(r if r == h else f"({r}->{h})" for r, h in _merged_alignment(ref, hyp))


def write_error_stats(path: PathLike, results: Sequence[Result], unit: str = "word") -> EditCounts:
    """Write the errs- file for ``results`` and return the corpus-level counts.

    Parameters
    ----------
    path : str or os.PathLike
        The file (written atomically).
    results : sequence of (str, sequence of str, sequence of str)
        ``(cut_id, reference units, hypothesis units)`` per utterance; written sorted by cut id.
    unit : str, default "word"
        ``"char"`` labels the file ``%CER`` / characters, anything else ``%WER`` / words.

    Returns
    -------
    EditCounts
        Summed over the utterances.
    """
    subs: Dict[Tuple[str, str], int] = defaultdict(int)
    ins: Dict[str, int] = defaultdict(int)
    dels: Dict[str, int] = defaultdict(int)
    # per unit: correct, substituted as ref, substituted as hyp, inserted, deleted
    per_unit: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    results = sorted(results, key=lambda r: r[0])
    for _, ref, hyp in results:
        for ref_unit, hyp_unit in kaldialign.align(list(ref), list(hyp), EPS):
            if ref_unit == EPS:
                ins[hyp_unit] += 1
                per_unit[hyp_unit][3] += 1
            elif hyp_unit == EPS:
                dels[ref_unit] += 1
                per_unit[ref_unit][4] += 1
            elif ref_unit != hyp_unit:
                subs[(ref_unit, hyp_unit)] += 1
                per_unit[ref_unit][1] += 1
                per_unit[hyp_unit][2] += 1
            else:
                per_unit[ref_unit][0] += 1
    counts = EditCounts(
        ins=sum(ins.values()),
        dels=sum(dels.values()),
        subs=sum(subs.values()),
        ref_len=sum(len(ref) for _, ref, _ in results),
    )
    rate_name, unit_plural = ("CER", "characters") if unit == "char" else ("WER", "words")
    rate = f"{100.0 * counts.rate:.2f}" if counts.ref_len else "nan"
    lines = [
        f"%{rate_name} = {rate}",
        f"Errors: {counts.ins} insertions, {counts.dels} deletions, {counts.subs} substitutions, "
        f"over {counts.ref_len} reference {unit_plural} ({counts.correct} correct)",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:, "
        "PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)  ",
    ]
    lines += [f"{cut_id}:\t{format_alignment(ref, hyp)}" for cut_id, ref, hyp in results]
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{n}   {r} -> {h}" for n, (r, h) in sorted(((n, k) for k, n in subs.items()), reverse=True)]
    lines += ["", "DELETIONS: count ref"]
    lines += [f"{n}   {r}" for n, r in sorted(((n, k) for k, n in dels.items()), reverse=True)]
    lines += ["", "INSERTIONS: count hyp"]
    lines += [f"{n}   {h}" for n, h in sorted(((n, k) for k, n in ins.items()), reverse=True)]
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    for _, word, (corr, ref_sub, hyp_sub, n_ins, n_del) in sorted(
        ((sum(v[1:]), k, v) for k, v in per_unit.items()), reverse=True
    ):
        lines.append(
            f"{word}   {corr} {ref_sub + hyp_sub + n_ins + n_del} {corr + ref_sub + n_del} {corr + hyp_sub + n_ins}"
        )
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return counts


def write_wer_summary(path: PathLike, rows: Sequence[Tuple[str, float]], rate_name: str = "WER") -> Path:
    """Write a ``wer-summary-`` file atomically: ``settings<TAB><rate_name>``, then ``key<TAB>rate`` lines.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    rows : sequence of (str, float)
        Key and error rate in percent (written with two decimals), in the given order.
    rate_name : str, default "WER"
        Column header (``CER`` for character-level sets).

    Returns
    -------
    Path
        ``path``.
    """
    text = f"settings\t{rate_name}\n" + "".join(f"{key}\t{value:.2f}\n" for key, value in rows)
    return atomic_write_text(path, text)
