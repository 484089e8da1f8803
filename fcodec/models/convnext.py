"""ConvNeXt backbone shared by the WaveNeXt and Vocos decoders (docs/architecture.md, Pipeline).

The two decoders differ only in how a causal backbone pads on the first call of a stream: WaveNeXt with zeros,
Vocos by repeating the first frame. Streaming state: one tail of ``kernel_size - 1`` frames for the embedding
conv and one per ConvNeXt block.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import int8
from fcodec.models.common import (
    apply_linear,
    causal_left,
    conv1d_time_major,
    depthwise_conv,
    inference_path,
    pad_time,
)

__all__ = ["ConvNeXtBackbone", "ConvNeXtBlock"]


def _same_padding(x: Tensor, kernel_size: int) -> Tensor:
    """PyTorch ``padding="same"`` on a time-major tensor: (k-1)//2 zeros left, the rest right."""
    left = (kernel_size - 1) // 2
    return F.pad(x, (0, 0, left, kernel_size - 1 - left))


class ConvNeXtBlock(nn.Module):
    """``x + gamma * pwconv2(GELU(pwconv1(LN(dwconv(x)))))``."""

    def __init__(
        self, dim: int, ffn_dim: int, kernel_size: int, layerscale_init: float, causal: bool, pad_mode: str
    ) -> None:
        super().__init__()
        self.dim = dim
        self.kernel_size = kernel_size
        self.causal = causal
        self.pad_mode = pad_mode
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=0 if causal else "same", groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, ffn_dim)
        self.activation = nn.GELU()
        self.pwconv2 = nn.Linear(ffn_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layerscale_init)))

    def forward(self, x: Tensor, tail: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
        padded = x
        if self.causal:  # the conv is unpadded; otherwise it pads "same" itself
            padded, tail = pad_time(x, self.kernel_size - 1, tail, self.pad_mode)
        y = (
            depthwise_conv(self.dwconv, padded.transpose(1, 2)) if self.causal else self.dwconv(padded.transpose(1, 2))
        ).transpose(1, 2)
        y = self.norm(y)
        y = apply_linear(self.pwconv1, y, apply_gelu=True)
        y = apply_linear(self.pwconv2, y)
        return x + self.gamma * y, tail


class ConvNeXtBackbone(nn.Module):
    """Embedding conv, LayerNorm, ConvNeXt blocks, LayerNorm (all LayerNorms with eps 1e-6)."""

    def __init__(
        self,
        input_dim: int,
        num_layers: int,
        dim: int,
        ffn_dim: int,
        kernel_size: int,
        layerscale_init: Optional[float],
        causal: bool,
        pad_mode: str,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.causal = causal
        self.pad_mode = pad_mode
        layerscale = 1 / num_layers if layerscale_init is None else layerscale_init
        self.embedding = nn.Conv1d(input_dim, dim, kernel_size, padding=0 if causal else "same")
        self.input_norm = nn.LayerNorm(dim, eps=1e-6)
        self.layers = nn.ModuleList(
            ConvNeXtBlock(dim, ffn_dim, kernel_size, layerscale, causal, pad_mode) for _ in range(num_layers)
        )
        self.output_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor, state: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, List[Optional[Tensor]]]:
        state = state or None
        left = None
        tail = None
        if self.causal:
            left, tail = causal_left(x, self.kernel_size - 1, None if state is None else state[0], self.pad_mode)
            x = conv1d_time_major(x, self.embedding, 1, left)
        elif inference_path(self.embedding, x) or int8.is_quantized(self.embedding):
            x = conv1d_time_major(_same_padding(x, self.kernel_size), self.embedding, 1)
        else:  # the module pads "same" itself
            x = self.embedding(x.transpose(1, 2)).transpose(1, 2)
        x = self.input_norm(x)
        new_state = [tail]
        for i, layer in enumerate(self.layers):
            x, tail = layer(x, None if state is None else state[i + 1])
            new_state.append(tail)
        return self.output_norm(x), new_state
