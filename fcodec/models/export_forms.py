"""How the layers are written while ``fcodec.export`` traces the streaming steps into ONNX graphs.

A streaming step has fixed shapes (one 80 ms chunk: 4 frames at 50 Hz, only the number of streams varies), and
for a few frames onnxruntime's convolutions carry a cost per call far above their arithmetic (measured on the
full-size model, Intel Xeon with AVX-512, 2 threads: the depthwise conv of 512 taps over 515 frames takes
1.4 ms as a ``Conv``, 0.64 ms as the matrix product below; a grouped conv of 33 MB of weights 5.5 ms). Inside
``fixed_shape_export()`` the modules therefore export those layers as matrix products of their weights, re-laid
out once (the exporter folds the re-layout into the stored weights), which onnxruntime's int8 quantisation can
then quantise too. The offline graphs, whose length is dynamic, keep the plain convolutions (their re-laid-out
forms here depend on the frame count). Every form computes the same sums as the layer; only the order of the
floating-point additions differs.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "fixed_shape_export",
    "exporting_fixed_shapes",
    "depthwise_conv_matmul",
    "conv_matmul",
    "grouped_conv_matmuls",
    "pointwise_linear",
    "stacked_transposed_conv",
    "MAX_WINDOWS",
]

MAX_WINDOWS = 16  # a conv with more output frames than this stays a Conv (the front end's first layers)

_ACTIVE: Optional[Dict[Tuple[int, str], Tensor]] = None  # the re-laid weights of the graph being exported


@contextlib.contextmanager
def fixed_shape_export(weights: Dict[Tuple[int, str], Tensor]) -> Iterator[None]:
    """The layers in their fixed-shape forms while the block runs (a graph whose every shape but the batch is
    fixed: ``fcodec.export``'s streaming steps). ``weights`` keeps the re-laid-out weights between calls: the
    exporter's eager run computes them, the traced run then finds them and the tracer stores them as constants
    (computed inside the trace they would be recomputed by every call of the graph)."""
    global _ACTIVE
    saved, _ACTIVE = _ACTIVE, weights
    try:
        yield
    finally:
        _ACTIVE = saved


def exporting_fixed_shapes() -> bool:
    """Whether the layers should take their fixed-shape forms now."""
    return _ACTIVE is not None


def _relaid(module: nn.Module, name: str, make: Callable[[], Tensor]) -> Tensor:
    key = (id(module), name)
    if _ACTIVE is None or key not in _ACTIVE:
        with torch.no_grad():
            value = make().detach().clone()
        if _ACTIVE is not None:
            _ACTIVE[key] = value
        return value
    return _ACTIVE[key]


def depthwise_conv_matmul(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """An unpadded depthwise ``conv`` of channels-first ``(B, C, L)`` as one matrix product per channel with a
    banded ``(C, L, T)`` matrix: column t holds the kernel at rows t .. t + k - 1 (T = L - k + 1 outputs, a
    constant of the traced graph). The band is (T - 1) / k larger than the kernel: a few percent for the long
    causal convs, which dominate."""
    channels, _, kernel = conv.weight.shape
    length = int(x.shape[-1])
    out_time = length - kernel + 1
    taps = conv.weight[:, 0]  # (C, k)
    band = _relaid(
        conv, f"band{out_time}", lambda: torch.stack([F.pad(taps, (t, out_time - 1 - t)) for t in range(out_time)], -1)
    )  # (C, L, T)
    y = torch.matmul(x.unsqueeze(2), band).squeeze(2)  # (B, C, 1, L) @ (C, L, T)
    return y if conv.bias is None else y + conv.bias[:, None]


def conv_matmul(x: Tensor, conv: nn.Conv1d, stride: int, left: Optional[Tensor] = None) -> Tensor:
    """A dense unpadded ``conv`` of time-major ``(B, T, C_in)`` (``left`` prepended) as one matrix product over
    the input windows, each window ``kernel`` frames flattened frame-major (the window count is fixed)."""
    out_dim, in_dim, kernel = conv.weight.shape
    x = x if left is None else torch.cat([left.to(x.dtype), x], dim=1)
    out_time = (int(x.shape[1]) - kernel) // stride + 1
    if kernel == stride:
        frames = x[:, : out_time * stride].reshape(x.shape[0], out_time, kernel * in_dim)
    else:
        windows = [
            x[:, t * stride : t * stride + kernel].reshape(x.shape[0], 1, kernel * in_dim) for t in range(out_time)
        ]
        frames = torch.cat(windows, dim=1)
    weight = _relaid(conv, "frame_major", lambda: conv.weight.permute(0, 2, 1).reshape(out_dim, kernel * in_dim))
    return F.linear(frames, weight, conv.bias)


def grouped_conv_matmuls(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """An unpadded grouped ``conv`` of time-major ``(B, T + k - 1, C)`` as one matrix product per group (2-D
    weights, which the int8 quantiser handles), the group outputs concatenated. The windows are cut once for all
    groups and regrouped by one transpose (cut per group, the 4 x 16 small copies cost more than the products)."""
    groups, kernel = conv.groups, conv.kernel_size[0]
    batch, dim = x.shape[0], x.shape[-1]
    width = dim // groups
    out_time = int(x.shape[1]) - kernel + 1
    windows = torch.stack([x[:, t : t + kernel] for t in range(out_time)], dim=1)  # (B, T, k, C)
    frames = windows.view(batch, out_time, kernel, groups, width).permute(3, 0, 1, 2, 4)
    frames = frames.reshape(groups, batch, out_time, kernel * width)  # per group, frame-major (k, c_in)
    weight = conv.weight.view(groups, width, width, kernel)
    outs = []
    for g, rows in enumerate(frames.unbind(0)):
        w = _relaid(conv, f"group{g}", lambda g=g: weight[g].permute(0, 2, 1).reshape(width, kernel * width))
        bias = _relaid(conv, f"group{g}_bias", lambda g=g: conv.bias[g * width : (g + 1) * width])
        outs.append(F.linear(rows, w, bias))
    return torch.cat(outs, dim=-1)


def pointwise_linear(conv: nn.Module, x: Tensor) -> Tensor:
    """A kernel-1 ``Conv1d`` of channels-first ``(B, C_in, T)`` as a linear layer of time-major frames: returns
    time-major ``(B, T, C_out)``."""
    return F.linear(x.transpose(1, 2), _relaid(conv, "pointwise", lambda: conv.weight[..., 0]), conv.bias)


def stacked_transposed_conv(conv: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """A ``ConvTranspose1d`` with kernel = stride = s of time-major ``(B, T, C_in)``: output frame t * s + j is
    ``x_t @ W[:, :, j] + b``, one matrix product with the s taps stacked as output rows -> ``(B, T * s, C_out)``."""
    s, out_dim = conv.stride[0], conv.out_channels
    weight = _relaid(conv, "stacked", lambda: conv.weight.permute(2, 1, 0).reshape(s * out_dim, -1))
    bias = _relaid(conv, "stacked_bias", lambda: conv.bias.repeat(s))
    return F.linear(x, weight, bias).reshape(x.shape[0], -1, out_dim)
