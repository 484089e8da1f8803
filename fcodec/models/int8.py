"""Dynamic int8 inference on CPU: int8 weights, activations quantised per call (``FocalCodec.quantize("int8")``).

Every ``nn.Linear`` becomes an ``Int8Linear``, and the convolutions the codec computes as matrix products (the
pointwise context convs, the strided down-scaling convs, the decoder's embedding conv, the up-scaling transposed
convs, the WavLM front-end convs after the first) run the int8 GEMM of their re-laid-out weight
(``fast_linear.relaid_linear``). Left in fp32: the depthwise and grouped convs (small, not GEMMs), the first WavLM
conv (raw audio, one input channel), norms, attention, and what the caller names in ``keep_float``
(``FocalCodec.quantize`` keeps the WavLM front-end convs and the compressor's output layer: see there).

Weights are quantised symmetrically per output channel. Activations are quantised per row (per frame): each
row is scaled to a maximum magnitude of 1 and the int8 GEMM is PyTorch's own dynamic quantised linear
(``quantized::linear_dynamic``, fbgemm / oneDNN). That op picks one activation scale per call from the input's
range; a guard row pins the range, so every call uses the same scale and a frame's result does not depend on
which other frames (a streaming chunk, the whole signal, other cuts of a batch) share the call: streaming still
equals offline, and batched decoding equals decoding alone. Measured on an AMD EPYC (Zen 4) with 1 thread:
4 x 4096 -> 4096 takes 0.56 ms this way (0.39 ms with the op's own per-call scale, 9 ms in fp32 oneDNN;
``torch._int_mm`` with per-row scales 2.9 ms, ``torch._weight_int8pack_mm`` far slower). The activations use
the 7-bit range PyTorch's x86 default uses, so that AVX2's 16-bit accumulating multiply-adds cannot saturate.

Why: streaming reads every weight once per 80 ms chunk (about 1 GB in fp32 for the full model) and is memory
bound; int8 weights are a quarter of that, and the int8 GEMMs of long inputs are faster too. A quantised model
is for inference only (no gradients, not saved).
"""

from __future__ import annotations

import warnings
from typing import Callable, Dict, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["Int8Linear", "pack", "quantize", "is_quantized", "relaid_linear", "MODES"]

MODES = ("int8",)
REDUCE_RANGE = True  # 7-bit activations: exact on every x86 kernel (see the module doc)
_MARK = "_fcodec_int8"  # attribute of a conv module whose GEMM runs in int8: {layout name: (key, packed)}


class Packed(NamedTuple):
    weight: object  # PyTorch's packed int8 weight (no bias: it is added after the row scales)
    bias: Optional[Tensor]


def pack(weight: Tensor, bias: Optional[Tensor]) -> Packed:
    """A ``(out, in)`` fp32 weight (and bias) as an int8 GEMM's parameters, per-channel scales."""
    weight = weight.detach().float().contiguous()
    scales = (weight.abs().amax(dim=1).clamp(min=1e-12) / 127).double()
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # PyTorch marks its quantised tensor types as deprecated; the ops run
        warnings.simplefilter("ignore")
        qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(qweight, None)
    return Packed(packed, None if bias is None else bias.detach().float().contiguous())


# the guard row's extremes: with 7-bit unsigned activations (0..127) the op then picks the scale 1/63 and the
# zero point 64 exactly, whose grid covers [-64/63, 1]: every row scaled to max |x| = 1 fits
_GUARD_MAX, _GUARD_MIN = 1.0, -64.0 / 63.0


def run(x: Tensor, packed: Packed) -> Tensor:
    """``x @ W.T + b`` with the int8 weight, activations quantised per row; ``x`` fp32, any leading dims."""
    width = x.shape[-1]
    flat = x.reshape(-1, width)
    scale = flat.abs().amax(dim=1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)
    unit = flat.new_empty(flat.shape[0] + 1, width)
    torch.div(flat, scale, out=unit[:-1])
    guard = unit[-1]
    guard.zero_()
    guard[0], guard[1] = _GUARD_MAX, _GUARD_MIN
    out = torch.ops.quantized.linear_dynamic(unit, packed.weight, REDUCE_RANGE)[:-1]
    out = out * scale if packed.bias is None else torch.addcmul(packed.bias, out, scale)
    return out.view(*x.shape[:-1], out.shape[-1])


class Int8Linear(nn.Module):
    """An ``nn.Linear`` with int8 weights (dynamic quantisation); called as a module, so hooks see it."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self._packed = pack(linear.weight, linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        return run(x, self._packed)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


def is_quantized(module: nn.Module) -> bool:
    return _MARK in module.__dict__


def relaid_linear(
    owner: nn.Module, name: str, x: Tensor, make: Callable[[Tensor], Tensor], bias: Optional[Tensor]
) -> Tensor:
    """The int8 GEMM of ``make(owner.weight)`` (packed once, on first use)."""
    cache: Dict[str, Packed] = owner.__dict__[_MARK]
    packed = cache.get(name)
    if packed is None:
        packed = cache[name] = pack(make(owner.weight.detach()), bias)
    return run(x, packed)


def _gemm_conv(module: nn.Module) -> bool:
    """Convs the codec computes as GEMMs (dense, more than one input channel)."""
    if isinstance(module, nn.ConvTranspose1d):
        return module.groups == 1
    return isinstance(module, nn.Conv1d) and module.groups == 1 and module.in_channels > 1


def quantize(model: nn.Module, mode: str = "int8", keep_float: Sequence[str] = ()) -> nn.Module:
    """Quantise ``model`` in place (see the module doc) and return it, in eval mode, without gradients.

    ``keep_float``: names of submodules (``model.named_modules()``) left in fp32, with everything inside them.
    """
    if mode not in MODES:
        raise ValueError(f"unknown quantisation {mode!r}; choose one of {', '.join(MODES)}")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 quantisation runs on CPU; move the model to the CPU first")
    if not torch.backends.quantized.supported_engines or torch.backends.quantized.engine == "none":
        raise RuntimeError("this torch build has no quantised CPU engine (fbgemm / onednn)")
    model.eval().requires_grad_(False)
    skipped = tuple(keep_float)
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            full = f"{parent_name}.{name}" if parent_name else name
            if any(full == skip or full.startswith(skip + ".") for skip in skipped):
                continue
            if type(child) is nn.Linear and child.in_features > 1:  # the guard row needs two columns
                setattr(parent, name, Int8Linear(child))
            elif _gemm_conv(child):
                child.__dict__[_MARK] = {}
    return model
