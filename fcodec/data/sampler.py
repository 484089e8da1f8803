"""A lhotse DynamicBucketingSampler whose state counts the batches the training loop *received*.

lhotse restores a sampler by replaying as many batches as its state says it drew. A DataLoader with worker
processes draws batches ahead of the loop (``num_workers * prefetch_factor`` of them), so a state taken after
the loop consumed ``k`` batches would resume ``k + prefetch`` batches in, and skip data. This sampler lets the
DataLoader of :mod:`fcodec.data.dataloader` report each delivered batch, and ``state_dict()`` records the
delivered count: a resumed run continues with exactly the next batch it would have drawn.
"""

from __future__ import annotations

import copy
from itertools import islice
from typing import Any, Dict, Optional

from lhotse.dataset import DynamicBucketingSampler

_ONE_BUCKET = 1e9  # seconds


class ResumableBucketingSampler(DynamicBucketingSampler):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._delivered_batches = 0
        self._delivered_cuts = 0

    def __iter__(self) -> "ResumableBucketingSampler":
        if not self._just_restored_state:  # a fresh pass over the epoch; a restored one keeps its count
            self._delivered_batches = 0
            self._delivered_cuts = 0
        return super().__iter__()

    def note_delivered(self, num_cuts: int) -> None:
        """Called by the DataLoader each time the training loop receives a batch."""
        self._delivered_batches += 1
        self._delivered_cuts += num_cuts

    def state_dict(self) -> Dict[str, Any]:
        state = super().state_dict()
        diagnostics = copy.deepcopy(state["diagnostics"])
        epoch_stats = diagnostics["stats_per_epoch"][diagnostics["current_epoch"]]
        # Replay exactly what was delivered; batches drawn but still in the prefetch queue are drawn again.
        epoch_stats.update(
            kept_batches=self._delivered_batches, discarded_batches=0, kept_cuts=self._delivered_cuts, discarded_cuts=0
        )
        state["diagnostics"] = diagnostics
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        stats = state_dict["diagnostics"]["stats_per_epoch"][state_dict["diagnostics"]["current_epoch"]]
        delivered_batches, delivered_cuts = stats["kept_batches"], stats["kept_cuts"]
        super().load_state_dict(state_dict)  # replays the delivered batches
        self._delivered_batches, self._delivered_cuts = delivered_batches, delivered_cuts


def build_sampler(
    cuts,
    *,
    train: bool,
    max_duration: float,
    segment_duration: Optional[float] = None,
    num_buckets: Optional[int] = None,
    buffer_size: int = 20000,
    seed: int = 0,
    world_size: Optional[int] = None,
    rank: Optional[int] = None,
    drop_last: bool = False,
) -> ResumableBucketingSampler:
    """The sampler for training (shuffled) or evaluation (in order, bucketed by duration).

    ``max_duration`` is the seconds of audio per batch. With a training crop, every cut costs at most
    ``segment_duration`` seconds, so batches hold ``max_duration // segment_duration`` cuts, drawn from one
    bucket: bucketing by utterance length would gain nothing on equal crops and would sort the languages
    apart (AISHELL and LibriSpeech utterances differ in length). Otherwise ``num_buckets`` defaults to 10.
    ``world_size`` and ``rank`` default to lhotse's rule: the ``WORLD_SIZE``/``RANK`` variables (torchrun),
    then an initialised ``torch.distributed``, then a single process.
    """
    if max_duration <= 0:
        raise ValueError(f"max_duration must be positive, got {max_duration}")
    limits: Dict[str, Any] = {"max_duration": max_duration}
    buckets = 10 if num_buckets is None else num_buckets
    if train and segment_duration is not None:
        if segment_duration > max_duration:
            raise ValueError(f"segment_duration {segment_duration} s exceeds max_duration {max_duration} s")
        limits = {"max_cuts": int(max_duration // segment_duration)}
        if num_buckets is None:
            buckets = 1
    limits["duration_bins"] = _duration_bins(cuts, buckets, limits)
    return ResumableBucketingSampler(
        cuts,
        **limits,
        shuffle=train,
        drop_last=drop_last,
        buffer_size=buffer_size,
        seed=seed,
        world_size=world_size,
        rank=rank,
    )


def _duration_bins(cuts, num_buckets: int, limits: Dict[str, Any], sample: int = 10000):
    """Bucket edges estimated from the first ``sample`` cuts, as lhotse does, but with no more buckets than cuts
    (lhotse refuses a small set); a single bucket is one edge above any utterance length."""
    from lhotse.dataset.sampling.base import TimeConstraint
    from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets

    head = list(islice(cuts, sample))
    num_buckets = min(num_buckets, len(head))
    if num_buckets < 2:
        return [_ONE_BUCKET]
    constraint = TimeConstraint(max_duration=limits.get("max_duration"), max_cuts=limits.get("max_cuts"))
    return estimate_duration_buckets(head, num_buckets=num_buckets, constraint=constraint)
