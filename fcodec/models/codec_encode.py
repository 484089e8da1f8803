"""FocalCodec's conversions from the signal side: ``sig_to_*`` and ``feats_to_*`` (upstream's names and
signatures, streaming states included). :class:`fcodec.models.codec.FocalCodec` inherits them.

States are opaque: pass back what a call returned; ``()`` or None starts a new stream (:func:`fresh`).
"""

from __future__ import annotations

from typing import Any, Optional

import torch.nn.functional as F
from torch import Tensor

State = Any  # opaque streaming state of one module


def fresh(state: State) -> Optional[State]:
    """Upstream marks a new stream with an empty tuple; we also accept None and empty lists."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)) and len(state) == 0:
        return None
    return state


class EncodeConversions:
    """The ``sig_to_*`` and ``feats_to_*`` methods of :class:`fcodec.models.codec.FocalCodec`."""

    # sig -> any
    def sig_to_feats(
        self, sig: Tensor, encoder_state: State = (), length: Optional[Tensor] = None, return_state: bool = False
    ):
        """Encoder features of a waveform (what ``feats_to_sig`` can also decode directly).

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            Input waveforms.
        encoder_state : opaque, default ``()``
            State returned by the previous call of this stream; ``()`` or None starts a new stream.
        length : Tensor, shape (B,), float, optional
            Relative valid length of each signal (valid samples / N, in (0, 1]) for a zero-padded batch. Used
            only by a non-causal encoder, which masks the padded frames in attention; a causal one ignores it.
        return_state : bool, default False
            Also return the updated encoder state.

        Returns
        -------
        feats : Tensor, shape (B, F, C), float
            Encoder features at 50 Hz (C = encoder ``dim``, 1024 for the published models). F = ceil(N / 320)
            for a causal encoder, floor((N - 400) / 320) + 1 (at least 1) for a non-causal one.
        encoder_state : opaque
            Only with ``return_state=True`` (None for a non-causal encoder).

        Raises
        ------
        ValueError
            ``sig`` is not 2-D or has 0 samples.
        """
        feats, encoder_state = self.encoder(sig, fresh(encoder_state), length=length)
        return (feats, encoder_state) if return_state else feats

    def sig_to_lats(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """L2-normalised latents of waveforms: ``sig`` (B, N) float 16 kHz -> (B, L, D) float [+ the encoder and
        compressor states with ``return_state``]; arguments as in ``sig_to_toks``."""
        feats, encoder_state = self.sig_to_feats(sig, encoder_state, length, return_state=True)
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        return (lats, encoder_state, compressor_state) if return_state else lats

    def sig_to_toks(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """Encode waveforms to tokens (encoder, compressor, L2 normalisation, BSQ).

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            Input waveforms. Streaming a causal model: pass consecutive chunks of a multiple of ``chunk_size``
            (1280) samples with the returned states to get exactly the offline tokens.
        encoder_state, compressor_state : opaque, default ``()``
            States returned by the previous call of this stream; ``()`` or None starts a new stream.
        length : Tensor, shape (B,), float, optional
            Relative valid length of each signal (valid samples / N, in (0, 1]) for a zero-padded batch. Used
            only by a non-causal encoder, which masks the padded frames in attention; a causal one ignores it.
        return_state : bool, default False
            Also return the updated encoder and compressor states.

        Returns
        -------
        toks : Tensor, shape (B, L), int64
            Tokens in ``[0, codebook_size)`` at ``frame_rate`` per second.
        encoder_state, compressor_state : opaque
            Only with ``return_state=True``.

        Raises
        ------
        ValueError
            ``sig`` is not 2-D or has 0 samples.
        """
        lats, encoder_state, compressor_state = self.sig_to_lats(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.quantizer.lats_to_toks(lats)
        return (toks, encoder_state, compressor_state) if return_state else toks

    def sig_to_codes(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """Encode waveforms to quantised latents (codes); as ``sig_to_toks`` but returns the codes.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            Input waveforms.
        encoder_state, compressor_state : opaque, default ``()``
            States returned by the previous call of this stream; ``()`` or None starts a new stream.
        length : Tensor, shape (B,), float, optional
            Relative valid length of each signal (valid samples / N, in (0, 1]) for a zero-padded batch. Used
            only by a non-causal encoder, which masks the padded frames in attention; a causal one ignores it.
        return_state : bool, default False
            Also return the updated encoder and compressor states.

        Returns
        -------
        codes : Tensor, shape (B, L, D), float
            Each component ``+-1/sqrt(D)``, D = log2(codebook_size).
        encoder_state, compressor_state : opaque
            Only with ``return_state=True``.
        """
        lats, encoder_state, compressor_state = self.sig_to_lats(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        codes = self.quantizer.lats_to_codes(lats)
        return (codes, encoder_state, compressor_state) if return_state else codes

    def sig_to_qfeats(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        decompressor_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """Decompressed features of waveforms: ``sig`` (B, N) float 16 kHz -> (B, F', C) float [+ the encoder,
        compressor and decompressor states with ``return_state``]; arguments as in ``forward``."""
        codes, encoder_state, compressor_state = self.sig_to_codes(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        if return_state:
            return qfeats, encoder_state, compressor_state, decompressor_state
        return qfeats

    def sig_to_sig(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        decompressor_state: State = (),
        decoder_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """Resynthesis: ``forward`` without the tokens and codes.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            Input waveforms.
        encoder_state, compressor_state, decompressor_state, decoder_state : opaque, default ``()``
            Streaming states of the four stateful parts, as returned by the previous call on the same stream
            with ``return_state=True``; ``()`` or None starts a new stream. Only causal parts carry state.
        length : Tensor, shape (B,), float, optional
            Relative valid length of each signal (valid samples / N, in (0, 1]) for a zero-padded batch. Used
            only by a non-causal encoder, which masks the padded frames in attention; a causal one ignores it.
        return_state : bool, default False
            Also return the four updated states.

        Returns
        -------
        rec_sig : Tensor, shape (B, floor(N * sample_rate_output / sample_rate_input)), float
            Reconstruction at ``sample_rate_output``.
        encoder_state, compressor_state, decompressor_state, decoder_state : opaque
            Only with ``return_state=True``.
        """
        _, _, rec_sig, *states = self.forward(
            sig, encoder_state, compressor_state, decompressor_state, decoder_state, length, return_state=True
        )
        return (rec_sig, *states) if return_state else rec_sig

    # feats -> any
    def feats_to_lats(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        """Compressor then L2 normalisation over the last dimension: ``feats`` (B, F, C) float -> ``lats``
        (B, L, D) float, L = compressor ``num_frames(F)`` [+ the compressor state with ``return_state``]."""
        lats, compressor_state = self.compressor(feats, fresh(compressor_state))
        lats = F.normalize(lats, dim=-1)
        return (lats, compressor_state) if return_state else lats

    def feats_to_toks(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        """``feats`` (B, F, C) float -> ``toks`` (B, L) int64 [+ the compressor state with ``return_state``]."""
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        toks = self.quantizer.lats_to_toks(lats)
        return (toks, compressor_state) if return_state else toks

    def feats_to_codes(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        """``feats`` (B, F, C) float -> ``codes`` (B, L, D) float [+ the compressor state with ``return_state``]."""
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        codes = self.quantizer.lats_to_codes(lats)
        return (codes, compressor_state) if return_state else codes

    def feats_to_qfeats(
        self, feats: Tensor, compressor_state: State = (), decompressor_state: State = (), return_state: bool = False
    ):
        """``feats`` (B, F, C) float -> ``qfeats`` (B, L * prod(upscale factors), C) float, through the quantizer
        [+ the compressor and decompressor states with ``return_state``]."""
        codes, compressor_state = self.feats_to_codes(feats, compressor_state, return_state=True)
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        return (qfeats, compressor_state, decompressor_state) if return_state else qfeats

    def feats_to_sig(
        self,
        feats: Tensor,
        decoder_state: State = (),
        matching_set: Optional[Tensor] = None,
        topk: int = 4,
        num_splits: int = 1,
        output_length: Optional[int] = None,
        return_state: bool = False,
    ):
        """Decode features; optional kNN voice conversion against ``matching_set`` (M, dim); ``output_length``
        truncates or pads (repeating the last sample).

        Parameters
        ----------
        feats : Tensor, shape (B, F', C), float
            Decoder-input features at 50 Hz: ``qfeats`` from the decompressor or encoder ``feats`` (the decoder
            was trained on continuous encoder features, so these decode too). C = decoder ``input_dim``.
        decoder_state : opaque, default ``()``
            State returned by the previous call of this stream; ``()`` or None starts a new stream.
        matching_set : Tensor, shape (M, C), float, optional
            Features of a target speaker: each input frame is replaced by the mean of its ``topk`` nearest rows
            (cosine distance) before decoding.
        topk : int, default 4
            Neighbours averaged per frame (kNN only).
        num_splits : int, default 1
            Process the matching set in this many slices of M // num_splits rows, then re-select the global
            top-k (bounds memory; kNN only).
        output_length : int, optional
            Cut, or pad by repeating the last sample, to this many output samples.
        return_state : bool, default False
            Also return the updated decoder state.

        Returns
        -------
        sig : Tensor, shape (B, F' * hop) or (B, output_length), float
            Waveform at ``sample_rate_output`` (hop 480 -> 24 kHz for WaveNeXt, 320 -> 16 kHz for Vocos).
        decoder_state : opaque
            Only with ``return_state=True``.
        """
        if matching_set is not None:
            feats = self.knn(feats, matching_set, topk, num_splits).mean(dim=-2)
        sig, decoder_state = self.decoder(feats, fresh(decoder_state))
        if output_length is not None:
            delta = output_length - sig.shape[1]
            if delta < 0:
                sig = sig[:, :output_length]
            elif delta > 0:
                sig = F.pad(sig[:, None], (0, delta), mode="replicate")[:, 0]
        return (sig, decoder_state) if return_state else sig
