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
  other CPUs it may be the other way round;
* convolutions as matrix products in time-major layout, with re-laid-out weights cached on the module.

Which kernel runs is measured per operator shape on the machine that runs (``fcodec.models.kernel_choice``):
a fast kernel is kept only where it beat the plain PyTorch op. Both compute the same fp32 dot products; only
the summation order differs (relative differences ~1e-7). ``FCODEC_FAST_KERNELS=0`` forces the plain ops.
Modules quantised by ``fcodec.models.int8`` run their int8 GEMMs instead (``relaid_linear``).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import int8, kernel_choice

__all__ = [
    "cached_weight",
    "linear",
    "apply_linear",
    "relaid_linear",
    "inference_path",
    "rows_class",
    "measured",
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
_PLAIN_LAYERS = (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)
FEW_ROWS = 64  # up to this many rows a GEMM is a streaming call (4 frames per chunk and stream)
TRIAL_ROWS = (4, 256)  # a linear layer's kernel is measured on a streaming call's rows and an offline call's


def fast_kernels_enabled() -> bool:
    # inside torch.compile the plain ops: the compiler fuses them itself and cannot trace the measurements
    return kernel_choice.mode() != "plain" and not torch.compiler.is_compiling()


def _records_graph(*tensors: Optional[Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _global_hooks() -> bool:
    modules = nn.modules.module
    return bool(getattr(modules, "_global_forward_hooks", None) or getattr(modules, "_global_forward_pre_hooks", None))


def inference_path(layer: nn.Module, x: Tensor) -> bool:
    """Whether ``layer`` may be computed from its weights (``linear``, a conv as a GEMM) instead of being called
    for input ``x``: at inference only, see the module doc."""
    if type(layer) not in _PLAIN_LAYERS or layer._forward_hooks or layer._forward_pre_hooks or _global_hooks():
        return False
    if torch.compiler.is_compiling():  # train.compile's codec pass: its frozen encoder traced as plain modules
        return False
    if layer.training and torch.is_grad_enabled():
        return False
    return not _records_graph(x, layer.weight, layer.bias)


def rows_class(rows: int) -> str:
    """The rows of a GEMM as a measurement key: 'few' (streaming calls) or 'many' (offline)."""
    return "few" if rows <= FEW_ROWS else "many"


def measured(
    op: str,
    shape: str,
    x: Tensor,
    fast: Callable[[Tensor], Tensor],
    plain: Callable[[Tensor], Tensor],
    trial: Optional[Tensor] = None,
) -> Tensor:
    """``fast(x)`` where the measurement for (``op``, ``shape``) found it faster than ``plain(x)``, else
    ``plain(x)``; a first measurement runs both on ``trial`` (default ``x``)."""
    sample = x if trial is None else trial
    choice = kernel_choice.choose(
        op, shape, lambda: {kernel_choice.PLAIN: lambda: plain(sample), "fast": lambda: fast(sample)}
    )
    return fast(x) if choice == "fast" else plain(x)


def _plain_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> Tensor:
    out = F.linear(x, weight, bias)
    return F.gelu(out) if apply_gelu else out


def _onednn_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> Tensor:
    if apply_gelu:
        return _ONEDNN_LINEAR(x, weight, bias, "gelu", [], "none")
    return _ONEDNN_LINEAR(x, weight, bias, "none", [], "")


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, apply_gelu: bool = False) -> Tensor:
    """``F.linear`` (optionally followed by exact GELU); at inference time on CPU through oneDNN where that
    measured faster for this weight. Falls back to ``F.linear`` whenever autograd records a graph.

    One kernel per weight, whatever the input's row count: a row's result then never depends on which other
    rows share the call (a cut decodes to the same bytes alone or in any batch). oneDNN is kept only if it was
    faster both for the few rows of a streaming call and for the many rows of an offline one."""
    usable = (
        _ONEDNN_LINEAR is not None
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and (bias is None or bias.dtype == torch.float32)
        and x.dim() >= 2
        and x.numel() > 0
        and not _records_graph(x, weight, bias)
        and fast_kernels_enabled()
    )
    if usable:
        key = (kernel_choice.generation(), weight.shape[1], weight.shape[0], apply_gelu, bias is None)
        usable = _ONEDNN_FASTER.get(key)
        if usable is None:
            shape = (
                f"{weight.shape[1]}->{weight.shape[0]}"
                + (" gelu" if apply_gelu else "")
                + ("" if bias is not None else " nobias")
            )
            usable = _ONEDNN_FASTER[key] = all(
                _onednn_measured_faster(shape, rows, weight, bias, apply_gelu) for rows in TRIAL_ROWS
            )
    if usable:
        return _onednn_linear(x, weight, bias, apply_gelu)
    return _plain_linear(x, weight, bias, apply_gelu)


_ONEDNN_FASTER: Dict[tuple, bool] = {}  # the decisions this process uses, without string keys on every call


def _onednn_measured_faster(shape: str, rows: int, weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> bool:
    def kernels():
        trial = torch.randn(rows, weight.shape[1], generator=torch.Generator().manual_seed(0))
        return {
            kernel_choice.PLAIN: lambda: _plain_linear(trial, weight, bias, apply_gelu),
            "onednn": lambda: _onednn_linear(trial, weight, bias, apply_gelu),
        }

    return kernel_choice.choose("linear", f"{rows}x{shape}", kernels) == "onednn"


def apply_linear(layer: nn.Module, x: Tensor, apply_gelu: bool = False) -> Tensor:
    """``layer(x)`` (then exact GELU if asked); at inference time the fast ``linear`` may run instead."""
    if inference_path(layer, x):
        return linear(x, layer.weight, layer.bias, apply_gelu)
    out = layer(x)
    return F.gelu(out) if apply_gelu else out


def relaid_linear(
    owner: nn.Module, name: str, x: Tensor, make: Callable[[Tensor], Tensor], bias: Optional[Tensor] = None
) -> Tensor:
    """``linear(x, make(owner.weight), bias)``: a layer computed as a GEMM with a re-laid-out weight (cached);
    with the owner quantised to int8 (``fcodec.models.int8``), the int8 GEMM of that weight."""
    if int8.is_quantized(owner):
        return int8.relaid_linear(owner, name, x, make, bias)
    return linear(x, cached_weight(owner, name, owner.weight, make), bias)


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
        x = apply_linear(self.in_proj, x, apply_gelu=True)
        x = self.dropout(x)
        x = apply_linear(self.out_proj, x)
        return self.dropout(x)
