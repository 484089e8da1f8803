"""Building blocks shared by the codec modules: layer calls with inference-time fast paths, causal padding,
convs as GEMMs.

Everything here works on time-major tensors ``(batch, time, channels)``, the layout the modules exchange.

Layers are called as modules (``layer(x)``) whenever anything may watch or change them: while autograd records
(training), in training mode, inside ``torch.compile`` (``train.compile``: the compiler fuses plain ops itself),
when the layer has forward hooks (or global module hooks are set), and when it is not a plain ``nn.Linear`` /
``nn.Conv1d`` / ``nn.ConvTranspose1d`` (an adapter wrapping it, a parametrised or a quantised layer). Otherwise,
at inference time, the fast kernels may run instead of the module:

* ``linear``: oneDNN's ``mkldnn._linear_pointwise`` (optionally with the GELU fused into the GEMM) instead of
  ``F.linear``. On the AMD CPUs we measured, PyTorch's fp32 ``F.linear`` goes through MKL, which reaches about
  half oneDNN's GEMM throughput and a quarter of its memory bandwidth for the few-row products of streaming; on
  other CPUs it may be the other way round. oneDNN may also get its weight pre-reordered into its blocked
  layout (``mkldnn._reorder_linear_weight``, cached per layer): streaming reads every weight once per chunk,
  and from a plain row-major weight oneDNN's few-row GEMM streams memory at about 18 GB/s where the reordered
  weight reaches 29 GB/s, the machine's read bandwidth (4 x 4096 -> 1024 over 1 GB of distinct weights, AMD
  EPYC Zen 4, 2 threads). The reordered weight gives bit-identical results (same kernel, other layout); it is
  a second copy of the weight in memory;
* convolutions as matrix products in time-major layout, with re-laid-out weights cached on the module.

Which kernel runs is measured per operator shape on the machine that runs (``fcodec.models.kernel_choice``):
a fast kernel is kept only where it beat the plain PyTorch op. Both compute the same fp32 dot products; only
the summation order differs (relative differences ~1e-7). ``FCODEC_FAST_KERNELS=0`` forces the plain ops.
Modules quantised by ``fcodec.models.int8`` run their int8 GEMMs instead (``relaid_linear``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import int8
from fcodec.models.export_forms import MAX_WINDOWS, conv_matmul, depthwise_conv_matmul, exporting_fixed_shapes
from fcodec.models.fast_linear import (  # the fast kernels, re-exported: the modules import them from here
    LinearPlan,
    apply_linear,
    cached_weight,
    fast_kernels_enabled,
    inference_path,
    linear,
    linear_plan,
    measured,
    relaid_linear,
    reorder_for_onednn,
    rows_class,
)

__all__ = [
    "cached_weight",
    "linear",
    "linear_plan",
    "LinearPlan",
    "reorder_for_onednn",
    "apply_linear",
    "relaid_linear",
    "inference_path",
    "rows_class",
    "measured",
    "gelu",
    "fast_kernels_enabled",
    "FreshOrTail",
    "Tail",
    "pad_time",
    "pad_channels_first",
    "causal_left",
    "conv1d_time_major",
    "depthwise_conv",
    "FeedForward",
]


def gelu(x: Tensor) -> Tensor:
    """Exact (erf) GELU, the only kind the codec uses."""
    return F.gelu(x)


@dataclass(frozen=True)
class FreshOrTail:
    """The tails of a batch of independent streams of which some start now.

    Rows where ``fresh`` (``(B,)`` bool) is set are padded as the first call of a stream pads them (copies of
    their first frame, or zeros), the others continue from ``tail``. The shapes do not depend on which rows
    start, so one batched step serves streams that joined at different chunks (``fcodec.infer.multistream``)
    and can be captured as a CUDA graph. ``pad_time``, ``pad_channels_first`` and ``causal_left`` accept it
    wherever they accept a tail.
    """

    tail: Tensor
    fresh: Tensor

    def resolve(self, first_call: Tensor) -> Tensor:
        """The tail of each row: ``first_call`` (the first call's padding, one frame broadcast along time) for
        fresh rows, else ``tail``."""
        fresh = self.fresh.view(-1, *([1] * (first_call.dim() - 1)))
        return torch.where(fresh, first_call, self.tail.to(first_call.dtype))


Tail = Union[Tensor, FreshOrTail, None]


def _first_call_left(x: Tensor, pad: int, mode: str, time_dim: int) -> Tensor:
    """What the first call of a stream prepends to ``x`` along ``time_dim`` (``pad`` copies of the first frame,
    or zeros) as one frame, for ``FreshOrTail.resolve`` to broadcast: an expanded copy would be a tensor of its
    own in an exported graph (onnxruntime's ``Expand`` then ``Where`` cost 2.5 times the broadcasting ``Where``)."""
    if mode == "replicate":
        return x.narrow(time_dim, 0, 1)
    if mode == "zeros":
        shape = list(x.shape)
        shape[time_dim] = 1
        return x.new_zeros(shape)
    raise ValueError(f"unknown pad mode {mode!r}")


def pad_time(
    x: Tensor,
    pad: int,
    tail: Tail,
    mode: str = "replicate",
) -> Tuple[Tensor, Optional[Tensor]]:
    """Causal left padding of a time-major ``(B, T, C)`` tensor, with streaming state.

    On the first call of a stream (``tail is None``) ``pad`` frames are prepended, either copies of the first
    frame (``"replicate"``) or zeros (``"zeros"``); on later calls the ``pad`` frames saved from the previous
    call are prepended instead (a ``FreshOrTail`` mixes the two per row). Returns the padded tensor and the new
    tail: its last ``pad`` frames.
    """
    if pad == 0:
        return x, None
    if isinstance(tail, FreshOrTail):
        tail = tail.resolve(_first_call_left(x, pad, mode, 1))
    if tail is not None:
        x = torch.cat([tail.to(x.dtype), x], dim=1)
    elif mode == "replicate":
        x = torch.cat([x[:, :1].expand(-1, pad, -1), x], dim=1)
    elif mode == "zeros":
        x = F.pad(x, (0, 0, pad, 0))
    else:
        raise ValueError(f"unknown pad mode {mode!r}")
    # clone so that a state never aliases a tensor the caller may modify
    return x, x[:, -pad:].clone()


def pad_channels_first(
    x: Tensor,
    pad: int,
    tail: Tail,
    mode: str = "replicate",
) -> Tuple[Tensor, Optional[Tensor]]:
    """``pad_time`` for channels-first ``(B, C, T)`` tensors; the tail is ``(B, C, pad)``."""
    if pad == 0:
        return x, None
    if isinstance(tail, FreshOrTail):
        tail = tail.resolve(_first_call_left(x, pad, mode, 2))
    if tail is not None:
        x = torch.cat([tail.to(x.dtype), x], dim=-1)
    elif mode == "replicate":
        x = torch.cat([x[..., :1].expand(-1, -1, pad), x], dim=-1)
    elif mode == "zeros":
        x = F.pad(x, (pad, 0))
    else:
        raise ValueError(f"unknown pad mode {mode!r}")
    return x, x[..., -pad:].clone()


def conv1d_time_major(x: Tensor, conv: nn.Conv1d, stride: int, left: Optional[Tensor] = None) -> Tensor:
    """Dense ``Conv1d`` (no padding, no dilation, one group) of a time-major ``(B, T, C_in)`` input.

    At inference time computed as one GEMM over the (overlapping) input frames (through ``linear``, whose kernel
    is measured): it keeps the time-major layout, avoids the transposes a channels-first conv needs, and keeps
    each frame's result independent of the batch (PyTorch's conv does not: its algorithm depends on the input's
    shape, so a cut decoded in another batch would differ in the last bits).
    ``left`` (``(B, p, C_in)``), if given, is logically prepended to ``x`` (causal padding) without copying
    ``x`` into a padded tensor first. The output is ``(B, T_out, C_out)`` with ``T_out = (p + T - k) // stride
    + 1``. In training (see ``inference_path``) the conv module itself is called.
    """
    out_dim, in_dim, kernel = conv.weight.shape
    if x.shape[-1] != in_dim:
        raise ValueError(f"conv expects {in_dim} input channels, got {x.shape[-1]}")
    pad = 0 if left is None else left.shape[1]
    time = pad + x.shape[1]
    if time < kernel:
        raise ValueError(f"conv with kernel {kernel} needs at least {kernel} frames, got {time}")
    if tuple(conv.stride) != (stride,):
        raise ValueError(f"conv1d_time_major got stride {stride} for {conv}")
    if exporting_fixed_shapes() and (time - kernel) // stride + 1 <= MAX_WINDOWS:
        return conv_matmul(x, conv, stride, left)
    if int8.is_quantized(conv) or inference_path(conv, x):
        return _conv_as_gemm(x, conv, stride, left)
    if conv.padding not in ((0,), 0, "valid"):  # the caller padded x already
        raise ValueError(f"conv1d_time_major calls the module {conv}, which must not pad")
    padded = x if left is None else torch.cat([left.to(x.dtype), x], dim=1)
    return conv(padded.transpose(1, 2)).transpose(1, 2)


def _conv_as_gemm(x: Tensor, conv: nn.Conv1d, stride: int, left: Optional[Tensor]) -> Tensor:
    out_dim, in_dim, kernel = conv.weight.shape
    pad = 0 if left is None else left.shape[1]
    out_time = (pad + x.shape[1] - kernel) // stride + 1
    # frame t covers (left + x)[t*stride : t*stride + kernel]: kernel*in_dim contiguous values of a time-major
    # tensor; frames that lie inside x are strided views of x, only the first few also need ``left``
    first_inside = -(-pad // stride)  # ceil(pad / stride)
    pieces = []
    if first_inside > 0:
        head_len = (min(first_inside, out_time) - 1) * stride + kernel - pad
        head = torch.cat([left.to(x.dtype), x[:, :head_len]], dim=1)
        pieces.append(_frames(head, min(first_inside, out_time), stride, kernel))
    if out_time > first_inside:
        body = x[:, first_inside * stride - pad :]
        pieces.append(_frames(body, out_time - first_inside, stride, kernel))
    frames = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
    # (C_out, C_in, k) -> (C_out, k, C_in) so that the flattened order matches the frames
    return relaid_linear(
        conv, "time_major", frames, lambda w: w.permute(0, 2, 1).reshape(out_dim, kernel * in_dim), conv.bias
    )


def _frames(x: Tensor, count: int, stride: int, kernel: int) -> Tensor:
    """The first ``count`` frames of ``kernel`` steps, ``stride`` apart, of a time-major tensor, as a view."""
    x = x.contiguous()
    batch, _, dim = x.shape
    if kernel == stride:
        return x[:, : count * stride].reshape(batch, count, kernel * dim)
    return x.as_strided((batch, count, kernel * dim), (x.stride(0), stride * dim, 1))


def depthwise_conv(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv(x)`` for an unpadded depthwise conv (one group per channel) of a channels-first ``(B, C, T + k - 1)``
    input. At inference time, for the few frames of a streaming call, possibly as one batched matrix-vector
    product over the input windows instead (measured: PyTorch's depthwise conv carries a fixed cost per call
    that dominates for 4 output frames; for long inputs it is the faster one and is kept)."""
    kernel = conv.kernel_size[0]
    out_time = x.shape[-1] - kernel + 1
    plain_depthwise = (
        conv.groups == conv.in_channels == conv.out_channels
        and conv.padding in ((0,), 0, "valid")
        and tuple(conv.stride) == (1,)
        and tuple(conv.dilation) == (1,)
    )
    if plain_depthwise and exporting_fixed_shapes() and out_time <= MAX_WINDOWS:
        return depthwise_conv_matmul(conv, x)
    if not plain_depthwise or not inference_path(conv, x) or out_time < 1 or rows_class(x.shape[0] * out_time) != "few":
        return conv(x)

    def windows(t: Tensor) -> Tensor:
        batch, channels, _ = t.shape
        frames = t.unfold(-1, kernel, 1).transpose(0, 1).reshape(channels, batch * out_time, kernel)
        weight = cached_weight(conv, "depthwise", conv.weight, lambda w: w.reshape(channels, kernel, 1))
        y = torch.bmm(frames, weight).view(channels, batch, out_time).transpose(0, 1)
        return y if conv.bias is None else y + conv.bias[:, None]

    shape = f"fewx{x.shape[1]}*{kernel}"
    return measured("depthwise_conv1d", shape, x, windows, conv)


def causal_left(x: Tensor, pad: int, tail: Tail, mode: str) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """What causal padding prepends to time-major ``x`` (the tail, or replicate/zeros on the first call; a
    ``FreshOrTail`` per row) and the new tail (last ``pad`` frames of the padded input), without building the
    padded tensor."""
    if pad == 0:
        return None, None
    if isinstance(tail, FreshOrTail):
        tail = tail.resolve(_first_call_left(x, pad, mode, 1))
    if tail is not None:
        left = tail.to(x.dtype)
    elif mode == "replicate":
        left = x[:, :1].expand(-1, pad, -1)
    elif mode == "zeros":
        left = x.new_zeros(x.shape[0], pad, x.shape[2])
    else:
        raise ValueError(f"unknown pad mode {mode!r}")
    if x.shape[1] >= pad:
        new_tail = x[:, x.shape[1] - pad :].clone()
    else:
        new_tail = torch.cat([left, x], dim=1)[:, -pad:].clone()
    return left, new_tail


class FeedForward(nn.Module):
    """``in_proj -> GELU -> dropout -> out_proj -> dropout`` (keys ``in_proj.*``, ``out_proj.*``)."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, ffn_dim)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(ffn_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = apply_linear(self.in_proj, x, apply_gelu=True)
        x = self.dropout(x)
        x = apply_linear(self.out_proj, x)
        return self.dropout(x)
