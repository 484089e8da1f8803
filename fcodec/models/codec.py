"""The ``FocalCodec`` wrapper: encoder -> compressor -> BSQ -> decompressor -> decoder (docs/architecture.md,
Pipeline and Checkpoint contract).

Constructor keywords, the conversion API (``sig_to_feats`` ... ``codes_to_sig``, ``forward``), streaming state
arguments and ``return_state`` follow upstream v0.0.2, so code written for upstream runs on this class. States
are opaque: pass back what a call returned; ``()`` or None starts a new stream.

Additions for training and the recipes: ``frame_rate``, ``bitrate``, ``codebook_size``, ``config``,
``save_pretrained`` and ``forward_train`` (one pass returning everything the losses need, see ``CodecOutput``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import hub, int8, weights
from fcodec.models.bsq import BinarySphericalQuantizer
from fcodec.models.focalnet import FocalDecoder, FocalEncoder
from fcodec.models.vocos import Vocos
from fcodec.models.wavenext import WaveNeXt
from fcodec.models.wavlm import WavLM

__all__ = ["FocalCodec", "CodecOutput", "REGISTRY", "DEFAULT_CONFIGS"]

REGISTRY = {
    "BinarySphericalQuantizer": BinarySphericalQuantizer,
    "FocalDecoder": FocalDecoder,
    "FocalEncoder": FocalEncoder,
    "Vocos": Vocos,
    "WaveNeXt": WaveNeXt,
    "WavLM": WavLM,
}
DEFAULT_CONFIGS = hub.DEFAULT_CONFIGS
UPSTREAM_VERSION = "0.0.2"  # the upstream release whose format and numerics this implementation follows

State = Any  # opaque streaming state of one module


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


def _fresh(state: State) -> Optional[State]:
    """Upstream marks a new stream with an empty tuple; we also accept None and empty lists."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)) and len(state) == 0:
        return None
    return state


