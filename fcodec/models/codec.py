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

from fcodec.models import hub
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
        return self.encoder.sample_rate

    @property
    def sample_rate_output(self) -> int:
        return int(self.sample_rate_input * self.decoder.upsample_factor / self.encoder.downsample_factor)

    @property
    def sample_rate(self) -> int:
        if self.sample_rate_input != self.sample_rate_output:
            raise RuntimeError(
                "`sample_rate` is undefined because input and output sample rates differ "
                f"(input={self.sample_rate_input}, output={self.sample_rate_output}). "
                "Please use `sample_rate_input` or `sample_rate_output` explicitly"
            )
        return self.sample_rate_input

    @property
    def causal(self) -> bool:
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
        return self.quantizer.codebook.clone()

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    @property
    def latent_dim(self) -> int:
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
        """``(toks, codes, reconstruction)`` [+ the four updated states]; output length ``N * sr_out / sr_in``."""
        codes, encoder_state, compressor_state = self.sig_to_codes(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.codes_to_toks(codes)
        rec_sig, decompressor_state, decoder_state = self.codes_to_sig(
            codes, decompressor_state, decoder_state, output_length=self.output_length(sig.shape[-1]),
            return_state=True,
        )
        if return_state:
            return toks, codes, rec_sig, encoder_state, compressor_state, decompressor_state, decoder_state
        return toks, codes, rec_sig

    def output_length(self, num_samples: int) -> int:
        """Samples of the reconstruction of ``num_samples`` input samples: ``floor(N * sr_out / sr_in)``, as
        upstream's ``forward`` cuts it. Every path (offline, batched, streaming, training lengths) uses this."""
        return num_samples * self.sample_rate_output // self.sample_rate_input

    # sig -> any
    def sig_to_feats(self, sig: Tensor, encoder_state: State = (), length: Optional[Tensor] = None,
                     return_state: bool = False):
        feats, encoder_state = self.encoder(sig, _fresh(encoder_state), length=length)
        return (feats, encoder_state) if return_state else feats

    def sig_to_lats(self, sig: Tensor, encoder_state: State = (), compressor_state: State = (),
                    length: Optional[Tensor] = None, return_state: bool = False):
        feats, encoder_state = self.sig_to_feats(sig, encoder_state, length, return_state=True)
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        return (lats, encoder_state, compressor_state) if return_state else lats

    def sig_to_toks(self, sig: Tensor, encoder_state: State = (), compressor_state: State = (),
                    length: Optional[Tensor] = None, return_state: bool = False):
        lats, encoder_state, compressor_state = self.sig_to_lats(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.quantizer.lats_to_toks(lats)
        return (toks, encoder_state, compressor_state) if return_state else toks

    def sig_to_codes(self, sig: Tensor, encoder_state: State = (), compressor_state: State = (),
                     length: Optional[Tensor] = None, return_state: bool = False):
        lats, encoder_state, compressor_state = self.sig_to_lats(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        codes = self.quantizer.lats_to_codes(lats)
        return (codes, encoder_state, compressor_state) if return_state else codes

    def sig_to_qfeats(self, sig: Tensor, encoder_state: State = (), compressor_state: State = (),
                      decompressor_state: State = (), length: Optional[Tensor] = None, return_state: bool = False):
        codes, encoder_state, compressor_state = self.sig_to_codes(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        if return_state:
            return qfeats, encoder_state, compressor_state, decompressor_state
        return qfeats

    def sig_to_sig(self, sig: Tensor, encoder_state: State = (), compressor_state: State = (),
                   decompressor_state: State = (), decoder_state: State = (), length: Optional[Tensor] = None,
                   return_state: bool = False):
        _, _, rec_sig, *states = self.forward(
            sig, encoder_state, compressor_state, decompressor_state, decoder_state, length, return_state=True
        )
        return (rec_sig, *states) if return_state else rec_sig

    # feats -> any
    def feats_to_lats(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        lats, compressor_state = self.compressor(feats, _fresh(compressor_state))
        lats = F.normalize(lats, dim=-1)
        return (lats, compressor_state) if return_state else lats

    def feats_to_toks(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        toks = self.quantizer.lats_to_toks(lats)
        return (toks, compressor_state) if return_state else toks

    def feats_to_codes(self, feats: Tensor, compressor_state: State = (), return_state: bool = False):
        lats, compressor_state = self.feats_to_lats(feats, compressor_state, return_state=True)
        codes = self.quantizer.lats_to_codes(lats)
        return (codes, compressor_state) if return_state else codes

    def feats_to_qfeats(self, feats: Tensor, compressor_state: State = (), decompressor_state: State = (),
                        return_state: bool = False):
        codes, compressor_state = self.feats_to_codes(feats, compressor_state, return_state=True)
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        return (qfeats, compressor_state, decompressor_state) if return_state else qfeats

    def feats_to_sig(self, feats: Tensor, decoder_state: State = (), matching_set: Optional[Tensor] = None,
                     topk: int = 4, num_splits: int = 1, output_length: Optional[int] = None,
                     return_state: bool = False):
        """Decode features; optional kNN voice conversion against ``matching_set`` (M, dim); ``output_length``
        truncates or pads (repeating the last sample)."""
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
        return self.quantizer.lats_to_toks(lats)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        return self.quantizer.lats_to_codes(lats)

    def lats_to_qfeats(self, lats: Tensor, decompressor_state: State = (), return_state: bool = False):
        return self.codes_to_qfeats(self.quantizer.lats_to_codes(lats), decompressor_state, return_state)

    # toks -> any
    def toks_to_codes(self, toks: Tensor) -> Tensor:
        return self.quantizer.toks_to_codes(toks)

    def toks_to_qfeats(self, toks: Tensor, decompressor_state: State = (), return_state: bool = False):
        return self.codes_to_qfeats(self.toks_to_codes(toks), decompressor_state, return_state)

    def toks_to_sig(self, toks: Tensor, decompressor_state: State = (), decoder_state: State = (),
                    matching_set: Optional[Tensor] = None, topk: int = 4, num_splits: int = 1,
                    output_length: Optional[int] = None, return_state: bool = False):
        return self.codes_to_sig(self.toks_to_codes(toks), decompressor_state, decoder_state, matching_set, topk,
                                 num_splits, output_length, return_state)

    # codes -> any
    def codes_to_toks(self, codes: Tensor) -> Tensor:
        return self.quantizer.codes_to_toks(codes)

    def codes_to_qfeats(self, codes: Tensor, decompressor_state: State = (), return_state: bool = False):
        qfeats, decompressor_state = self.decompressor(codes, _fresh(decompressor_state))
        return (qfeats, decompressor_state) if return_state else qfeats

    def codes_to_sig(self, codes: Tensor, decompressor_state: State = (), decoder_state: State = (),
                     matching_set: Optional[Tensor] = None, topk: int = 4, num_splits: int = 1,
                     output_length: Optional[int] = None, return_state: bool = False):
        qfeats, decompressor_state = self.codes_to_qfeats(codes, decompressor_state, return_state=True)
        sig, decoder_state = self.feats_to_sig(qfeats, decoder_state, matching_set, topk, num_splits,
                                               output_length, return_state=True)
        return (sig, decompressor_state, decoder_state) if return_state else sig

    def knn(self, input: Tensor, matching_set: Tensor, topk: int = 4, num_splits: int = 1) -> Tensor:
        """The ``topk`` rows of ``matching_set`` nearest (cosine) to each query: ``(..., topk, dim)``."""
        queries = input.flatten(end_dim=-2)
        split = matching_set.shape[0] // num_splits if num_splits > 1 else matching_set.shape[0]
        subsets = matching_set.split(split) if num_splits > 1 else [matching_set]
        dists, idxes = [], []
        for i, subset in enumerate(subsets):
            d, idx = _cosine_distance(queries, subset).topk(k=min(topk, subset.shape[0]), largest=False, dim=-1)
            dists.append(d)
            idxes.append(idx + i * split)
        if num_splits > 1:
            _, best = torch.cat(dists, dim=-1).topk(k=min(topk, sum(d.shape[-1] for d in dists)), largest=False,
                                                    dim=-1)
            chosen = torch.cat(idxes, dim=-1).gather(1, best)
        else:
            chosen = idxes[0]
        return matching_set[chosen].reshape(input.shape[:-1] + (-1, input.shape[-1]))

    # --------------------------------------------------------------------------------------------------------
    # training
    # --------------------------------------------------------------------------------------------------------
    def lengths(self, sig_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Valid ``(feat_lens, tok_lens, out_sig_lens)`` for inputs of ``sig_lens`` samples."""
        sig_lens = sig_lens.long()
        feat_lens = self.encoder.num_frames(sig_lens)
        tok_lens = self.compressor.num_frames(feat_lens)
        out_lens = torch.div(sig_lens * self.sample_rate_output, self.sample_rate_input, rounding_mode="floor")
        return feat_lens, tok_lens, out_lens

    def forward_train(self, sig: Tensor, sig_lens: Optional[Tensor] = None, decode: bool = True) -> CodecOutput:
        """One pass computing everything the losses need, nothing twice.

        Frozen parts (all parameters ``requires_grad=False``) run under ``torch.no_grad()``, except the decoder:
        its input still carries gradient to the decompressor. Quantisation uses a straight-through estimator.
        """
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
    # files
    # --------------------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Union[str, os.PathLike], pretrained: bool = False,
                    overrides: Optional[Mapping[str, Any]] = None, **hub_kwargs: Any) -> "FocalCodec":
        """Build from a config source (see ``fcodec.models.hub``); load its weights when ``pretrained``."""
        config_path, weights_path = hub.resolve(config, pretrained=pretrained, **hub_kwargs)
        cfg = hub.apply_overrides(hub.read_config(config_path), overrides)
        try:
            model = cls(**cfg)
        except ValueError as exc:
            raise hub.CheckpointError(f"Codec config {config_path} is invalid: {exc}") from exc
        if weights_path is not None:
            hub.load_weights(model, hub.load_state_dict_file(weights_path), source=str(weights_path))
        model.model_id = os.fspath(config)
        return model

    @classmethod
    def from_pretrained(cls, config: Union[str, os.PathLike], overrides: Optional[Mapping[str, Any]] = None,
                        **hub_kwargs: Any) -> "FocalCodec":
        """Local folder (config.json + model.safetensors), config path, or Hugging Face repo id."""
        return cls.from_config(config, pretrained=True, overrides=overrides, **hub_kwargs)

    def save_pretrained(self, folder: Union[str, os.PathLike]) -> str:
        """Write ``config.json`` (upstream schema) and ``model.safetensors`` into ``folder``, atomically."""
        return os.fspath(hub.save_pretrained(self, folder, self.config))

    def to_config(self, config: Union[str, os.PathLike], pretrained: bool = False) -> None:
        """Upstream's writer: ``X.json`` (+ ``X.safetensors``). An existing folder gets ``save_pretrained``."""
        if os.path.isdir(config):
            if pretrained:
                self.save_pretrained(config)
            else:
                hub.write_config(self.config, os.path.join(config, hub.CONFIG_NAME))
            return
        hub.save_upstream_style(self, config, self.config, pretrained)

    def to_pretrained(self, config: Union[str, os.PathLike]) -> None:
        self.to_config(config, pretrained=True)


def _cosine_distance(query: Tensor, target: Tensor) -> Tensor:
    """``1 - cos(q, t)`` from squared norms and a Euclidean distance, as upstream computes it."""
    query_sq = (query**2).sum(dim=-1)
    target_sq = (target**2).sum(dim=-1)
    dot = (query_sq[:, None] + target_sq[None] - torch.cdist(query[None], target[None])[0] ** 2) / 2
    return 1 - dot * (query_sq[:, None] * target_sq[None]).rsqrt()
