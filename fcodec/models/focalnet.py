"""Focal modulation compressor (``FocalEncoder``) and decompressor (``FocalDecoder``); docs/architecture.md,
Pipeline and Growth.

State-dict names and shapes follow upstream ``focalcodec/focalnet.py`` v0.0.2. In causal mode the block norms
are DynamicTanh, the depthwise context convs are left-padded (replicate on the first call, the saved tail
afterwards), the global context is a long causal depthwise conv, and the decompressor ends with a chunk-wise
feed-forward "refiner".

Streaming state: a list with one entry per layer, each a list of tails (or None where a layer keeps nothing):
for a compressor layer the DownScale tail (``(B, s - 1, C)``) then one tail per focal level (channels-first
``(B, C, kernel - 1)``); for a decompressor layer the focal-level tails. UpScale and the refiner keep nothing.

Over 400 lines by design (one of the project's at most three such model files): it mirrors upstream's
``focalnet.py`` module for module, so its state-dict names can be checked against upstream's side by side, and it
holds one concern, the focal-modulation networks; the shared layers and kernels are in :mod:`fcodec.models.common`.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fcodec.models import int8
from fcodec.models.common import (
    FeedForward,
    apply_linear,
    cached_weight,
    causal_left,
    conv1d_time_major,
    depthwise_conv,
    gelu,
    inference_path,
    pad_channels_first,
    relaid_linear,
)
from fcodec.models.export_forms import exporting_fixed_shapes, pointwise_linear, stacked_transposed_conv

__all__ = ["FocalEncoder", "FocalDecoder", "FocalDownScale", "FocalUpScale"]

LayerState = List[Optional[Tensor]]


class DynamicTanh(nn.Module):
    """``tanh(alpha * x)`` with a single learned scalar (no affine weight/bias)."""

    def __init__(self, dim: int, tanhscale_init: float = 0.5) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.full((1,), float(tanhscale_init)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.alpha * x)


class Snake1d(nn.Module):
    """Snake activation ``x + sin(alpha x)^2 / (alpha + 1e-9)`` with one alpha per channel."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim, 1))

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        alpha = self.alpha.T
        return x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x) ** 2


def _block_norm(dim: int, causal: bool, tanhscale_init: float) -> nn.Module:
    return DynamicTanh(dim, tanhscale_init) if causal else nn.LayerNorm(dim)


