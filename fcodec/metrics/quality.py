"""The quality metrics of scoring that need no ASR judge: each MOS judge on the original and the reconstruction,
and the speaker similarity of the two (:mod:`fcodec.metrics.mos`, :mod:`fcodec.metrics.speaker_similarity`).

They run in batches on the chunks that scoring reads anyway, once per decode (whatever the number of ASR judges).
The originals' MOS scores and speaker embeddings do not depend on the stage: they are cached per test set and
judge beside the originals' transcripts (``<cache_dir>/<test_set>.mos-<judge>.json``,
``<test_set>.speaker-resemblyzer.json``), so each stage after the first only scores its reconstructions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fcodec.metrics.speaker_similarity import cosine_similarity
from fcodec.metrics.transcript_cache import OriginalsCache

SAMPLE_RATE = 16000
SIDES = ("original", "reconstruction")


@dataclass
class QualityScores:
    """One utterance's quality: judge -> side -> dimension -> score; the speaker similarity."""

    mos: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)
    speaker_similarity: Optional[float] = None


class QualityScorer:
    """The MOS judges and the speaker encoder of one scoring run, with their caches of the originals."""

    def __init__(
        self,
        judges: Sequence[Any],
        skipped: Dict[str, str],
        speaker: Any,
        speaker_skipped: str,
        cache_dir: Path,
        test_set: str,
        batch_size: int = 16,
    ):
        self.judges = list(judges)
        self.skipped = dict(skipped)
        self.speaker = speaker
        self.speaker_skipped = speaker_skipped
        self.batch_size = batch_size
        self.caches = {
            judge.name: OriginalsCache(cache_dir, test_set, f"mos-{judge.name}", judge.identity)
            for judge in self.judges
        }
        self.speaker_cache = (
            OriginalsCache(cache_dir, test_set, f"speaker-{speaker.name}", speaker.identity)
            if speaker is not None
            else None
        )

    def score_chunk(self, items: Sequence[Tuple[str, float, np.ndarray, np.ndarray]]) -> Dict[str, QualityScores]:
        """items: (cut_id, duration, original, reconstruction) at 16 kHz -> {cut_id: QualityScores}."""
        scores = {cut_id: QualityScores() for cut_id, _, _, _ in items}
        for judge in self.judges:
            cache = self.caches[judge.name]
            cached = {cut_id: cache.get(cut_id, duration) for cut_id, duration, _, _ in items}
            todo = [(cut_id, duration, original) for cut_id, duration, original, _ in items if cached[cut_id] is None]
            predicted = judge.predict(
                [original for _, _, original in todo] + [recon for _, _, _, recon in items],
                SAMPLE_RATE,
                batch_size=self.batch_size,
            )
            for (cut_id, duration, _), values in zip(todo, predicted[: len(todo)]):
                cached[cut_id] = values
                if all(math.isfinite(v) for v in values.values()):  # a NaN is retried next time, not cached
                    cache.put(cut_id, duration, values)
            for (cut_id, _, _, _), values in zip(items, predicted[len(todo) :]):
                scores[cut_id].mos[judge.name] = {"original": cached[cut_id], "reconstruction": values}
        if self.speaker is not None:
            cached = {cut_id: self.speaker_cache.get(cut_id, duration) for cut_id, duration, _, _ in items}
            todo = [(cut_id, duration, original) for cut_id, duration, original, _ in items if cached[cut_id] is None]
            embeddings = self.speaker.embed(
                [original for _, _, original in todo] + [r for _, _, _, r in items],
                SAMPLE_RATE,
                batch_size=self.batch_size,
            )
            for (cut_id, duration, _), embedding in zip(todo, embeddings[: len(todo)]):
                cached[cut_id] = embedding
                if np.isfinite(embedding).all():
                    self.speaker_cache.put(cut_id, duration, [float(v) for v in embedding])  # exact
            for (cut_id, _, _, _), embedding in zip(items, embeddings[len(todo) :]):
                scores[cut_id].speaker_similarity = cosine_similarity(cached[cut_id], embedding)
        return scores

    def save(self) -> None:
        for cache in self.caches.values():
            cache.save()
        if self.speaker_cache is not None:
            self.speaker_cache.save()

    def failures(self, scores: QualityScores) -> List[Tuple[str, str]]:
        """(what, why) for each judge that could not score this utterance (too short, silent)."""
        failed = []
        for name, sides in scores.mos.items():
            bad = [side for side in SIDES if not all(math.isfinite(v) for v in sides.get(side, {}).values())]
            if bad:
                failed.append(
                    (
                        f"mos_{name}",
                        f"{name} could not score the {' and the '.join(bad)} audio (too short or not finite)",
                    )
                )
        if self.speaker is not None and (
            scores.speaker_similarity is None or not math.isfinite(scores.speaker_similarity)
        ):
            failed.append(("speaker_similarity", "no speaker embedding (silent or unvoiced audio)"))
        return failed

    def info(self) -> Dict[str, Any]:
        """What summary.json says about the judges: who scored, who was skipped and why."""
        return {
            "mos": {
                "judges": {
                    j.name: {
                        "description": j.description,
                        "dimensions": list(j.dimensions),
                        "identity": j.identity,
                        "cache": str(self.caches[j.name].path),
                        "cache_hits": self.caches[j.name].hits,
                    }
                    for j in self.judges
                },
                "skipped": self.skipped,
            },
            "speaker_similarity": (
                {"model": self.speaker.description, "identity": self.speaker.identity}
                if self.speaker is not None
                else {"skipped": self.speaker_skipped}
            ),
        }

    def dimensions(self) -> List[Tuple[str, str]]:
        """(judge, dimension) of every MOS column, in judge order."""
        return [(j.name, d) for j in self.judges for d in j.dimensions]