class FocalCodec(nn.Module):
    """FocalCodec: encoder -> compressor -> BSQ quantizer -> decompressor -> decoder (docs/architecture.md, Pipeline).

    Each part is built as ``REGISTRY[<part>_name](**<part>_config)``; the ten keywords are upstream's
    ``config.json`` schema (``config`` returns them). The submodule attributes ``encoder``, ``compressor``,
    ``quantizer``, ``decompressor`` and ``decoder`` are the state-dict prefixes. Use ``from_pretrained`` to load
    a checkpoint; the constructor builds randomly initialised parts (PyTorch default initialisation).

    Parameters
    ----------
    encoder_name : str, default "WavLM"
        Registry name of the encoder (16 kHz waveform -> features, 320 samples per frame in all configs).
    encoder_config : dict, optional
        Keyword arguments of the encoder class (None means ``{}``: that class's defaults). Deep-copied.
    compressor_name : str, default "FocalEncoder"
        Registry name of the compressor (features -> latents of dimension log2(codebook_size)).
    compressor_config : dict, optional
        Keyword arguments of the compressor class.
    quantizer_name : str, default "BinarySphericalQuantizer"
        Registry name of the quantizer.
    quantizer_config : dict, optional
        Keyword arguments of the quantizer class (``{"codebook_size": 2048}`` etc.).
    decompressor_name : str, default "FocalDecoder"
        Registry name of the decompressor (codes -> features for the decoder).
    decompressor_config : dict, optional
        Keyword arguments of the decompressor class.
    decoder_name : str, default "WaveNeXt"
        Registry name of the decoder: "WaveNeXt" (hop 480, 24 kHz output, the causal checkpoints) or "Vocos"
        (hop 320, 16 kHz output, the non-causal checkpoints).
    decoder_config : dict, optional
        Keyword arguments of the decoder class.

    Raises
    ------
    ValueError
        A name is not in ``REGISTRY``, or a sub-config has a keyword its class does not accept (or a value the
        class rejects, e.g. a codebook size that is not a power of two).
    """

    __version__ = UPSTREAM_VERSION

    def __init__(
        self,
        encoder_name: str = "WavLM",
        encoder_config: Optional[Dict[str, Any]] = None,
        compressor_name: str = "FocalEncoder",
        compressor_config: Optional[Dict[str, Any]] = None,
        quantizer_name: str = "BinarySphericalQuantizer",
        quantizer_config: Optional[Dict[str, Any]] = None,
        decompressor_name: str = "FocalDecoder",
        decompressor_config: Optional[Dict[str, Any]] = None,
        decoder_name: str = "WaveNeXt",
        decoder_config: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        names = {
            "encoder": encoder_name,
            "compressor": compressor_name,
            "quantizer": quantizer_name,
            "decompressor": decompressor_name,
            "decoder": decoder_name,
        }
        configs = {
            "encoder": encoder_config,
            "compressor": compressor_config,
            "quantizer": quantizer_config,
            "decompressor": decompressor_config,
            "decoder": decoder_config,
        }
        for part, name in names.items():
            if name not in REGISTRY:
                raise ValueError(f"Unregistered module: {name} (for {part}). Available modules: {list(REGISTRY)}")
        for part in names:
            setattr(self, f"{part}_name", names[part])
            setattr(self, f"{part}_config", copy.deepcopy(dict(configs[part] or {})))
        self.model_id: Optional[str] = None
        self.quantization: Optional[str] = None  # "int8" after quantize()
        for part, name in names.items():
            try:
                module = REGISTRY[name](**getattr(self, f"{part}_config"))
            except TypeError as exc:  # unknown keyword in a sub-config
                raise ValueError(f"Invalid {part}_config for {name}: {exc}") from exc
            setattr(self, part, module)

    # --------------------------------------------------------------------------------------------------------
    # properties
    # --------------------------------------------------------------------------------------------------------
    @property
    def config(self) -> Dict[str, Any]:
        """The ten constructor keywords (upstream ``config.json`` schema)."""
        return hub.to_jsonable({k: getattr(self, k) for k in hub.CONFIG_KEYS})

    @property
    def sample_rate_input(self) -> int:
        """Input sample rate in Hz (the encoder's, 16000)."""
        return self.encoder.sample_rate

    @property
    def sample_rate_output(self) -> int:
        """Output sample rate in Hz: ``16000 * decoder hop / encoder hop`` (24000 WaveNeXt, 16000 Vocos)."""
        return int(self.sample_rate_input * self.decoder.upsample_factor / self.encoder.downsample_factor)

    @property
    def sample_rate(self) -> int:
        """The common input/output sample rate in Hz.

        Raises
        ------
        RuntimeError
            Input and output rates differ (e.g. the causal WaveNeXt checkpoints: 16 kHz in, 24 kHz out); use
            ``sample_rate_input`` / ``sample_rate_output``.
        """
        if self.sample_rate_input != self.sample_rate_output:
            raise RuntimeError(
                "`sample_rate` is undefined because input and output sample rates differ "
                f"(input={self.sample_rate_input}, output={self.sample_rate_output}). "
                "Please use `sample_rate_input` or `sample_rate_output` explicitly"
            )
        return self.sample_rate_input

    @property
    def causal(self) -> bool:
        """Whether encoder, compressor, decompressor and decoder are all causal (streamable)."""
        parts = (self.encoder, self.compressor, self.decompressor, self.decoder)
        return all(bool(part.causal) for part in parts)

    @property
    def chunk_size(self) -> int:
        """Samples per streaming call (1280 = 80 ms for the causal models)."""
        return self.encoder.chunk_size

    @property
    def latency(self) -> Optional[float]:
        """Algorithmic latency in milliseconds (causal models), else None."""
        return 1000.0 * self.chunk_size / self.sample_rate_input if self.causal else None

    @property
    def codebook(self) -> Tensor:
        """A copy of the codes of all tokens: shape (codebook_size, D), row t = code of token t."""
        return self.quantizer.codebook.clone()

    @property
    def codebook_size(self) -> int:
        """Number of tokens (2 ** D)."""
        return self.quantizer.codebook_size

    @property
    def latent_dim(self) -> int:
        """D = log2(codebook_size), the dimension of latents and codes."""
        return self.quantizer.dim

    @property
    def hop_samples(self) -> int:
        """Input samples per token."""
        return self.encoder.downsample_factor * self.compressor.downsample_factor

    @property
    def frame_rate(self) -> float:
        """Tokens per second."""
        return self.sample_rate_input / self.hop_samples

    @property
    def bitrate(self) -> float:
        """Bits per second: frame rate times log2(codebook size)."""
        return self.frame_rate * math.log2(self.codebook_size)

    def info(self) -> Dict[str, Any]:
        """``model_id``, ``version`` (the upstream release followed), ``sample_rate_input``, ``sample_rate_output``,
        ``causal``, ``chunk_size``, ``latency`` (ms), ``frame_rate`` (Hz), ``bitrate`` (bps), ``codebook_size`` and
        ``num_total_params`` (elements of the state dict)."""
        return {
            "model_id": self.model_id,
            "version": self.__version__,
            "sample_rate_input": self.sample_rate_input,
            "sample_rate_output": self.sample_rate_output,
            "causal": self.causal,
            "chunk_size": self.chunk_size,
            "latency": self.latency,
            "frame_rate": self.frame_rate,
            "bitrate": self.bitrate,
            "codebook_size": self.codebook_size,
            "num_total_params": sum(x.numel() for x in self.state_dict().values()),
        }

    # --------------------------------------------------------------------------------------------------------
    # conversion API (upstream names and signatures)
    # --------------------------------------------------------------------------------------------------------
    def forward(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        decompressor_state: State = (),
        decoder_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """``(toks, codes, reconstruction)`` [+ the four updated states]; output length ``N * sr_out / sr_in``.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz (``sample_rate_input``)
            Input waveforms. For exact streaming parity a causal model wants N a multiple of ``chunk_size``
            (1280 samples, 80 ms) on every call but the last of a stream.
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
        toks : Tensor, shape (B, L), int64
            Tokens in ``[0, codebook_size)``; L = ceil(F / prod(compressor downscale factors)) for F encoder
            frames.
        codes : Tensor, shape (B, L, D), float
            Quantised latents, each component ``+-1/sqrt(D)``, D = log2(codebook_size).
        rec_sig : Tensor, shape (B, floor(N * sample_rate_output / sample_rate_input)), float
            Reconstruction at ``sample_rate_output`` (24 kHz for WaveNeXt, 16 kHz for Vocos), cut or padded
            (last sample repeated) to ``output_length(N)``.
        encoder_state, compressor_state, decompressor_state, decoder_state : opaque
            Only with ``return_state=True``.

        Raises
        ------
        ValueError
            ``sig`` is not 2-D or has 0 samples (raised by the encoder).
        """
        codes, encoder_state, compressor_state = self.sig_to_codes(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.codes_to_toks(codes)
        rec_sig, decompressor_state, decoder_state = self.codes_to_sig(
            codes,
            decompressor_state,
            decoder_state,
            output_length=self.output_length(sig.shape[-1]),
            return_state=True,
        )
        if return_state:
            return toks, codes, rec_sig, encoder_state, compressor_state, decompressor_state, decoder_state
        return toks, codes, rec_sig

    def output_length(self, num_samples: int) -> int:
        """Samples of the reconstruction of ``num_samples`` input samples: ``floor(N * sr_out / sr_in)``, as
        upstream's ``forward`` cuts it. Every path (offline, batched, streaming, training lengths) uses this.

        Parameters
        ----------
        num_samples : int
            Input samples at ``sample_rate_input`` (16 kHz).

        Returns
        -------
        int
            Output samples at ``sample_rate_output``.
        """
        return num_samples * self.sample_rate_output // self.sample_rate_input

    # sig -> any
    def sig_to_feats(
        self, sig: Tensor, encoder_state: State = (), length: Optional[Tensor] = None, return_state: bool = False
    ):
        """Encoder features of a waveform (the stage ``feats_to_sig`` can also decode directly).

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
        feats, encoder_state = self.encoder(sig, _fresh(encoder_state), length=length)
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
        lats, compressor_state = self.compressor(feats, _fresh(compressor_state))
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
        sig, decoder_state = self.decoder(feats, _fresh(decoder_state))
        if output_length is not None:
            delta = output_length - sig.shape[1]
            if delta < 0:
                sig = sig[:, :output_length]
            elif delta > 0:
                sig = F.pad(sig[:, None], (0, delta), mode="replicate")[:, 0]
        return (sig, decoder_state) if return_state else sig

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
        qfeats, decompressor_state = self.decompressor(codes, _fresh(decompressor_state))
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

    # --------------------------------------------------------------------------------------------------------
    # training
    # --------------------------------------------------------------------------------------------------------
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

    # --------------------------------------------------------------------------------------------------------
    # inference-only quantisation
    # --------------------------------------------------------------------------------------------------------
    # Left in fp32 by quantize("int8"), measured on real speech with the full-size model (latents' signal-to-error
    # ratio against fp32 when only this part is int8): the WavLM front-end convs (23.6 dB alone; near-audio
    # activations, 19 MB of weights) and the compressor's output layer (31.3 dB alone; it makes the latents whose
    # signs are the tokens, 45 kB of weights). Everything else together: see tests/models/test_int8.py.
    INT8_KEEP_FLOAT = ("encoder.feature_extractor", "compressor.out_proj")

    def quantize(self, mode: str = "int8") -> "FocalCodec":
        """Quantise for CPU inference, in place; returns ``self`` (eval mode, no gradients).

        Parameters
        ----------
        mode : str
            ``"int8"``: int8 weights, per output channel, for every linear layer and every convolution computed
            as a matrix product; activations quantised per call (see ``fcodec.models.int8``). About 4x fewer
            weight bytes read per streaming chunk. The model can then be neither trained nor saved: quantise
            after loading.
        """
        if self.quantization is not None:
            raise RuntimeError(f"this codec is already quantised ({self.quantization})")
        int8.quantize(self, mode, keep_float=self.INT8_KEEP_FLOAT)
        self.quantization = mode
        return self

    def _require_float(self, action: str) -> None:
        if self.quantization is not None:
            raise RuntimeError(
                f"cannot {action} a {self.quantization}-quantised codec: it is for inference only; "
                "load the float model again"
            )

    # --------------------------------------------------------------------------------------------------------
    # files
    # --------------------------------------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Union[str, os.PathLike],
        pretrained: bool = False,
        overrides: Optional[Mapping[str, Any]] = None,
        **hub_kwargs: Any,
    ) -> "FocalCodec":
        """Build from a config source (see ``fcodec.models.hub``); load its weights when ``pretrained``.

        Parameters
        ----------
        config : str or os.PathLike
            A local folder with ``config.json`` (+ ``model.safetensors`` or ``model.pt``), a local config path
            (``.json`` optional; weights ``<stem>.safetensors``/``.pt`` beside it), a Hugging Face repo id
            ``owner/name``, or ``owner/name/sub_config.json``. Local paths are tried first.
        pretrained : bool, default False
            Also find and strictly load the weights (legacy v0.0.1 key layouts are remapped).
        overrides : Mapping[str, Any], optional
            Config values to replace before building, by dot path, e.g.
            ``{"encoder_config.max_cached_steps": 0}``; missing intermediate dicts are created.
        **hub_kwargs
            Passed to ``huggingface_hub.hf_hub_download`` for remote sources (``revision``, ``cache_dir``,
            ``local_files_only``, ...).

        Returns
        -------
        FocalCodec
            The model (in training mode, on the CPU), with ``model_id`` set to ``os.fspath(config)``.

        Raises
        ------
        CheckpointError
            The source or its weights cannot be found, downloaded or read, the config has unknown keys or is
            invalid for the classes, or the weights do not match the model (missing, unexpected or misshaped
            keys are listed).
        """
        config_path, weights_path = hub.resolve(config, pretrained=pretrained, **hub_kwargs)
        cfg = hub.apply_overrides(hub.read_config(config_path), overrides)
        try:
            model = cls(**cfg)
        except ValueError as exc:
            raise hub.CheckpointError(f"Codec config {config_path} is invalid: {exc}") from exc
        if weights_path is not None:
            weights.load_weights(model, weights.load_state_dict_file(weights_path), source=str(weights_path))
        model.model_id = os.fspath(config)
        return model

    @classmethod
    def from_pretrained(
        cls, config: Union[str, os.PathLike], overrides: Optional[Mapping[str, Any]] = None, **hub_kwargs: Any
    ) -> "FocalCodec":
        """Local folder (config.json + model.safetensors), config path, or Hugging Face repo id.

        ``from_config(config, pretrained=True, ...)``.

        Parameters
        ----------
        config : str or os.PathLike
            The source (see ``from_config``).
        overrides : Mapping[str, Any], optional
            Dot-path config overrides (see ``from_config``).
        **hub_kwargs
            Passed to ``huggingface_hub.hf_hub_download`` for remote sources.

        Returns
        -------
        FocalCodec
            The model with its weights loaded, ``model_id`` set to ``os.fspath(config)``.

        Raises
        ------
        CheckpointError
            As ``from_config``; without a Hub connection or cached copy the message says how to fetch the files
            elsewhere and pass their folder instead.
        """
        return cls.from_config(config, pretrained=True, overrides=overrides, **hub_kwargs)

    def save_pretrained(self, folder: Union[str, os.PathLike]) -> str:
        """Write ``config.json`` (upstream schema) and ``model.safetensors`` into ``folder``, atomically.

        Also links ``config.safetensors`` to ``model.safetensors`` so that upstream's package loads the folder as
        ``FocalCodec.from_pretrained(folder + "/config")``; ours loads it as ``from_pretrained(folder)``.

        Parameters
        ----------
        folder : str or os.PathLike
            Output folder, created (with parents) if missing; existing files of those names are replaced.

        Returns
        -------
        str
            The folder path.
        """
        self._require_float("save")
        return os.fspath(hub.save_pretrained(self, folder, self.config))

    def to_config(self, config: Union[str, os.PathLike], pretrained: bool = False) -> None:
        """Upstream's writer: ``X.json`` (+ ``X.safetensors``). An existing folder gets ``save_pretrained``.

        Parameters
        ----------
        config : str or os.PathLike
            ``X`` or ``X.json``; or an existing folder (then ``config.json``, plus the weights with ``pretrained``
            as ``save_pretrained`` writes them).
        pretrained : bool, default False
            Also write the weights.
        """
        if pretrained:
            self._require_float("save")
        if os.path.isdir(config):
            if pretrained:
                self.save_pretrained(config)
            else:
                hub.write_config(self.config, os.path.join(config, hub.CONFIG_NAME))
            return
        hub.save_upstream_style(self, config, self.config, pretrained)

    def to_pretrained(self, config: Union[str, os.PathLike]) -> None:
        """Upstream's name for ``to_config(config, pretrained=True)``."""
        self.to_config(config, pretrained=True)


def _cosine_distance(query: Tensor, target: Tensor) -> Tensor:
    """``1 - cos(q, t)`` from squared norms and a Euclidean distance, as upstream computes it."""
    query_sq = (query**2).sum(dim=-1)
    target_sq = (target**2).sum(dim=-1)
    dot = (query_sq[:, None] + target_sq[None] - torch.cdist(query[None], target[None])[0] ** 2) / 2
    return 1 - dot * (query_sq[:, None] * target_sq[None]).rsqrt()
