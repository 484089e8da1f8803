"""``build_dataloader``: a CutSet (or a manifest path) -> a torch DataLoader of codec batches.

dl = build_dataloader("data/cuts/train.jsonl.gz", train=True, max_duration=200, segment_duration=2.0,
                      num_workers=4, seed=42)
for epoch in range(start_epoch, num_epochs):
    dl.sampler.set_epoch(epoch)
    for batch in dl:            # audio (B, T) float32 16 kHz, audio_lens, text, language, cut_id
        ...
        checkpoint["sampler"] = dl.sampler.state_dict()   # exact, even with worker processes

# resume: same arguments, then
dl.sampler.load_state_dict(checkpoint["sampler"])        # the next batch is the one that was due
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator, Optional, Union

import torch
from lhotse.dataset.dataloading import make_worker_init_fn

from fcodec.data.dataset import CodecDataset
from fcodec.data.sampler import ResumableBucketingSampler, build_sampler

if TYPE_CHECKING:
    from lhotse import CutSet


class CodecDataLoader(torch.utils.data.DataLoader):
    """A DataLoader that tells its :class:`ResumableBucketingSampler` which batches the loop has received."""

    sampler: ResumableBucketingSampler

    def __iter__(self) -> Iterator:
        for batch in super().__iter__():
            self.sampler.note_delivered(len(batch["cut_id"]))
            yield batch


def _as_cutset(cuts):
    from lhotse import CutSet, load_manifest_lazy

    if isinstance(cuts, (str, os.PathLike)):
        if not os.path.isfile(cuts):
            raise FileNotFoundError(f"cut manifest not found: {cuts} (written by stage 2)")
        return load_manifest_lazy(cuts)
    if not isinstance(cuts, CutSet):
        raise TypeError(f"expected a lhotse CutSet or a manifest path, got {type(cuts).__name__}")
    return cuts


def build_dataloader(
    cuts: Union["CutSet", str, os.PathLike],
    *,
    train: bool,
    max_duration: float,
    segment_duration: Optional[float] = None,
    num_workers: int = 0,
    seed: int = 0,
    num_buckets: Optional[int] = None,
    buffer_size: int = 20000,
    world_size: Optional[int] = None,
    rank: Optional[int] = None,
    drop_last: bool = False,
    prefetch_factor: Optional[int] = None,
) -> CodecDataLoader:
    """A DataLoader whose ``.sampler`` (a lhotse DynamicBucketingSampler) saves and restores its position.

    ``train=True``: shuffled, with a random ``segment_duration`` crop of each cut (when given) taken before the
    audio is read. ``train=False``: whole utterances, in a fixed order. ``max_duration``: seconds of audio per
    batch (with crops, ``max_duration // segment_duration`` cuts). ``world_size``/``rank`` default to torchrun's
    environment or an initialised ``torch.distributed``; every rank then sees its own share of each batch step.
    """
    cuts = _as_cutset(cuts)
    sampler = build_sampler(
        cuts,
        train=train,
        max_duration=max_duration,
        segment_duration=segment_duration,
        num_buckets=num_buckets,
        buffer_size=buffer_size,
        seed=seed,
        world_size=world_size,
        rank=rank,
        drop_last=drop_last,
    )
    dataset = CodecDataset(segment_duration=segment_duration if train else None, seed=seed)
    extra = {}
    if num_workers > 0:
        # lhotse's: each worker of each rank gets its own seed for torch, random and numpy
        extra = {
            "worker_init_fn": make_worker_init_fn(rank=sampler.rank, world_size=sampler.world_size, seed=seed),
            "persistent_workers": False,
        }
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    return CodecDataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers, **extra)
