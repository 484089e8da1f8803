"""Codec tokens attached to lhotse cuts, so speech-LM / TTS work reads them like any other cut field.

Each cut's tokens are a lossless ``.npy`` file written by lhotse's ``NumpyFilesWriter`` and described on the cut
by a ``TemporalArray`` (``temporal_dim=0``, ``frame_shift = 1 / frame_rate``, ``start = cut.start``) under
``cut.custom["codec_tokens"]``, so a stored manifest reads back with nothing but lhotse::

    cuts = CutSet.from_file("exp/train_50hz/decode/test_aishell/token_cuts.jsonl.gz")
    every_token = cuts[0].codec_tokens.load()          # all tokens the codec emitted, (num_tokens,)
    aligned = cuts[0].load_codec_tokens()              # lhotse's view: round(duration / frame_shift) frames

The codec emits ``ceil(samples / hop)`` tokens (every frame overlapping the audio); lhotse's own frame count for
a duration rounds half up, so its view may leave out a last frame that covers under half a hop of audio.
``cut.truncate`` / ``pad`` carry the array along, as for features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fcodec.utils.names import safe_file_name

TOKENS_FIELD = "codec_tokens"
TOKENS_DIR = "tokens"

__all__ = ["TOKENS_FIELD", "TOKENS_DIR", "token_dtype", "TokenWriter", "load_tokens"]


def token_dtype(codebook_size: int) -> np.dtype:
    """The smallest signed integer type that holds every token (int16 up to 32768 entries, else int32)."""
    if codebook_size <= np.iinfo(np.int16).max + 1:
        return np.dtype(np.int16)
    if codebook_size <= np.iinfo(np.int32).max + 1:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


class TokenWriter:
    """Writes one cut's tokens to ``<directory>/<id[:3]>/<id>.npy`` and returns the cut's ``TemporalArray``.

    Parameters
    ----------
    directory : Path
        Root of the token files (lhotse ``NumpyFilesWriter``).
    frame_rate : float
        Tokens per second (``model.frame_rate``); the array's frame shift is its inverse.
    codebook_size : int
        Tokens must lie in ``[0, codebook_size)``; also picks the stored dtype (``token_dtype``).
    """

    def __init__(self, directory: Path, frame_rate: float, codebook_size: int) -> None:
        from lhotse import NumpyFilesWriter

        self.writer = NumpyFilesWriter(str(directory))
        self.frame_shift = 1.0 / frame_rate
        self.dtype = token_dtype(codebook_size)
        self.codebook_size = codebook_size

    def write(self, cut: Any, tokens: np.ndarray):
        """Store ``tokens``, shape (num_tokens,), integers in ``[0, codebook_size)``, for ``cut``.

        Returns
        -------
        lhotse.array.TemporalArray
            The description to set as ``cut.custom["codec_tokens"]`` (``temporal_dim=0``, ``start=cut.start``).

        Raises
        ------
        ValueError
            ``tokens`` is not one-dimensional or falls outside the codebook (the message names the cut).
        """
        tokens = np.asarray(tokens)
        if tokens.ndim != 1:
            raise ValueError(f"tokens of {cut.id} must be one-dimensional, got shape {tokens.shape}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.codebook_size):
            raise ValueError(f"tokens of {cut.id} fall outside the codebook [0, {self.codebook_size})")
        return self.writer.store_array(
            safe_file_name(cut.id),
            tokens.astype(self.dtype),
            frame_shift=self.frame_shift,
            temporal_dim=0,
            start=cut.start,
        )


def load_tokens(cut: Any) -> np.ndarray:
    """Every token stored for ``cut`` as int64 (the whole array, not lhotse's duration-rounded view).

    Parameters
    ----------
    cut : lhotse Cut
        A cut of ``token_cuts.jsonl.gz``.

    Returns
    -------
    numpy.ndarray, shape (num_tokens,), int64

    Raises
    ------
    KeyError
        The cut has no ``codec_tokens`` field.
    """
    array = cut.custom.get(TOKENS_FIELD) if cut.custom else None
    if array is None:
        raise KeyError(f"cut {cut.id} has no {TOKENS_FIELD!r} (was it written by fcodec.bin.decode?)")
    return array.load().astype(np.int64)
