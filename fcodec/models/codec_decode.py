"""FocalCodec's conversions from the token side: ``lats_to_*``, ``toks_to_*``, ``codes_to_*`` and ``knn``
(upstream's names and signatures, streaming states included). :class:`fcodec.models.codec.FocalCodec` inherits
them.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from fcodec.models.codec_encode import State, fresh


class DecodeConversions:
    """The ``lats_to_*``, ``toks_to_*``, ``codes_to_*`` and ``knn`` methods of
    :class:`fcodec.models.codec.FocalCodec`."""

    # lats -> any
    def lats_to_toks(self, lats: Tensor) -> Tensor:
        """``lats`` (..., L, D) float -> ``toks`` (..., L) int64 (signs as bits, most significant first)."""
        return self.quantizer.lats_to_toks(lats)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """``lats`` (..., L, D) float -> ``codes`` (..., L, D): ``+1/sqrt(D)`` where > 0, else ``-1/sqrt(D)``."""
        return self.quantizer.lats_to_codes(lats)

    def lats_to_qfeats(self, lats: Tensor, decompressor_state: State = (), return_state: bool = False):
        """``lats`` (B, L, D) float -> quantised -> ``qfeats`` (B, L * prod(upscale factors), C) float [+ the
        decompressor state with ``return_state``]."""
        return self.codes_to_qfeats(self.quantizer.lats_to_codes(lats), decompressor_state, return_state)

    # toks -> any
    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """Codes of tokens (bijective: ``codes_to_toks(toks_to_codes(t)) == t``).

        Parameters
        ----------
        toks : Tensor, shape (..., L), int64
            Tokens in ``[0, codebook_size)``.

        Returns
        -------
        Tensor, shape (..., L, D), float
            Bit k of a token (most significant first) gives component k: ``+1/sqrt(D)`` if set, else
            ``-1/sqrt(D)``; D = log2(codebook_size).
        """
        return self.quantizer.toks_to_codes(toks)

    def toks_to_qfeats(self, toks: Tensor, decompressor_state: State = (), return_state: bool = False):
        """``toks`` (B, L) int64 -> ``qfeats`` (B, L * prod(upscale factors), C) float [+ the decompressor state
        with ``return_state``]."""
        return self.codes_to_qfeats(self.toks_to_codes(toks), decompressor_state, return_state)

    def toks_to_sig(
        self,
        toks: Tensor,
        decompressor_state: State = (),
        decoder_state: State = (),
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
        output_length: Optional[int] = None,
        return_state: bool = False,
    ):
        """Decode tokens to a waveform (codes, decompressor, optional kNN, decoder).

        Parameters
        ----------
        toks : Tensor, shape (B, L), int64
            Tokens in ``[0, codebook_size)`` at ``frame_rate`` per second. Streaming a causal model: pass groups
            of tokens that map to whole 4-frame refiner chunks (4 tokens at 50 Hz, 2 at 25 Hz, 1 at 12.5 Hz).
        decompressor_state, decoder_state : opaque, default ``()``
            States returned by the previous call of this stream; ``()`` or None starts a new stream.
        matching_set : Tensor, shape (M, C), float, optional
            kNN voice conversion target features (see ``feats_to_sig``).
        topk : int, default 4
            Neighbours averaged per frame (kNN only).
        num_splits : int, default 1
            Slices the matching set is processed in (kNN only).
        output_length : int, optional
            Cut, or pad by repeating the last sample, to this many output samples (``output_length(N)`` gives
            the length ``forward`` uses for N input samples).
        return_state : bool, default False
            Also return the updated decompressor and decoder states.

        Returns
        -------
        sig : Tensor, shape (B, L * prod(upscale factors) * hop) or (B, output_length), float
            Waveform at ``sample_rate_output``.
        decompressor_state, decoder_state : opaque
            Only with ``return_state=True``.
        """
        return self.codes_to_sig(
            self.toks_to_codes(toks),
            decompressor_state,
            decoder_state,
            matching_set,
            topk,
            num_splits,
            output_length,
            return_state,
        )

    # codes -> any
    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """Tokens of codes (or of any latents: only the signs count).

        Parameters
        ----------
        codes : Tensor, shape (..., L, D), float
            Codes or latents, D = log2(codebook_size).

        Returns
        -------
        Tensor, shape (..., L), int64
            Token whose bit k (most significant first) is set where component k is > 0.
        """
        return self.quantizer.codes_to_toks(codes)

    def codes_to_qfeats(self, codes: Tensor, decompressor_state: State = (), return_state: bool = False):
        """Decompressor: ``codes`` (B, L, D) float -> ``qfeats`` (B, L * prod(upscale factors), C) float, the
        decoder's input [+ the decompressor state with ``return_state``]."""
        qfeats, decompressor_state = self.decompressor(codes, fresh(decompressor_state))
        return (qfeats, decompressor_state) if return_state else qfeats

    def codes_to_sig(
        self,
        codes: Tensor,
        decompressor_state: State = (),
        decoder_state: State = (),
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
        output_length: Optional[int] = None,
        return_state: bool = False,
    ):
        """Decode codes to a waveform; as ``toks_to_sig`` but from ``codes`` of shape (B, L, D), float.

        Parameters
        ----------
        codes : Tensor, shape (B, L, D), float
            Quantised latents (or, for analysis, any unit-norm latents).
        decompressor_state, decoder_state : opaque, default ``()``
            States returned by the previous call of this stream; ``()`` or None starts a new stream.
        matching_set, topk, num_splits, output_length, return_state
            As in ``feats_to_sig``.

        Returns
        -------
        sig : Tensor, shape (B, L * prod(upscale factors) * hop) or (B, output_length), float
            Waveform at ``sample_rate_output``.
        decompressor_state, decoder_state : opaque
            Only with ``return_state=True``.
        """
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        sig, decoder_state = self.feats_to_sig(
            qfeats, decoder_state, matching_set, topk, num_splits, output_length, return_state=True
        )
        return (sig, decompressor_state, decoder_state) if return_state else sig

    def knn(self, input: Tensor, matching_set: Tensor, topk: int = 4, num_splits: int = 1) -> Tensor:
        """The ``topk`` rows of ``matching_set`` nearest (cosine) to each query: ``(..., topk, dim)``.

        Parameters
        ----------
        input : Tensor, shape (..., dim), float
            Query features.
        matching_set : Tensor, shape (M, dim), float
            Candidate features.
        topk : int, default 4
            Neighbours per query (fewer when M is smaller).
        num_splits : int, default 1
            Search slices of M // num_splits rows, then re-select the global top-k.

        Returns
        -------
        Tensor, shape (..., topk, dim)
            The chosen rows of ``matching_set``, nearest first.
        """
        queries = input.flatten(end_dim=-2)
        split = matching_set.shape[0] // num_splits if num_splits > 1 else matching_set.shape[0]
        subsets = matching_set.split(split) if num_splits > 1 else [matching_set]
        dists, idxes = [], []
        for i, subset in enumerate(subsets):
            d, idx = _cosine_distance(queries, subset).topk(k=min(topk, subset.shape[0]), largest=False, dim=-1)
            dists.append(d)
            idxes.append(idx + i * split)
        if num_splits > 1:
            _, best = torch.cat(dists, dim=-1).topk(k=min(topk, sum(d.shape[-1] for d in dists)), largest=False, dim=-1)
            chosen = torch.cat(idxes, dim=-1).gather(1, best)
        else:
            chosen = idxes[0]
        return matching_set[chosen].reshape(input.shape[:-1] + (-1, input.shape[-1]))


def _cosine_distance(query: Tensor, target: Tensor) -> Tensor:
    """``1 - cos(q, t)`` from squared norms and a Euclidean distance, as upstream computes it."""
    query_sq = (query**2).sum(dim=-1)
    target_sq = (target**2).sum(dim=-1)
    dot = (query_sq[:, None] + target_sq[None] - torch.cdist(query[None], target[None])[0] ** 2) / 2
    return 1 - dot * (query_sq[:, None] * target_sq[None]).rsqrt()
