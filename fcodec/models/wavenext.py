"""WaveNeXt decoder (docs/architecture.md, Pipeline): ConvNeXt backbone and a linear head emitting
``hop_length`` samples per frame, clamped to [-1, 1]. The decoder of the causal FocalCodec checkpoints
(hop 480: 24 kHz output)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from torch import Tensor, nn

from fcodec.models.common import apply_linear
from fcodec.models.convnext import ConvNeXtBackbone

__all__ = ["WaveNeXt"]


class WaveNeXtHead(nn.Module):
    def __init__(self, dim: int, hop_length: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hop_length)

    def forward(self, x: Tensor) -> Tensor:
        y = apply_linear(self.proj, x)
        return y.reshape(y.shape[0], -1).clamp(min=-1.0, max=1.0)


class WaveNeXt(nn.Module):
    """WaveNeXt decoder: features -> waveform through a ConvNeXt backbone and a linear head.

    ``upsample_factor = hop_length`` output samples per frame (480 at 50 Hz: 24 kHz). Defaults are upstream
    v0.0.2's.

    Parameters
    ----------
    input_dim : int, default 1024
        Channels of the input features.
    num_layers : int, default 8
        ConvNeXt blocks.
    dim : int, default 1024
        Backbone width.
    ffn_dim : int, default 2048
        Pointwise feed-forward width of each block.
    kernel_size : int, default 7
        Depthwise conv kernel (frames).
    layerscale_init : float, optional
        Initial block scale; None means ``1 / num_layers``.
    hop_length : int, default 480
        Output samples per input frame.
    causal : bool, default False
        Causal convs (the first call of a stream is zero-padded on the left).
    """

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
        self.backbone = ConvNeXtBackbone(
            input_dim, num_layers, dim, ffn_dim, kernel_size, layerscale_init, causal, pad_mode="zeros"
        )
        self.head = WaveNeXtHead(dim, hop_length)

    def forward(self, x: Tensor, state: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Synthesise waveforms.

        Parameters
        ----------
        x : Tensor, shape (B, T, input_dim), float
            Features.
        state : list of Tensor, optional
            Causal only: the state returned by the previous call of this stream; None starts one.

        Returns
        -------
        sig : Tensor, shape (B, T * hop_length), float
            Samples clamped to [-1, 1].
        state : list
            The new state.
        """
        x, state = self.backbone(x, state)
        return self.head(x), state
