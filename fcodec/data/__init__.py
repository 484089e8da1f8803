"""Data for fcodec: lhotse cuts -> batches, text normalisation, the stage-2 cut builder, the BPE model.

Light to import: the heavy parts (lhotse, torch) load when a function that needs them is used.
"""

from __future__ import annotations

__all__ = ["build_dataloader", "build_sampler", "CodecDataset", "normalize_text"]


def __getattr__(name):
    if name == "build_dataloader":
        from fcodec.data.dataloader import build_dataloader

        return build_dataloader
    if name == "build_sampler":
        from fcodec.data.sampler import build_sampler

        return build_sampler
    if name == "CodecDataset":
        from fcodec.data.dataset import CodecDataset

        return CodecDataset
    if name == "normalize_text":
        from fcodec.data.text_norm import normalize_text

        return normalize_text
    raise AttributeError(f"module 'fcodec.data' has no attribute {name!r}")
