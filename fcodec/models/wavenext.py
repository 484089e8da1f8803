"""WaveNeXt decoder (docs/architecture.md, Pipeline): ConvNeXt backbone and a linear head emitting
``hop_length`` samples per frame, clamped to [-1, 1]. The decoder of the causal FocalCodec checkpoints
(hop 480: 24 kHz output)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from torch import Tensor, nn

from fcodec.models.common import linear
from fcodec.models.convnext import ConvNeXtBackbone

__all__ = ["WaveNeXt"]


class WaveNeXtHead(nn.Module):
    def __init__(self, dim: int, hop_length: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hop_length)

    def forward(self, x: Tensor) -> Tensor:
        y = linear(x, self.proj.weight, self.proj.bias)
        return y.reshape(y.shape[0], -1).clamp(min=-1.0, max=1.0)


class WaveNeXt(nn.Module):
    def __init__(
        self,
        input_dim: int = 1024,
        num_layers: int = 8,
        dim: int = 1024,
        ffn_dim: int = 2048,
        kernel_size: int = 7,
        layerscale_init: Optional[float] = None,
        hop_length: int = 480,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.hop_length = hop_length
        self.causal = causal
        self.upsample_factor = hop_length
        self.chunk_size = 1
        # a causal WaveNeXt pads the first call with zeros
        self.backbone = ConvNeXtBackbone(input_dim, num_layers, dim, ffn_dim, kernel_size, layerscale_init, causal,
                                         pad_mode="zeros")
        self.head = WaveNeXtHead(dim, hop_length)

    def forward(self, x: Tensor, state: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, List[Optional[Tensor]]]:
        x, state = self.backbone(x, state)
        return self.head(x), state
