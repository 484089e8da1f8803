"""The two intelligibility protocols we report (docs/evaluation.md, Two protocols).

* Corpus protocol (the FocalCodec / FocalCodec-Stream papers'): dWER = corpus-level error rate of the transcript
  of the reconstruction (hypothesis) against the transcript of the original (reference); no ground truth involved.
  Summary key ``corpus``.
* Per-utterance protocol (the predecessor project's): for each utterance, error(GT, ASR(recon)) -
  error(GT, ASR(orig)), averaged over utterances; plus the plain corpus-level error rates of both transcripts
  against the ground truth. Summary key ``per_utterance``.

summary.json files written before these names (keys ``paper`` and ``predecessor``) are read with the new ones
(:func:`fcodec.metrics.summaries.find_summaries`).

Both take the same normalised unit sequences, so the protocols differ only in what they compare and how they
average. Rates are returned in percent.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Dict, List, Sequence

from fcodec.metrics.error_rate import corpus_counts, edit_counts, is_hallucination, percent


@dataclass(frozen=True)
class UtteranceUnits:
    """One scored utterance: the normalised units of the ground truth and of the two transcripts.

    Parameters
    ----------
    cut_id : str
        The test cut's id.
    language : str
        Its language tag (``zh``, ``en``, ...): decides the units (characters or words).
    truth : sequence of str
        Units of the ground-truth text.
    original : sequence of str
        Units of the judge's transcript of the original audio.
    reconstruction : sequence of str
        Units of the judge's transcript of the codec's reconstruction.
    """

    cut_id: str
    language: str
    truth: Sequence[str]
    original: Sequence[str]
    reconstruction: Sequence[str]


def corpus_protocol(utts: Sequence[UtteranceUnits]) -> Dict[str, float]:
    """The FocalCodec papers' dWER: corpus-level error of the reconstruction's transcript against the original's.

    Parameters
    ----------
    utts : sequence of UtteranceUnits
        The scored utterances of one test set (normalised units).

    Returns
    -------
    dict
        The summed ``EditCounts.as_dict()`` with ``rate_pct`` renamed ``d_err_pct`` (percent; NaN when the
        originals' transcripts are all empty).
    """
    counts = corpus_counts((u.original, u.reconstruction) for u in utts).as_dict()
    counts["d_err_pct"] = counts.pop("rate_pct")
    return counts


def per_utterance_protocol(utts: Sequence[UtteranceUnits]) -> Dict[str, float]:
    """Per-utterance subtractive error, its mean (the headline number) and median (robust to one hallucination).

    Parameters
    ----------
    utts : sequence of UtteranceUnits
        The scored utterances of one test set (normalised units).

    Returns
    -------
    dict
        ``d_err_mean_pct`` and ``d_err_median_pct`` (percent; NaN for no utterances; an utterance with an empty
        ground truth has a NaN delta) and ``num_utts``.
    """
    deltas = [
        percent(edit_counts(u.truth, u.reconstruction).rate - edit_counts(u.truth, u.original).rate) for u in utts
    ]
    return {
        "d_err_mean_pct": statistics.fmean(deltas) if deltas else float("nan"),
        "d_err_median_pct": statistics.median(deltas) if deltas else float("nan"),
        "num_utts": len(deltas),
    }


def against_truth(utts: Sequence[UtteranceUnits]) -> Dict[str, Dict[str, float]]:
    """Corpus-level error rates of both transcripts against the ground truth.

    Parameters
    ----------
    utts : sequence of UtteranceUnits
        The scored utterances of one test set (normalised units).

    Returns
    -------
    dict
        ``{"original": counts, "reconstruction": counts}``, each an ``EditCounts.as_dict()`` (rate in percent).
    """
    original = corpus_counts((u.truth, u.original) for u in utts)
    reconstruction = corpus_counts((u.truth, u.reconstruction) for u in utts)
    return {"original": original.as_dict(), "reconstruction": reconstruction.as_dict()}


def hallucinations(utts: Sequence[UtteranceUnits]) -> Dict[str, List[str]]:
    """Cut ids whose transcript inserts more than half the ground truth's length (for both transcripts: the
    original's count is the judge's own floor).

    Parameters
    ----------
    utts : sequence of UtteranceUnits
        The scored utterances of one test set (normalised units).

    Returns
    -------
    dict
        ``{"original": [cut_id, ...], "reconstruction": [cut_id, ...]}``.
    """
    return {
        "original": [u.cut_id for u in utts if is_hallucination(edit_counts(u.truth, u.original))],
        "reconstruction": [u.cut_id for u in utts if is_hallucination(edit_counts(u.truth, u.reconstruction))],
    }
