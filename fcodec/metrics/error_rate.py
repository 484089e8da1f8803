"""Edit counts between unit sequences (kaldialign, Kaldi-exact Levenshtein) and the rates built from them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, Sequence, Tuple

import kaldialign


@dataclass(frozen=True)
class EditCounts:
    """Insertions, deletions and substitutions of a hypothesis against a reference of ``ref_len`` units.

    Counts add up (``a + b``), so a corpus rate is the rate of the summed counts.

    Parameters
    ----------
    ins, dels, subs : int, default 0
        Inserted, deleted and substituted units.
    ref_len : int, default 0
        Units of the reference.
    """

    ins: int = 0
    dels: int = 0
    subs: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def correct(self) -> int:
        return self.ref_len - self.dels - self.subs

    @property
    def rate(self) -> float:
        """errors / ref_len (a fraction; > 1 is possible); NaN for an empty reference."""
        return self.errors / self.ref_len if self.ref_len else math.nan

    def __add__(self, other: "EditCounts") -> "EditCounts":
        return EditCounts(
            self.ins + other.ins, self.dels + other.dels, self.subs + other.subs, self.ref_len + other.ref_len
        )

    def as_dict(self) -> Dict[str, float]:
        """``ins``, ``dels``, ``subs``, ``ref_len``, ``errors`` and ``rate_pct`` (the rate in percent, NaN for an
        empty reference)."""
        return {**asdict(self), "errors": self.errors, "rate_pct": percent(self.rate)}


def edit_counts(ref: Sequence[str], hyp: Sequence[str]) -> EditCounts:
    """Kaldi-exact Levenshtein edit counts of one hypothesis against its reference.

    Parameters
    ----------
    ref, hyp : sequence of str
        Scoring units (words for English, characters for Chinese; see ``text_norm``).

    Returns
    -------
    EditCounts
        With ``ref_len = len(ref)``.
    """
    result = kaldialign.edit_distance(list(ref), list(hyp))
    return EditCounts(ins=result["ins"], dels=result["del"], subs=result["sub"], ref_len=len(ref))


def corpus_counts(pairs: Iterable[Tuple[Sequence[str], Sequence[str]]]) -> EditCounts:
    """Sum of the edit counts of (ref, hyp) pairs: their ratio is the corpus-level error rate.

    Parameters
    ----------
    pairs : iterable of (sequence of str, sequence of str)
        ``(ref, hyp)`` unit sequences.

    Returns
    -------
    EditCounts
        The summed counts (all zero for no pairs).
    """
    total = EditCounts()
    for ref, hyp in pairs:
        total = total + edit_counts(ref, hyp)
    return total


def is_hallucination(counts: EditCounts) -> bool:
    """Whisper's typical failure on degraded audio: more inserted units than half the reference length.

    Parameters
    ----------
    counts : EditCounts
        One utterance's counts.

    Returns
    -------
    bool
        ``counts.ins > 0.5 * counts.ref_len``.
    """
    return counts.ins > 0.5 * counts.ref_len


def percent(fraction: float) -> float:
    """``fraction * 100``; NaN stays NaN."""
    return fraction * 100.0 if not math.isnan(fraction) else math.nan
