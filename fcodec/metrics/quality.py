"""The quality metrics of scoring that need no ASR judge: each MOS judge on the original and the reconstruction,
and the speaker similarity of the two (:mod:`fcodec.metrics.mos`, :mod:`fcodec.metrics.speaker_similarity`).

They run in batches on the chunks that scoring reads anyway, once per decode (whatever the number of ASR judges).
The originals' MOS scores and speaker embeddings do not depend on the stage: they are cached per test set and
judge beside the originals' transcripts (``<cache_dir>/<test_set>.mos-<judge>.json``,
``<test_set>.speaker-resemblyzer.json``), so each stage after the first only scores its reconstructions. Those of
the reconstructions are cached per decode, in the score folder (``<out_dir>/.reconstructions/``, the same file
names), each keyed by the digest of the reconstruction's samples: scoring the same decode with another ASR judge
later does not run the MOS judges or the speaker encoder again, and a re-decode that changed a reconstruction has
it scored again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fcodec.metrics.speaker_similarity import cosine_similarity
from fcodec.metrics.transcript_cache import OriginalsCache, audio_digest

SAMPLE_RATE = 16000
SIDES = ("original", "reconstruction")
RECONSTRUCTIONS_CACHE = ".reconstructions"  # in the score folder: the reconstructions' MOS and embeddings


@dataclass
class QualityScores:
    """One utterance's quality: judge -> side -> dimension -> score; the speaker similarity."""

    mos: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)
    speaker_similarity: Optional[float] = None


class QualityScorer:
    """The MOS judges and the speaker encoder of one scoring run, with their caches of the originals (per test set)
    and of the reconstructions (per decode: ``reconstruction_cache_dir``, None for none)."""

    def __init__(
        self,
        judges: Sequence[Any],
        skipped: Dict[str, str],
        speaker: Any,
        speaker_skipped: str,
        cache_dir: Path,
        test_set: str,
        batch_size: int = 16,
        reconstruction_cache_dir: Optional[Path] = None,
    ):
        self.judges = list(judges)
        self.skipped = dict(skipped)
        self.speaker = speaker
        self.speaker_skipped = speaker_skipped
        self.batch_size = batch_size
        models = [(f"mos-{judge.name}", judge.identity) for judge in self.judges]
        if speaker is not None:
            models.append((f"speaker-{speaker.name}", speaker.identity))
        folders = {"original": cache_dir, "reconstruction": reconstruction_cache_dir}
        # side -> cache key (mos-<judge>, speaker-<name>) -> cache; no reconstruction side without a folder
        self.side_caches: Dict[str, Dict[str, OriginalsCache]] = {
            side: {key: OriginalsCache(folder, test_set, key, identity) for key, identity in models}
            for side, folder in folders.items()
            if folder is not None
        }
        self.caches = {judge.name: self.side_caches["original"][f"mos-{judge.name}"] for judge in self.judges}
        self.speaker_cache = self.side_caches["original"][f"speaker-{speaker.name}"] if speaker is not None else None

    def _cached_or_computed(
        self,
        key: str,
        items: Sequence[Tuple[str, float, np.ndarray, np.ndarray]],
        digests: Dict[str, Dict[str, str]],
        compute: Callable[[List[np.ndarray]], List[Any]],
        kept: Callable[[Any], Optional[Any]],
    ) -> Dict[str, Dict[str, Any]]:
        """side -> {cut_id: value} of one judge (cache ``key``): the cached values, the others computed in one
        call of ``compute`` (none when everything is cached) and cached as ``kept(value)`` (None: not cached, e.g.
        a NaN, which is retried next time). ``digests``: side -> cut_id -> the audio's :func:`audio_digest`."""
        found: Dict[str, Dict[str, Any]] = {side: {} for side in SIDES}
        todo = []  # the originals first, then the reconstructions (as they were batched before the caches)
        for side in SIDES:
            cache = self.side_caches.get(side, {}).get(key)
            for cut_id, _, original, recon in items:
                audio = original if side == "original" else recon
                digest = digests[side][cut_id]
                value = cache.get(cut_id, digest) if cache is not None else None
                if value is None:
                    todo.append((side, cache, cut_id, digest, audio))
                found[side][cut_id] = value
        if todo:
            for (side, cache, cut_id, digest, _), value in zip(todo, compute([t[-1] for t in todo])):
                found[side][cut_id] = value
                stored = kept(value)
                if cache is not None and stored is not None:
                    cache.put(cut_id, digest, stored)
        return found

    def score_chunk(self, items: Sequence[Tuple[str, float, np.ndarray, np.ndarray]]) -> Dict[str, QualityScores]:
        """items: (cut_id, duration, original, reconstruction) at 16 kHz -> {cut_id: QualityScores}."""
        scores = {cut_id: QualityScores() for cut_id, _, _, _ in items}
        digests = {
            side: {cut_id: audio_digest(audio) for cut_id, _, *pair in items for audio in [pair[i]]}
            for i, side in enumerate(SIDES)
        }
        for judge in self.judges:
            found = self._cached_or_computed(
                f"mos-{judge.name}",
                items,
                digests,
                lambda audios, judge=judge: judge.predict(audios, SAMPLE_RATE, batch_size=self.batch_size),
                lambda values: values if all(math.isfinite(v) for v in values.values()) else None,
            )
            for cut_id in scores:
                scores[cut_id].mos[judge.name] = {side: found[side][cut_id] for side in SIDES}
        if self.speaker is not None:
            found = self._cached_or_computed(
                f"speaker-{self.speaker.name}",
                items,
                digests,
                lambda audios: self.speaker.embed(audios, SAMPLE_RATE, batch_size=self.batch_size),
                lambda embedding: [float(v) for v in embedding] if np.isfinite(embedding).all() else None,  # exact
            )
            for cut_id in scores:
                scores[cut_id].speaker_similarity = cosine_similarity(
                    found["original"][cut_id], found["reconstruction"][cut_id]
                )
        return scores

    def save(self) -> None:
        for caches in self.side_caches.values():
            for cache in caches.values():
                cache.save()

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
                        **self._reconstruction_cache(f"mos-{j.name}"),
                    }
                    for j in self.judges
                },
                "skipped": self.skipped,
            },
            "speaker_similarity": (
                {
                    "model": self.speaker.description,
                    "identity": self.speaker.identity,
                    **self._reconstruction_cache(f"speaker-{self.speaker.name}"),
                }
                if self.speaker is not None
                else {"skipped": self.speaker_skipped}
            ),
        }

    def _reconstruction_cache(self, key: str) -> Dict[str, Any]:
        cache = self.side_caches.get("reconstruction", {}).get(key)
        return (
            {} if cache is None else {"reconstruction_cache": str(cache.path), "reconstruction_cache_hits": cache.hits}
        )

    def dimensions(self) -> List[Tuple[str, str]]:
        """(judge, dimension) of every MOS column, in judge order."""
        return [(j.name, d) for j in self.judges for d in j.dimensions]
