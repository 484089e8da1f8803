"""The measured fast linear kernels: oneDNN GEMMs (GELU fused, weights pre-reordered) and the cached re-laid-out
weights, used at inference time where they beat the plain PyTorch op on the machine that runs.

The rules (when a layer is called as a module instead, why oneDNN, how a kernel is chosen) are in
:mod:`fcodec.models.common`, which re-exports these names.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import int8, kernel_choice


def _find_onednn_linear():
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):  # older torch or a build without oneDNN
        return None


def _find_onednn_reorder():
    try:
        return torch.ops.mkldnn._reorder_linear_weight
    except (AttributeError, RuntimeError):
        return None


_ONEDNN_LINEAR = _find_onednn_linear() if torch.backends.mkldnn.is_available() else None
_ONEDNN_REORDER = _find_onednn_reorder() if _ONEDNN_LINEAR is not None else None
PACK_ROWS = 4  # the row count oneDNN's blocked weight layout is prepared for: a streaming chunk's frames
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
    if torch.onnx.is_in_onnx_export():  # fcodec.export: the fast kernels (oneDNN, as_strided views) do not export
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
    ``plain(x)``; a first measurement runs both on ``trial`` (default ``x``). Off the CPU the plain op runs:
    the timings (host clocks, no device sync) and the cache (keyed by the CPU) are for CPU kernels."""
    if x.device.type != "cpu":
        return plain(x)
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


class LinearPlan(NamedTuple):
    """How ``linear`` computes one weight's products, as measured (see the module doc)."""

    onednn: bool  # oneDNN instead of F.linear, for every row count (the same dot products whatever the rows)
    packed_few: bool  # oneDNN from the reordered weight for streaming-sized calls (``rows_class`` 'few') ...
    packed_many: bool  # ... and for longer ones; bit-identical to the plain layout, so chosen per row class


_PLAIN_PLAN = LinearPlan(False, False, False)


