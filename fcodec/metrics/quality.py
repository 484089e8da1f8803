"""The quality metrics of scoring that need no ASR judge: each MOS judge on the original and the reconstruction,
and the speaker similarity of the two (:mod:`fcodec.metrics.mos`, :mod:`fcodec.metrics.speaker_similarity`).

They run in batches on the chunks that scoring reads anyway, once per decode (whatever the number of ASR judges).
The originals' MOS scores and speaker embeddings do not depend on the model: they are cached per test set and
judge beside the originals' transcripts (``<cache_dir>/<test_set>.mos-<judge>.json``,
``<test_set>.speaker-resemblyzer.json``), so each model after the first only scores its reconstructions. Those of
the reconstructions are cached per decode, in the score folder (``<out_dir>/.reconstructions/``, the same file
names), each keyed by the digest of the reconstruction's samples: scoring the same decode with another ASR judge
later does not run the MOS judges or the speaker encoder again, and a re-decode that changed a reconstruction has
it scored again.

Which rate each judge sees: NISQA (``native_rate = True``) scores each side at its own rate, as its reference
code and the published MOS_Q tables do (the codec's 24 kHz output at 24 kHz, the original at its own rate);
DNSMOS, UTMOS and the speaker encoder are 16 kHz models and see both sides resampled to 16 kHz.
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
# the loudest tenth of 20 ms frames below this level: silence or near-silence, which MOS judges rate as if it were
# speech (NISQA about 2.1, DNSMOS 1.8 for digital silence: above poor synthetic speech); flagged, left out of means
SILENCE_DBFS = -55.0
# (cut_id, original at 16 kHz, reconstruction at 16 kHz, original cut, reconstruction cut)
QualityItem = Tuple[str, np.ndarray, np.ndarray, Any, Any]
Clip = Tuple[np.ndarray, int, str]  # samples, their rate, their audio_digest (what a cached value is keyed by)


def is_silent(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bool:
    """True when even the loudest tenth of the 20 ms frames stays below :data:`SILENCE_DBFS`."""
    frame = max(1, rate // 50)
    count = len(audio) // frame
    if count == 0:
        return True
    power = np.square(np.asarray(audio[: count * frame], dtype=np.float64).reshape(count, frame)).mean(axis=1)
    loudest = np.sort(power)[-max(1, count // 10) :]
    return bool(10 * np.log10(loudest.mean() + 1e-20) < SILENCE_DBFS)


def judge_rate(judge: Any) -> str:
    """What a judge is fed: 'native' (each file at its own rate) or '16 kHz' (resampled); said in summary.json."""
    return "native" if getattr(judge, "native_rate", False) else "16 kHz"


def _native_clips(items: Sequence[QualityItem]) -> Dict[str, Dict[str, Clip]]:
    """side -> cut_id -> the audio at its file's own rate (read again: the 16 kHz copies are resampled)."""
    from fcodec.data.audio import read_mono

    clips: Dict[str, Dict[str, Clip]] = {side: {} for side in SIDES}
    for cut_id, _, _, original_cut, recon_cut in items:
        for side, cut in zip(SIDES, (original_cut, recon_cut)):
            rate = int(cut.sampling_rate)
            audio = read_mono(cut, rate)
            clips[side][cut_id] = (audio, rate, audio_digest(audio))
    return clips


def _predict_by_rate(predict: Callable[[List[np.ndarray], int], List[Any]], clips: Sequence[Clip]) -> List[Any]:
    """``predict(audios, rate)`` over clips of several rates: one call per rate, results in input order."""
    results: List[Any] = [None] * len(clips)
    for rate in dict.fromkeys(clip[1] for clip in clips):
        indices = [i for i, clip in enumerate(clips) if clip[1] == rate]
        for i, value in zip(indices, predict([clips[i][0] for i in indices], rate)):
            results[i] = value
    return results


@dataclass
class QualityScores:
    """One utterance's quality: judge -> side -> dimension -> score; the speaker similarity."""

    mos: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)
    speaker_similarity: Optional[float] = None
    silent: Tuple[str, ...] = ()  # the sides (SIDES) that are silent or nearly: their MOS is left out of means


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
        clips: Dict[str, Dict[str, Clip]],
        compute: Callable[[List[np.ndarray], int], List[Any]],
        kept: Callable[[Any], Optional[Any]],
    ) -> Dict[str, Dict[str, Any]]:
        """side -> {cut_id: value} of one judge (cache ``key``): the cached values, the others computed by
        ``compute(audios, rate)``, one call per rate (none when everything is cached), and cached as
        ``kept(value)`` (None: not cached, e.g. a NaN, which is retried next time). ``clips``: side -> cut_id ->
        (samples, rate, digest) as the judge sees them; each entry is keyed by that digest."""
        found: Dict[str, Dict[str, Any]] = {side: {} for side in SIDES}
        todo = []  # the originals first, then the reconstructions (as they were batched before the caches)
        for side in SIDES:
            cache = self.side_caches.get(side, {}).get(key)
            for cut_id, clip in clips[side].items():
                digest = clip[2]
                value = cache.get(cut_id, digest) if cache is not None else None
                if value is None:
                    todo.append((side, cache, cut_id, digest, clip))
                found[side][cut_id] = value
        if todo:
            for (side, cache, cut_id, digest, _), value in zip(todo, _predict_by_rate(compute, [t[-1] for t in todo])):
                found[side][cut_id] = value
                stored = kept(value)
                if cache is not None and stored is not None:
                    cache.put(cut_id, digest, stored)
        return found

    def score_chunk(self, items: Sequence[QualityItem]) -> Dict[str, QualityScores]:
        """items: (cut_id, original, reconstruction, original cut, reconstruction cut), the audio at 16 kHz ->
        {cut_id: QualityScores}. A judge that scores audio at its own rate gets the cuts read at their rates."""
        scores = {
            item[0]: QualityScores(silent=tuple(s for s, a in zip(SIDES, item[1:3]) if is_silent(a))) for item in items
        }
        at_16k = {
            side: {item[0]: (item[1 + i], SAMPLE_RATE, audio_digest(item[1 + i])) for item in items}
            for i, side in enumerate(SIDES)
        }
        native = _native_clips(items) if any(judge_rate(j) == "native" for j in self.judges) else at_16k
        for judge in self.judges:
            found = self._cached_or_computed(
                f"mos-{judge.name}",
                native if judge_rate(judge) == "native" else at_16k,
                lambda audios, rate, judge=judge: judge.predict(audios, rate, batch_size=self.batch_size),
                lambda values: values if all(math.isfinite(v) for v in values.values()) else None,
            )
            for cut_id in scores:
                scores[cut_id].mos[judge.name] = {side: found[side][cut_id] for side in SIDES}
        if self.speaker is not None:
            found = self._cached_or_computed(
                f"speaker-{self.speaker.name}",
                at_16k,
                lambda audios, rate: self.speaker.embed(audios, rate, batch_size=self.batch_size),
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
                        "sample_rate": judge_rate(j),
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
