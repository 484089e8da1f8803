"""Post-hoc bottlenecks: a trained codec's bitrate lowered without training, the baselines a trained low-rate
model must beat (as Stable Codec's ``set_posthoc_bottleneck``).

A preset is named with the model frame rate it applies to and the bitrate it gives:

* ``50hz_keep2_275bps``, ``50hz_keep4_137.5bps``: token-rate reduction. Of every group of k consecutive tokens
  only the first is sent; the decoder repeats it k times. k must divide the tokens of one streaming chunk (4 at
  50 Hz), so a group never straddles two chunks and streaming equals offline.
* ``50hz_6bit_300bps``, ``50hz_3bit_150bps``: a subset of the D code bits (D = 11 for the published models) is
  sent, the others are set to their most frequent value. Which bits is chosen by ``calibrate_bits`` on training
  speech; the choice (a ``BitChoice``) is saved with the decode so that it is reproducible.
* both at once: ``50hz_keep2_6bit_150bps``.

``with_posthoc(codec, preset, choice)`` returns a :class:`PosthocCodec`: the token API of the codec
(``sig_to_toks``, ``toks_to_sig`` with streaming states, ``lengths``, ``frame_rate``, ``bitrate``, ...) on the
reduced token stream, which the batched and streaming decoders (fcodec.infer) accept in place of the codec. The
codec itself is not changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from fcodec.models.posthoc_presets import PRESETS, PosthocError, Preset, check_advertised, parse_preset

__all__ = [
    "PosthocError",
    "Preset",
    "BitChoice",
    "PosthocCodec",
    "parse_preset",
    "check_preset",
    "with_posthoc",
    "PRESETS",
]


def check_preset(preset: Preset, model: Any) -> None:
    """Whether ``preset`` applies to ``model`` (a FocalCodec): the model's frame rate, a bitrate below the
    model's, and (causal models) a keep factor that divides the tokens of a streaming chunk.

    Raises
    ------
    PosthocError
        One line saying which of these fails.
    """
    if not math.isclose(preset.frame_rate, model.frame_rate):
        raise PosthocError(
            f"post-hoc preset {preset.name} is for a {preset.frame_rate:g} Hz model; this one is "
            f"{model.frame_rate:g} Hz ({model.bitrate:g} bps)"
        )
    bitrate = preset.bitrate(model.latent_dim)
    if (preset.bits or 0) > model.latent_dim or bitrate >= model.bitrate:
        raise PosthocError(
            f"post-hoc preset {preset.name} ({bitrate:g} bps) is not below the model's bitrate "
            f"({model.bitrate:g} bps, {model.latent_dim} bits per token)"
        )
    check_advertised(preset, model.latent_dim)
    per_chunk = max(model.chunk_size // model.hop_samples, 1)  # fcodec.infer.streaming.tokens_per_chunk
    if model.causal and per_chunk % preset.keep:
        raise PosthocError(
            f"post-hoc preset {preset.name} keeps 1 token in {preset.keep}, which does not divide the "
            f"{per_chunk} tokens of this model's {model.latency:.0f} ms streaming chunk"
        )


@dataclass(frozen=True)
class BitChoice:
    """Which code bits a bit-subset preset sends, and the value each other bit is set to.

    Parameters
    ----------
    kept : tuple of int
        Indices of the sent bits, ascending; 0 is the most significant bit (the token's first latent dimension).
    fill : tuple of int
        For every bit, its most frequent value (0 or 1) on the calibration speech; used for the bits not sent.
    stats : dict
        How the choice was made (per-bit gain, frequency of 1, frames, cuts): saved with it, not used to decode.
    """

    kept: Tuple[int, ...]
    fill: Tuple[int, ...]
    stats: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        return {"kept": list(self.kept), "fill": list(self.fill), "stats": self.stats}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BitChoice":
        return cls(tuple(int(b) for b in data["kept"]), tuple(int(v) for v in data["fill"]), dict(data["stats"]))


def choose_bits(lats: Tensor, num_bits: int) -> BitChoice:
    """The ``num_bits`` code bits to send, from calibration latents ``lats`` (T, D) (unit-norm, before the sign).

    The decoder was trained on codes ``sign(l) / sqrt(D)`` of the latents ``l``. A dropped bit is replaced by a
    constant ``f_d / sqrt(D)`` (``f_d`` = +-1, the bit's most frequent value), which costs, in squared latent
    error, ``E[(l_d - f_d c)^2] - E[(l_d - sign(l_d) c)^2] = 2c (E|l_d| - f_d E[l_d])`` (c = 1/sqrt(D)) more than
    sending it. The error is a sum over dimensions, so keeping the ``num_bits`` bits of largest cost is the exact
    minimiser of the calibration latents' error among all subsets of that size: bits that are nearly constant
    (cheap to guess) or whose latent sits near 0 (little magnitude lost) are dropped first. Without a decoder
    pass, the latent error is the closest measure of what the decompressor loses.

    Raises
    ------
    PosthocError
        ``lats`` holds no frames, or ``num_bits`` is not in [1, D).
    """
    frames, dim = lats.shape
    if frames == 0:
        raise PosthocError("cannot calibrate a post-hoc bit choice on no speech (0 frames)")
    if not 1 <= num_bits < dim:
        raise PosthocError(f"cannot keep {num_bits} of {dim} bits")
    lats = lats.double()
    p_one = (lats > 0).double().mean(0)
    fill = (p_one > 0.5).long()  # a tie goes to 0, the value BSQ gives an exact 0
    sign = fill.double() * 2 - 1
    cost = 2 / math.sqrt(dim) * (lats.abs().mean(0) - sign * lats.mean(0))
    kept = sorted(torch.argsort(cost, descending=True)[:num_bits].tolist())
    stats = {"frames": frames, "cost": [round(float(c), 6) for c in cost], "p_one": [round(float(p), 4) for p in p_one]}
    return BitChoice(tuple(kept), tuple(fill.tolist()), stats)


def latent_error(lats: Tensor, kept: Sequence[int], fill: Sequence[int]) -> float:
    """Mean squared error per frame between latents (T, D) and the codes a bit subset decodes to."""
    dim = lats.shape[-1]
    c = 1 / math.sqrt(dim)
    codes = torch.tensor([c if v else -c for v in fill], dtype=lats.dtype).expand_as(lats).clone()
    kept = list(kept)
    codes[:, kept] = torch.where(lats[:, kept] > 0, c, -c).to(lats.dtype)
    return float((lats - codes).pow(2).sum(-1).mean())


class PosthocCodec(nn.Module):
    """A codec behind a post-hoc bottleneck: tokens at ``frame_rate / keep`` with ``bits`` bits each.

    Offers the codec's token API on the reduced stream (what fcodec.infer's batched and streaming decoders use).
    Build it with :func:`with_posthoc`.
    """

    def __init__(self, codec: nn.Module, preset: Preset, choice: Optional[BitChoice] = None) -> None:
        super().__init__()
        self.codec = codec
        self.preset = preset
        self.choice = choice
        dim = codec.latent_dim
        # bit k of a token (most significant first) has weight 2**(dim-1-k)
        self.register_buffer("weights", 2 ** torch.arange(dim - 1, -1, -1), persistent=False)
        kept = list(choice.kept) if choice else list(range(dim))
        self.register_buffer("kept", torch.tensor(kept, dtype=torch.long), persistent=False)
        fill = torch.tensor(choice.fill if choice else [0] * dim, dtype=torch.long)
        # the dropped bits' fixed part of every expanded token
        dropped = torch.ones(dim, dtype=torch.bool)
        dropped[kept] = False
        self.register_buffer("fill_value", (fill * self.weights * dropped).sum(), persistent=False)
        self.register_buffer("kept_weights", 2 ** torch.arange(len(kept) - 1, -1, -1), persistent=False)

    # the reduced stream's rates and sizes
    @property
    def keep(self) -> int:
        return self.preset.keep

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate / self.keep

    @property
    def hop_samples(self) -> int:
        return self.codec.hop_samples * self.keep

    @property
    def codebook_size(self) -> int:
        return 2 ** len(self.kept)

    @property
    def bitrate(self) -> float:
        return self.frame_rate * len(self.kept)

    # unchanged from the codec
    @property
    def sample_rate_input(self) -> int:
        return self.codec.sample_rate_input

    @property
    def sample_rate_output(self) -> int:
        return self.codec.sample_rate_output

    @property
    def causal(self) -> bool:
        return self.codec.causal

    @property
    def chunk_size(self) -> int:
        return self.codec.chunk_size

    @property
    def latency(self) -> Optional[float]:
        return self.codec.latency

    @property
    def quantization(self) -> Optional[str]:
        return self.codec.quantization

    def output_length(self, num_samples: int) -> int:
        return self.codec.output_length(num_samples)

    def lengths(self, sig_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """As ``FocalCodec.lengths``, with the reduced token count: every group that overlaps the input."""
        feat_lens, tok_lens, out_lens = self.codec.lengths(sig_lens)
        return feat_lens, torch.div(tok_lens + self.keep - 1, self.keep, rounding_mode="floor"), out_lens

    def describe(self) -> Dict[str, Any]:
        """What a decode made with it depends on (written into the decode's settings and summary)."""
        return {"preset": self.preset.name, "bits": self.choice.to_dict() if self.choice else None}

    # tokens: 50 Hz full tokens <-> the reduced stream
    def reduce(self, toks: Tensor) -> Tensor:
        """Full tokens (B, L) -> sent tokens (B, ceil(L / keep)): the first of every group, its kept bits."""
        toks = toks[:, :: self.keep]
        bits = torch.div(toks[..., None], self.weights[self.kept], rounding_mode="floor") % 2
        return (bits * self.kept_weights).sum(-1)

    def expand(self, toks: Tensor) -> Tensor:
        """Sent tokens (B, M) -> full tokens (B, M * keep): kept bits in place, the others at their fill value,
        each token repeated ``keep`` times."""
        bits = torch.div(toks[..., None], self.kept_weights, rounding_mode="floor") % 2
        full = (bits * self.weights[self.kept]).sum(-1) + self.fill_value
        return full.repeat_interleave(self.keep, dim=-1)

    def sig_to_toks(self, sig: Tensor, encoder_state=(), compressor_state=(), length=None, return_state=False):
        """As ``FocalCodec.sig_to_toks``, giving the sent tokens. Streaming: every call but the last brings whole
        chunks, so every group starts in the call that holds it."""
        toks, encoder_state, compressor_state = self.codec.sig_to_toks(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.reduce(toks)
        return (toks, encoder_state, compressor_state) if return_state else toks

    def toks_to_sig(
        self, toks: Tensor, decompressor_state=(), decoder_state=(), output_length=None, return_state=False
    ):
        """As ``FocalCodec.toks_to_sig`` (no kNN), from sent tokens."""
        return self.codec.toks_to_sig(
            self.expand(toks), decompressor_state, decoder_state, output_length=output_length, return_state=return_state
        )

    def extra_repr(self) -> str:
        return f"preset={self.preset.name}, kept_bits={self.kept.tolist()}, bitrate={self.bitrate:g}"


def with_posthoc(codec: nn.Module, preset: str, choice: Optional[BitChoice] = None) -> PosthocCodec:
    """``codec`` behind the post-hoc bottleneck ``preset``; ``choice`` is required by bit-subset presets.

    Raises
    ------
    PosthocError
        An unknown preset, one that does not apply to the codec (another frame rate, a bitrate not below the
        codec's, a keep factor that splits a streaming chunk), or a bit-subset preset without a matching choice.
    """
    parsed = parse_preset(preset)
    check_preset(parsed, codec)
    if parsed.bits is None:
        choice = None
    elif choice is None:
        raise PosthocError(f"post-hoc preset {preset} keeps {parsed.bits} bits: calibrate the bit choice first")
    elif len(choice.kept) != parsed.bits or len(choice.fill) != codec.latent_dim:
        raise PosthocError(
            f"post-hoc preset {preset}: the bit choice keeps {len(choice.kept)} of {len(choice.fill)} bits, "
            f"not {parsed.bits} of {codec.latent_dim}"
        )
    device = next(codec.parameters()).device
    return PosthocCodec(codec, parsed, choice).to(device)
