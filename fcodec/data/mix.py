"""Deterministic selection: a training mix by hours per language, fixed-size dev/test samples, interleaving.

Every choice depends only on the cut ids, their durations and the seed (ids are sorted before shuffling), so
the same manifests give the same splits on every machine and in every rerun.
"""

from __future__ import annotations

import random
from typing import Dict, List, Optional, Sequence


def _shuffled_ids(ids, seed: str) -> List[str]:
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return order


def select_by_hours(durations: Dict[str, float], hours: Optional[float], seed: str) -> List[str]:
    """Ids whose durations add up to ``hours`` (all of them when ``hours`` is None or more than there is).

    Cuts are visited in a seeded random order and taken while they fit, so the total lands within the duration
    of one short utterance below the target, and never above it.
    """
    if hours is None or hours * 3600.0 >= sum(durations.values()):
        return sorted(durations)
    budget = hours * 3600.0
    total, chosen = 0.0, []
    for cut_id in _shuffled_ids(durations, seed):
        if total + durations[cut_id] <= budget:
            chosen.append(cut_id)
            total += durations[cut_id]
    return sorted(chosen)


def sample_ids(ids: Sequence[str], count: Optional[int], seed: str) -> List[str]:
    """``count`` ids chosen at random (all when ``count`` is None or at least ``len(ids)``), sorted."""
    if count is None or count >= len(ids):
        return sorted(ids)
    return sorted(_shuffled_ids(ids, seed)[:count])


def interleave(cutsets: Sequence, seed: int):
    """One CutSet that interleaves the given ones evenly throughout (lhotse ``CutSet.mux`` weighted by size)."""
    from lhotse import CutSet

    cutsets = [c for c in cutsets if len(c) > 0]
    if len(cutsets) == 1:
        return cutsets[0]
    if not cutsets:
        return CutSet()
    return CutSet.mux(*cutsets, weights=[len(c) for c in cutsets], seed=seed, stop_early=False)
