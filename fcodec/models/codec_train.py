"""FocalCodec's training pass: one forward computing everything the losses need (:class:`CodecOutput`), and
the valid lengths of a padded batch. :class:`fcodec.models.codec.FocalCodec` inherits it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn


@dataclass
class CodecOutput:
    """Everything one training pass produces (shapes for a batch of B signals of N samples).

    feats:     (B, F, 1024) encoder features
    lats:      (B, L, D) L2-normalised compressor outputs (pre-quantisation latents)
    codes:     (B, L, D) quantised latents carrying the latents' gradient (straight-through estimator)
    toks:      (B, L) int64 tokens
    qfeats:    (B, F', 1024) decompressor output, F' = L * prod(upscale factors)
    sig:       (B, N * sr_out / sr_in) reconstruction at the decoder rate, or None when not decoded
    feat_lens, tok_lens, sig_lens: (B,) int64 valid lengths of feats, toks/lats/codes and sig per item
    """

    feats: Tensor
    lats: Tensor
    codes: Tensor
    toks: Tensor
    qfeats: Tensor
    sig: Optional[Tensor]
    feat_lens: Tensor
    tok_lens: Tensor
    sig_lens: Tensor


def _is_frozen(module: nn.Module) -> bool:
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def _no_grad_if_frozen(module: nn.Module):
    return torch.no_grad() if _is_frozen(module) else contextlib.nullcontext()


class TrainingPass:
    """The ``lengths`` and ``forward_train`` methods of :class:`fcodec.models.codec.FocalCodec`."""

    def lengths(self, sig_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Valid ``(feat_lens, tok_lens, out_sig_lens)`` for inputs of ``sig_lens`` samples.

        Parameters
        ----------
        sig_lens : Tensor, shape (B,), int
            Valid input samples per item (16 kHz).

        Returns
        -------
        feat_lens, tok_lens, out_sig_lens : Tensor, shape (B,), int64
            Encoder frames, tokens, and output samples (at ``sample_rate_output``, as ``output_length``).
        """
        sig_lens = sig_lens.long()
        feat_lens = self.encoder.num_frames(sig_lens)
        tok_lens = self.compressor.num_frames(feat_lens)
        out_lens = torch.div(sig_lens * self.sample_rate_output, self.sample_rate_input, rounding_mode="floor")
        return feat_lens, tok_lens, out_lens

    def forward_train(self, sig: Tensor, sig_lens: Optional[Tensor] = None, decode: bool = True) -> CodecOutput:
        """One pass computing everything the losses need, nothing twice.

        Frozen parts (all parameters ``requires_grad=False``) run under ``torch.no_grad()``, except the decoder:
        its input still carries gradient to the decompressor. Quantisation uses a straight-through estimator.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz
            A zero-padded batch of waveforms.
        sig_lens : Tensor, shape (B,), int, optional
            Valid samples per item; default N for every item. A non-causal encoder masks the padding with it;
            the returned ``*_lens`` are derived from it.
        decode : bool, default True
            Run the decoder; False skips it (``CodecOutput.sig`` is None): the trainer does so when no loss term
            needs the reconstruction.

        Returns
        -------
        CodecOutput
            Features, latents, codes, tokens, decompressed features, reconstruction and valid lengths (see
            ``CodecOutput`` for the shapes).

        Raises
        ------
        ValueError
            ``sig`` is not 2-D.
        """
        self._require_float("train")
        if sig.dim() != 2:
            raise ValueError(f"forward_train expects a (batch, samples) signal, got shape {tuple(sig.shape)}")
        batch, num_samples = sig.shape
        if sig_lens is None:
            sig_lens = torch.full((batch,), num_samples, dtype=torch.long, device=sig.device)
        sig_lens = sig_lens.to(sig.device).long()
        length = None if self.encoder.causal else sig_lens.float() / num_samples
        with _no_grad_if_frozen(self.encoder):
            feats = self.sig_to_feats(sig, length=length)
        with _no_grad_if_frozen(self.compressor):
            lats = self.feats_to_lats(feats)
        codes, toks = self.quantizer.straight_through(lats)
        with _no_grad_if_frozen(self.decompressor):
            qfeats = self.codes_to_qfeats(codes)
        rec = self.feats_to_sig(qfeats, output_length=self.output_length(num_samples)) if decode else None
        feat_lens, tok_lens, out_lens = self.lengths(sig_lens)
        return CodecOutput(
            feats=feats,
            lats=lats,
            codes=codes,
            toks=toks,
            qfeats=qfeats,
            sig=rec,
            feat_lens=feat_lens.clamp(max=feats.shape[1]),
            tok_lens=tok_lens.clamp(max=toks.shape[1]),
            sig_lens=out_lens.clamp(max=rec.shape[1] if rec is not None else self.output_length(num_samples)),
        )