def linear(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    apply_gelu: bool = False,
    packed: Optional[Callable[[], Tensor]] = None,
) -> Tensor:
    """``F.linear`` (optionally followed by exact GELU); at inference time on CPU through oneDNN where that
    measured faster for this weight. Falls back to ``F.linear`` whenever autograd records a graph.

    One kernel family per weight, whatever the input's row count: a row's result then never depends on which
    other rows share the call (a cut decodes to the same bytes alone or in any batch). oneDNN is kept only if it
    was faster both for the few rows of a streaming call and for the many rows of an offline one. ``packed``
    (a call returning the weight reordered by ``reorder_for_onednn``, cached by the caller) lets oneDNN read
    the reordered weight where that measured faster than the plain layout."""
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
    plan = linear_plan(weight, bias, apply_gelu) if usable else _PLAIN_PLAN
    if not plan.onednn:
        return _plain_linear(x, weight, bias, apply_gelu)
    if packed is not None and (plan.packed_few if rows_class(x.numel() // x.shape[-1]) == "few" else plan.packed_many):
        return _onednn_linear(x, packed(), bias, apply_gelu)
    return _onednn_linear(x, weight, bias, apply_gelu)


_LINEAR_PLANS: Dict[tuple, LinearPlan] = {}  # the decisions this process uses, without string keys on every call


def linear_plan(weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> LinearPlan:
    """The measured (or cached) ``LinearPlan`` for a weight of this shape (measured on first use)."""
    key = (kernel_choice.generation(), weight.shape[1], weight.shape[0], apply_gelu, bias is None)
    plan = _LINEAR_PLANS.get(key)
    if plan is None:
        shape = (
            f"{weight.shape[1]}->{weight.shape[0]}"
            + (" gelu" if apply_gelu else "")
            + ("" if bias is not None else " nobias")
        )
        onednn = all(_onednn_measured_faster(shape, rows, weight, bias, apply_gelu) for rows in TRIAL_ROWS)
        few, many = (
            (_packed_measured_faster(shape, rows, weight, bias, apply_gelu) for rows in TRIAL_ROWS)
            if onednn and _ONEDNN_REORDER is not None
            else (False, False)
        )
        plan = _LINEAR_PLANS[key] = LinearPlan(onednn, few, many)
    return plan


def _trial_input(rows: int, width: int) -> Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(0))


def _onednn_measured_faster(shape: str, rows: int, weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> bool:
    def kernels():
        trial = _trial_input(rows, weight.shape[1])
        return {
            kernel_choice.PLAIN: lambda: _plain_linear(trial, weight, bias, apply_gelu),
            "onednn": lambda: _onednn_linear(trial, weight, bias, apply_gelu),
        }

    return kernel_choice.choose("linear", f"{rows}x{shape}", kernels) == "onednn"


def _packed_measured_faster(shape: str, rows: int, weight: Tensor, bias: Optional[Tensor], apply_gelu: bool) -> bool:
    """Whether oneDNN from the reordered weight beat oneDNN from the plain one (the baseline here)."""

    def kernels():
        trial, reordered = _trial_input(rows, weight.shape[1]), reorder_for_onednn(weight.detach())
        return {
            kernel_choice.PLAIN: lambda: _onednn_linear(trial, weight, bias, apply_gelu),
            "reordered": lambda: _onednn_linear(trial, reordered, bias, apply_gelu),
        }

    return kernel_choice.choose("linear_onednn_layout", f"{rows}x{shape}", kernels) == "reordered"


def reorder_for_onednn(weight: Tensor) -> Tensor:
    """An ``(out, in)`` fp32 weight in oneDNN's blocked layout for ``PACK_ROWS``-row products (an opaque
    oneDNN tensor that only ``mkldnn._linear_pointwise`` reads)."""
    return _ONEDNN_REORDER(weight.detach().contiguous(), PACK_ROWS)


def _packed_weight(owner: nn.Module, name: str, param: Tensor, make: Callable[[Tensor], Tensor]):
    """A call returning ``reorder_for_onednn(make(param))``, cached on ``owner`` (see ``cached_weight``)."""
    if _ONEDNN_REORDER is None:
        return None
    return lambda: cached_weight(owner, name + "/onednn_reordered", param, lambda w: reorder_for_onednn(make(w)))


def apply_linear(layer: nn.Module, x: Tensor, apply_gelu: bool = False) -> Tensor:
    """``layer(x)`` (then exact GELU if asked); at inference time the fast ``linear`` may run instead."""
    if inference_path(layer, x):
        packed = _packed_weight(layer, "weight", layer.weight, lambda w: w)
        return linear(x, layer.weight, layer.bias, apply_gelu, packed)
    out = layer(x)
    return F.gelu(out) if apply_gelu else out


def relaid_linear(
    owner: nn.Module, name: str, x: Tensor, make: Callable[[Tensor], Tensor], bias: Optional[Tensor] = None
) -> Tensor:
    """``linear(x, make(owner.weight), bias)``: a layer computed as a GEMM with a re-laid-out weight (cached);
    with the owner quantised to int8 (``fcodec.models.int8``), the int8 GEMM of that weight."""
    if int8.is_quantized(owner):
        return int8.relaid_linear(owner, name, x, make, bias)
    packed = _packed_weight(owner, name, owner.weight, make)
    return linear(x, cached_weight(owner, name, owner.weight, make), bias, packed=packed)


class WeightCache(dict):
    """Re-laid-out weights kept on a module (name -> (parameter key, weight)): derived data, so a copy of the
    module starts without them (oneDNN's reordered weights are opaque tensors that cannot be deep-copied or
    pickled, and a copy's parameters live elsewhere anyway)."""

    def __deepcopy__(self, memo) -> "WeightCache":
        return WeightCache()

    def __reduce__(self):
        return (WeightCache, ())


def cached_weight(owner: nn.Module, name: str, param: Tensor, make: Callable[[Tensor], Tensor]) -> Tensor:
    """``make(param)`` (a re-laid-out copy of a weight), cached on ``owner`` while ``param`` is unchanged.

    Convs computed as GEMMs need their weights in another layout; re-laying them out on every call costs a copy
    of the whole weight (29 MB per 80 ms chunk for the decoder's embedding conv). The cache is keyed on the
    parameter's storage and version counter, so optimizer steps and ``load_state_dict`` invalidate it, and it is
    bypassed whenever autograd records a graph. It lives outside the state dict, and copies of the module
    (``copy.deepcopy``, pickling) start without it.
    """
    if torch.is_grad_enabled() and param.requires_grad:
        return make(param)
    key = (param.data_ptr(), param._version, param.dtype, param.device, tuple(param.shape))
    cache = owner.__dict__.setdefault("_fcodec_weight_cache", WeightCache())
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make(param.detach())
    if value.layout == torch.strided:  # not an opaque oneDNN weight
        value = value.contiguous()
    cache[name] = (key, value)
    return value
