"""Building blocks shared by the codec modules: fast inference matmuls, causal padding, convs as GEMMs.

Everything here works on time-major tensors ``(batch, time, channels)``, the layout the modules exchange.

Why a custom linear: on x86 CPUs PyTorch's fp32 ``F.linear`` goes through MKL, which on the AMD CPUs we
measured reaches only about half the GEMM throughput of oneDNN and a quarter of its memory bandwidth for the
few-row products of streaming (4 frames per call). ``linear`` therefore routes inference-time products through
oneDNN's ``mkldnn._linear_pointwise`` (optionally with the GELU fused into the GEMM), and falls back to
``F.linear`` whenever autograd needs the graph, on other devices and dtypes, or when the op is missing.
Both compute the same fp32 dot products; only the summation order differs (relative differences ~1e-7).
Set ``FCODEC_FAST_KERNELS=0`` to force the plain PyTorch path.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "cached_weight",
    "linear",
    "gelu",
    "fast_kernels_enabled",
    "pad_time",
    "pad_channels_first",
    "causal_left",
    "conv1d_time_major",
    "FeedForward",
]


def _find_onednn_linear():
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):  # older torch or a build without oneDNN
        return None


_ONEDNN_LINEAR = _find_onednn_linear() if torch.backends.mkldnn.is_available() else None


def fast_kernels_enabled() -> bool:
    return _ONEDNN_LINEAR is not None and os.environ.get("FCODEC_FAST_KERNELS", "1") != "0"


def _can_use_onednn(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> bool:
    if not fast_kernels_enabled():
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return False
    if bias is not None and bias.dtype != torch.float32:
        return False
    # oneDNN's op has no backward: keep autograd's path whenever a graph is being recorded
    if torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        return False
    return x.dim() >= 2 and x.numel() > 0


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, apply_gelu: bool = False) -> Tensor:
    """``F.linear`` (optionally followed by exact GELU), through oneDNN at inference time on CPU."""
    if _can_use_onednn(x, weight, bias):
        if apply_gelu:
            return _ONEDNN_LINEAR(x, weight, bias, "gelu", [], "none")
        return _ONEDNN_LINEAR(x, weight, bias, "none", [], "")
    out = F.linear(x, weight, bias)
    return F.gelu(out) if apply_gelu else out


def cached_weight(owner: nn.Module, name: str, param: Tensor, make: Callable[[Tensor], Tensor]) -> Tensor:
    """``make(param)`` (a re-laid-out copy of a weight), cached on ``owner`` while ``param`` is unchanged.

    Convs computed as GEMMs need their weights in another layout; re-laying them out on every call costs a copy
    of the whole weight (29 MB per 80 ms chunk for the decoder's embedding conv). The cache is keyed on the
    parameter's storage and version counter, so optimizer steps and ``load_state_dict`` invalidate it, and it is
    bypassed whenever autograd records a graph. It lives outside the state dict.
    """
    if torch.is_grad_enabled() and param.requires_grad:
        return make(param)
    key = (param.data_ptr(), param._version, param.dtype, param.device, tuple(param.shape))
    cache = owner.__dict__.setdefault("_fcodec_weight_cache", {})
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make(param.detach()).contiguous()
    cache[name] = (key, value)
    return value


def gelu(x: Tensor) -> Tensor:
    """Exact (erf) GELU, the only kind the codec uses."""
    return F.gelu(x)


def pad_time(
    x: Tensor,
    pad: int,
    tail: Optional[Tensor],
    mode: str = "replicate",
) -> Tuple[Tensor, Optional[Tensor]]:
    """Causal left padding of a time-major ``(B, T, C)`` tensor, with streaming state.

    On the first call of a stream (``tail is None``) ``pad`` frames are prepended, either copies of the first
    frame (``"replicate"``) or zeros (``"zeros"``); on later calls the ``pad`` frames saved from the previous
    call are prepended instead. Returns the padded tensor and the new tail: its last ``pad`` frames.
    """
    if pad == 0:
        return x, None
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
    tail: Optional[Tensor],
    mode: str = "replicate",
) -> Tuple[Tensor, Optional[Tensor]]:
    """``pad_time`` for channels-first ``(B, C, T)`` tensors; the tail is ``(B, C, pad)``."""
    if pad == 0:
        return x, None
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

    Computed as one GEMM over the (overlapping) input frames, which keeps the time-major layout, avoids the
    transposes a channels-first conv needs and runs at GEMM speed. ``left`` (``(B, p, C_in)``), if given, is
    logically prepended to ``x`` (causal padding) without copying ``x`` into a padded tensor first. The output is
    ``(B, T_out, C_out)`` with ``T_out = (p + T - k) // stride + 1``.
    """
    out_dim, in_dim, kernel = conv.weight.shape
    if x.shape[-1] != in_dim:
        raise ValueError(f"conv expects {in_dim} input channels, got {x.shape[-1]}")
    pad = 0 if left is None else left.shape[1]
    time = pad + x.shape[1]
    if time < kernel:
        raise ValueError(f"conv with kernel {kernel} needs at least {kernel} frames, got {time}")
    out_time = (time - kernel) // stride + 1
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
    weight = cached_weight(conv, "time_major", conv.weight,
                           lambda w: w.permute(0, 2, 1).reshape(out_dim, kernel * in_dim))
    return linear(frames, weight, conv.bias)


def _frames(x: Tensor, count: int, stride: int, kernel: int) -> Tensor:
    """The first ``count`` frames of ``kernel`` steps, ``stride`` apart, of a time-major tensor, as a view."""
    x = x.contiguous()
    batch, _, dim = x.shape
    if kernel == stride:
        return x[:, : count * stride].reshape(batch, count, kernel * dim)
    return x.as_strided((batch, count, kernel * dim), (x.stride(0), stride * dim, 1))


def causal_left(x: Tensor, pad: int, tail: Optional[Tensor], mode: str) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """What causal padding prepends to time-major ``x`` (the tail, or replicate/zeros on the first call) and the
    new tail (last ``pad`` frames of the padded input), without building the padded tensor."""
    if pad == 0:
        return None, None
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
        x = linear(x, self.in_proj.weight, self.in_proj.bias, apply_gelu=True)
        x = self.dropout(x)
        x = linear(x, self.out_proj.weight, self.out_proj.bias)
        return self.dropout(x)