class ChunkFeedForward(nn.Module):
    """Feed-forward over flattened chunks of ``chunk_size`` frames, with its own residual ("refiner").

    Chunks are aligned to the start of each call, so streaming calls must bring whole chunks.
    """

    def __init__(self, chunk_size: int, dim: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.chunk_size = chunk_size
        self.dim = dim
        self.in_proj = nn.Linear(chunk_size * dim, ffn_dim)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(ffn_dim, chunk_size * dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, time, dim = x.shape
        width = self.chunk_size * dim
        flat = x.reshape(batch, time * dim)
        # zero-pad the last partial chunk (upstream always adds a further all-zero chunk whose outputs are
        # discarded; leaving it out changes nothing)
        missing = -(time * dim) % width
        chunks = F.pad(flat, (0, missing)).view(batch, -1, width)
        y = apply_linear(self.in_proj, chunks, apply_gelu=True)
        y = self.dropout(y)
        y = self.dropout(apply_linear(self.out_proj, y))
        y = y.reshape(batch, -1)[:, : time * dim]
        return (y + flat).view(batch, time, dim)


class FocalModulation(nn.Module):
    """Focal modulation over time: gated hierarchical depthwise-conv contexts modulate a query projection."""

    def __init__(
        self,
        dim: int,
        focal_window: int,
        focal_level: int,
        focal_factor: int,
        dropout: float,
        use_post_norm: bool,
        tanhscale_init: float,
        normalize_modulator: bool,
        causal: bool,
        window_size: int,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.focal_level = focal_level
        self.normalize_modulator = normalize_modulator
        self.use_post_norm = use_post_norm
        self.causal = causal
        self.in_proj = nn.Linear(dim, 2 * dim + focal_level + 1)  # [query | context | gates]
        kernels = [focal_window + focal_factor * level for level in range(focal_level)]
        if causal:
            kernels.append(window_size)  # long causal conv in place of global average pooling
        self.kernel_sizes = kernels
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(dim, dim, kernel, padding=0 if causal else "same", groups=dim),
                nn.GELU(),
            )
            for kernel in kernels
        )
        self.activation = nn.GELU()
        self.context_proj = nn.Conv1d(dim, dim, kernel_size=1)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.norm = _block_norm(dim, causal, tanhscale_init) if use_post_norm else nn.Identity()

    def forward(self, x: Tensor, tails: Optional[Sequence[Optional[Tensor]]] = None) -> Tuple[Tensor, LayerState]:
        dim = self.dim
        proj = apply_linear(self.in_proj, x)
        query = proj[..., :dim]
        # contexts and gates are channels-first (B, C, T), the layout of the depthwise convs; so are the tails
        ctx = proj[..., dim : 2 * dim].transpose(1, 2)
        gates = proj[..., 2 * dim :].transpose(1, 2)  # (B, L + 1, T)
        new_tails: LayerState = []
        acc: Optional[Tensor] = None
        for level, kernel in enumerate(self.kernel_sizes):
            if self.causal:
                # levels are hierarchical: level l + 1 convolves level l's output; tails are of the padded inputs
                ctx, tail = pad_channels_first(ctx, kernel - 1, None if tails is None else tails[level], "replicate")
                new_tails.append(tail)
            conv = self.layers[level][0]  # depthwise conv (unpadded if causal, "same" otherwise), then GELU
            if self.causal and (inference_path(conv, ctx) or exporting_fixed_shapes()):
                ctx = gelu(depthwise_conv(conv, ctx))
            else:
                ctx = self.layers[level](ctx)
            term = ctx * gates[:, level : level + 1]
            acc = term if acc is None else acc + term
        if not self.causal:
            global_ctx = F.gelu(ctx.mean(dim=-1, keepdim=True))  # (B, C, 1)
            acc = acc + global_ctx * gates[:, self.focal_level :]
        if self.normalize_modulator:
            acc = acc / (self.focal_level + 1)
        if exporting_fixed_shapes():
            modulator = pointwise_linear(self.context_proj, acc)
        elif inference_path(self.context_proj, acc) or int8.is_quantized(self.context_proj):
            # the pointwise conv as a linear layer of the time-major contexts
            modulator = relaid_linear(
                self.context_proj, "pointwise", acc.transpose(1, 2), lambda w: w[..., 0], self.context_proj.bias
            )
        else:
            modulator = self.context_proj(acc).transpose(1, 2)
        y = query * modulator
        if self.use_post_norm:
            y = self.norm(y)
        y = apply_linear(self.out_proj, y)
        return self.dropout(y), new_tails


class FocalBlock(nn.Module):
    """Focal modulation and feed-forward, each with a residual (pre-norm unless ``use_post_norm``)."""

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        focal_window: int,
        focal_level: int,
        focal_factor: int,
        dropout: float,
        use_post_norm: bool,
        use_layerscale: bool,
        layerscale_init: float,
        tanhscale_init: float,
        normalize_modulator: bool,
        causal: bool,
        window_size: int,
    ) -> None:
        super().__init__()
        self.use_post_norm = use_post_norm
        self.use_layerscale = use_layerscale
        self.modulation_norm = _block_norm(dim, causal, tanhscale_init)
        self.modulation = FocalModulation(
            dim,
            focal_window,
            focal_level,
            focal_factor,
            dropout,
            use_post_norm,
            tanhscale_init,
            normalize_modulator,
            causal,
            window_size,
        )
        self.feed_forward_norm = _block_norm(dim, causal, tanhscale_init)
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)
        if use_layerscale:
            self.modulation_gamma = nn.Parameter(torch.full((dim,), float(layerscale_init)))
            self.feed_forward_gamma = nn.Parameter(torch.full((dim,), float(layerscale_init)))

    def forward(self, x: Tensor, tails: Optional[Sequence[Optional[Tensor]]] = None) -> Tuple[Tensor, LayerState]:
        if self.use_post_norm:
            y, tails = self.modulation(x, tails)
            y = self.modulation_norm(y)
        else:
            y, tails = self.modulation(self.modulation_norm(x), tails)
        if self.use_layerscale:
            y = y * self.modulation_gamma
        x = y + x
        if self.use_post_norm:
            y = self.feed_forward_norm(self.feed_forward(x))
        else:
            y = self.feed_forward(self.feed_forward_norm(x))
        if self.use_layerscale:
            y = y * self.feed_forward_gamma
        return y + x, tails


class DownScale(nn.Module):
    """Strided conv (kernel = stride = factor) then Snake. Causal: left replicate pad by factor - 1."""

    def __init__(self, in_dim: int, out_dim: int, factor: int, causal: bool) -> None:
        super().__init__()
        self.factor = factor
        self.causal = causal
        self.downscale = nn.Conv1d(in_dim, out_dim, factor, factor)
        self.activation = Snake1d(out_dim)

    def forward(self, x: Tensor, tail: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
        s = self.factor
        left = None
        if self.causal:
            # pairs (x_{2j-1}, x_{2j}) for s = 2: the last frame of an even-length call waits in the tail
            left, tail = causal_left(x, s - 1, tail, "replicate")
        else:
            extra = (x.shape[1] - s) % s  # right zero padding: ceil(T / 2) outputs for s = 2
            if extra:
                x = F.pad(x, (0, 0, 0, extra))
        # kernel = stride: output frame t is a linear map of the s input frames it covers
        y = conv1d_time_major(x, self.downscale, s, left)
        return self.activation(y), tail


class UpScale(nn.Module):
    """Snake then transposed conv (kernel = stride = factor): each frame becomes ``factor`` frames."""

    def __init__(self, in_dim: int, out_dim: int, factor: int, causal: bool) -> None:
        super().__init__()
        self.factor = factor
        self.causal = causal
        self.activation = Snake1d(in_dim)
        self.upscale = nn.ConvTranspose1d(in_dim, out_dim, factor, factor)

    def forward(self, x: Tensor) -> Tensor:
        s = self.factor
        batch, time, _ = x.shape
        out_dim = self.upscale.out_channels
        y = self.activation(x)
        # no overlap between output groups, so upstream's causal padding has no numeric effect and is skipped
        if exporting_fixed_shapes():
            return stacked_transposed_conv(self.upscale, y)
        if not int8.is_quantized(self.upscale) and not inference_path(self.upscale, y):
            return self.upscale(y.transpose(1, 2)).transpose(1, 2)
        # output frame t*s + j is x_t @ W[:, :, j] + b: one GEMM with the s taps stacked as output rows
        bias = cached_weight(self.upscale, "stacked_bias", self.upscale.bias, lambda b: b.repeat(s))
        out = relaid_linear(
            self.upscale, "stacked", y, lambda w: w.permute(2, 1, 0).reshape(s * out_dim, -1), bias
        )  # weight (s * C_out, C_in)
        return out.reshape(batch, time * s, out_dim)


class FocalDownScale(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, factor: int, **block_kwargs) -> None:
        super().__init__()
        self.downscale = DownScale(in_dim, out_dim, factor, block_kwargs["causal"])
        self.focal_block = FocalBlock(out_dim, 4 * out_dim, **block_kwargs)

    def forward(self, x: Tensor, state: Optional[LayerState] = None) -> Tuple[Tensor, LayerState]:
        x, tail = self.downscale(x, None if state is None else state[0])
        x, tails = self.focal_block(x, None if state is None else state[1:])
        return x, [tail] + tails


class FocalUpScale(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, factor: int, **block_kwargs) -> None:
        super().__init__()
        self.focal_block = FocalBlock(in_dim, 4 * in_dim, **block_kwargs)  # runs at the lower rate
        self.upscale = UpScale(in_dim, out_dim, factor, block_kwargs["causal"])

    def forward(self, x: Tensor, state: Optional[LayerState] = None) -> Tuple[Tensor, LayerState]:
        x, tails = self.focal_block(x, state)
        return self.upscale(x), tails


def _block_kwargs(
    focal_window,
    focal_level,
    focal_factor,
    dropout,
    use_post_norm,
    use_layerscale,
    layerscale_init,
    tanhscale_init,
    normalize_modulator,
    causal,
    window_size,
) -> dict:
    return dict(
        focal_window=focal_window,
        focal_level=focal_level,
        focal_factor=focal_factor,
        dropout=dropout,
        use_post_norm=use_post_norm,
        use_layerscale=use_layerscale,
        layerscale_init=layerscale_init,
        tanhscale_init=tanhscale_init,
        normalize_modulator=normalize_modulator,
        causal=causal,
        window_size=window_size,
    )


class FocalEncoder(nn.Module):
    """Compressor: ``FocalDownScale`` layers, dropout, ``out_proj`` to the latent dimension.

    Layer i is ``FocalDownScale(c_{i-1}, hidden_dims[i], downscale_factors[i])`` (a strided conv with Snake, then
    a focal block at the lower rate), with ``c_{-1} = input_dim``. Defaults are upstream v0.0.2's.

    Parameters
    ----------
    input_dim : int, default 1024
        Channels of the input features (the encoder ``dim``).
    output_dim : int, default 12
        Latent dimension; must equal log2(codebook_size) of the quantizer.
    hidden_dims : sequence of int, default (1024, 1024, 1024)
        Width of each layer.
    downscale_factors : sequence of int, default (1, 1, 1)
        Time downsampling of each layer (same length as ``hidden_dims``); their product divides the 50 Hz
        feature rate (e.g. ``[2, 1, 1]`` -> 25 Hz tokens).
    focal_window : int, default 14
        Kernel of the first focal level's depthwise conv (frames).
    focal_level : int, default 2
        Number of hierarchical focal levels; level l has kernel ``focal_window + focal_factor * l``.
    focal_factor : int, default 4
        Kernel growth per focal level.
    dropout : float, default 0.0
        Dropout probability (0.0 in all published configs).
    use_post_norm : bool, default False
        Post-norm blocks (norm after modulation / feed-forward) instead of pre-norm; also normalises the
        modulation output.
    use_layerscale : bool, default False
        Learned per-channel residual scales (``*_gamma`` parameters).
    layerscale_init : float, default 1e-4
        Initial value of the layer scales.
    tanhscale_init : float, default 0.5
        Initial ``alpha`` of the DynamicTanh norms (causal mode).
    normalize_modulator : bool, default False
        Divide the summed gated contexts by ``focal_level + 1``.
    causal : bool, default False
        Causal, streamable layers: DynamicTanh norms, left-padded convs and a long causal depthwise conv (kernel
        ``window_size``) for the global context instead of the mean over time.
    window_size : int, default 512
        Kernel (frames) of the causal global-context conv; unused when not causal.

    Raises
    ------
    ValueError
        ``hidden_dims`` and ``downscale_factors`` differ in length.
    """

    def __init__(
        self,
        input_dim: int = 1024,
        output_dim: int = 12,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        downscale_factors: Sequence[int] = (1, 1, 1),
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        use_layerscale: bool = False,
        layerscale_init: float = 1e-4,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = False,
        window_size: int = 512,
    ) -> None:
        super().__init__()
        if len(hidden_dims) != len(downscale_factors):
            # upstream zips the two lists; a silent truncation would hide a config error
            raise ValueError(
                f"hidden_dims {list(hidden_dims)} and downscale_factors {list(downscale_factors)} "
                "must have the same length"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.hidden_dims = tuple(hidden_dims)
        self.downscale_factors = tuple(downscale_factors)
        self.causal = causal
        self.downsample_factor = math.prod(downscale_factors)
        self.chunk_size = self.downsample_factor
        kwargs = _block_kwargs(
            focal_window,
            focal_level,
            focal_factor,
            dropout,
            use_post_norm,
            use_layerscale,
            layerscale_init,
            tanhscale_init,
            normalize_modulator,
            causal,
            window_size,
        )
        self.layers = nn.ModuleList()
        in_dim = input_dim
        for hidden_dim, factor in zip(hidden_dims, downscale_factors):
            self.layers.append(FocalDownScale(in_dim, hidden_dim, factor, **kwargs))
            in_dim = hidden_dim
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(in_dim, output_dim)

    def num_frames(self, num_frames: Tensor) -> Tensor:
        """Output frames for inputs of ``num_frames`` frames (int64 tensor), per item."""
        frames = num_frames.long()
        for s in self.downscale_factors:
            if self.causal:
                frames = torch.div(frames + s - 1, s, rounding_mode="floor")
            else:
                frames = torch.div(frames + torch.remainder(frames - s, s) - s, s, rounding_mode="floor") + 1
        return frames

    def forward(self, x: Tensor, state: Optional[Sequence[LayerState]] = None) -> Tuple[Tensor, List[LayerState]]:
        """Compress features to (un-normalised) latents.

        Parameters
        ----------
        x : Tensor, shape (B, T, input_dim), float
            Encoder features.
        state : list, optional
            Per-layer state returned by the previous call of this stream; None or empty starts a new stream.

        Returns
        -------
        lats : Tensor, shape (B, T', output_dim), float
            T' = ``num_frames(T)`` (``ceil(T / s)`` per layer of factor s).
        state : list
            The new per-layer state (see the module docstring).
        """
        state = state or None
        new_state = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, None if state is None else state[i])
            new_state.append(layer_state)
        x = self.dropout(x)
        return apply_linear(self.out_proj, x), new_state


class FocalDecoder(nn.Module):
    """Decompressor: ``in_proj``, dropout, ``FocalUpScale`` layers, then (causal) the chunk refiner.

    With ``d = hidden_dims + [output_dim]``, layer i is ``FocalUpScale(d[i], d[i + 1], upscale_factors[i])`` (a
    focal block at the lower rate, then Snake and a transposed conv). Defaults are upstream v0.0.2's.

    Parameters
    ----------
    input_dim : int, default 12
        Code dimension, log2(codebook_size).
    output_dim : int, default 1024
        Channels of the output features (the decoder ``input_dim``).
    hidden_dims : sequence of int, default (1024, 1024, 1024)
        Width of each layer's focal block.
    upscale_factors : sequence of int, default (1, 1, 1)
        Time upsampling of each layer (same length as ``hidden_dims``); the reverse of the compressor's
        ``downscale_factors`` in all published configs.
    focal_window : int, default 14
        Kernel of the first focal level's depthwise conv (frames).
    focal_level : int, default 2
        Number of hierarchical focal levels; level l has kernel ``focal_window + focal_factor * l``.
    focal_factor : int, default 4
        Kernel growth per focal level.
    dropout : float, default 0.0
        Dropout probability (0.0 in all published configs).
    use_post_norm : bool, default False
        Post-norm blocks (norm after modulation / feed-forward) instead of pre-norm; also normalises the
        modulation output.
    use_layerscale : bool, default False
        Learned per-channel residual scales (``*_gamma`` parameters).
    layerscale_init : float, default 1e-4
        Initial value of the layer scales.
    tanhscale_init : float, default 0.5
        Initial ``alpha`` of the DynamicTanh norms (causal mode).
    normalize_modulator : bool, default False
        Divide the summed gated contexts by ``focal_level + 1``.
    causal : bool, default False
        Causal, streamable layers: DynamicTanh norms, left-padded convs and a long causal depthwise conv (kernel
        ``window_size``) for the global context instead of the mean over time.
    window_size : int, default 512
        Kernel (frames) of the causal global-context conv of every layer but the last.
    last_window_size : int, default 512
        The same for the last layer.
    lookahead_size : int, default 3
        Causal only: a refiner (feed-forward over chunks of ``1 + lookahead_size`` frames) follows the layers
        when > 0; streamed codes must come in whole chunks.

    Raises
    ------
    ValueError
        ``hidden_dims`` and ``upscale_factors`` differ in length.
    """

    def __init__(
        self,
        input_dim: int = 12,
        output_dim: int = 1024,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        upscale_factors: Sequence[int] = (1, 1, 1),
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        use_layerscale: bool = False,
        layerscale_init: float = 1e-4,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = False,
        window_size: int = 512,
        last_window_size: int = 512,
        lookahead_size: int = 3,
    ) -> None:
        super().__init__()
        if len(hidden_dims) != len(upscale_factors):
            raise ValueError(
                f"hidden_dims {list(hidden_dims)} and upscale_factors {list(upscale_factors)} must have the same length"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.hidden_dims = tuple(hidden_dims)
        self.upscale_factors = tuple(upscale_factors)
        self.causal = causal
        self.lookahead_size = lookahead_size
        self.upsample_factor = math.prod(upscale_factors)
        self.chunk_size = 1 + lookahead_size
        widths = list(hidden_dims) + [output_dim]  # layer i maps widths[i] -> widths[i + 1]
        self.in_proj = nn.Linear(input_dim, widths[0])
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList()
        num_layers = len(upscale_factors)
        for i, factor in enumerate(upscale_factors):
            window = window_size if i < num_layers - 1 else last_window_size
            kwargs = _block_kwargs(
                focal_window,
                focal_level,
                focal_factor,
                dropout,
                use_post_norm,
                use_layerscale,
                layerscale_init,
                tanhscale_init,
                normalize_modulator,
                causal,
                window,
            )
            self.layers.append(FocalUpScale(widths[i], widths[i + 1], factor, **kwargs))
        if causal and lookahead_size > 0:
            chunk = 1 + lookahead_size
            self.refiner = ChunkFeedForward(chunk, output_dim, chunk * output_dim, dropout)
        else:
            self.refiner = None

    def forward(
        self, x: Tensor, state: Optional[Sequence[LayerState]] = None, valid_frames: Optional[Tensor] = None
    ) -> Tuple[Tensor, List[LayerState]]:
        """Decompress codes to decoder-input features.

        Parameters
        ----------
        x : Tensor, shape (B, L, input_dim), float
            Codes (or latents).
        state : list, optional
            Per-layer state returned by the previous call of this stream; None or empty starts a new stream.
        valid_frames : Tensor, shape (B,), int64, optional
            Output frames of each item that are real; the refiner sees zeros after them, as it pads a shorter
            call (a stream's final partial chunk in a batch of whole ones, ``fcodec.infer.multistream``).

        Returns
        -------
        qfeats : Tensor, shape (B, L * prod(upscale_factors), output_dim), float
            Features for the decoder.
        state : list
            The new per-layer state.
        """
        state = state or None
        x = self.dropout(apply_linear(self.in_proj, x))
        new_state = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, None if state is None else state[i])
            new_state.append(layer_state)
        if self.refiner is not None:
            if valid_frames is not None:
                real = torch.arange(x.shape[1], device=x.device)[None, :] < valid_frames[:, None]
                x = torch.where(real[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            x = self.refiner(x)
        return x, new_state
